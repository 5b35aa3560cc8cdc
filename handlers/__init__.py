"""The journeys, channel-free. `all_journeys` is the one place they are collected."""

from handlers import language, menu, onboarding, settings
from handlers.conversation import Journey


def all_journeys() -> dict[str, Journey]:
    journeys = (onboarding.journey, menu.journey, language.journey, settings.journey)
    return {journey.name: journey for journey in journeys}
