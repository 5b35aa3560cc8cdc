"""Texts more than one journey shows."""

from handlers.conversation import Context
from services.contacts import emergency_contacts as contacts_for


def emergency_contacts(ctx: Context) -> str:
    """The emergency contacts for the person's country when it is known (from their
    registration or a help request), else the general list. Every number is in
    services/contacts.py with its source."""
    return contacts_for(ctx.translator, ctx.person.country, ctx.settings.consulates)


def coming_soon(ctx: Context) -> str:
    return ctx._("This section is not ready yet: we are building it. Please look again soon.")
