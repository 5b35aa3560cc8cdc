"""The journeys, channel-free. `all_journeys` is the one place they are collected."""

from handlers import (
    appeals,
    cancel,
    checkin,
    family,
    guidance,
    help,
    language,
    linking,
    menu,
    my_data,
    number_check,
    onboarding,
    registration,
    reminders,
    settings,
    survey,
)
from handlers.conversation import Journey


def all_journeys() -> dict[str, Journey]:
    journeys = (
        onboarding.journey,
        menu.journey,
        language.journey,
        settings.journey,
        my_data.journey,
        registration.journey,
        appeals.journey,
        help.journey,
        guidance.journey,
        linking.journey,
        checkin.journey,
        family.journey,
        reminders.journey,
        survey.journey,
        number_check.journey,
        cancel.journey,
    )
    return {journey.name: journey for journey in journeys}
