"""Questions several journeys ask the same way: which country."""

from dataclasses import dataclass

from handlers.conversation import Answer, Context, Repeat
from services.countries import PRIORITY, country_name, search_countries
from services.messages import Choice
from services.text import match_key

COUNTRY_PREFIX = "country:"


@dataclass(frozen=True)
class CountryPicker:
    """Offers the labour-migration destinations as buttons and finds any other country by
    the name typed, in any language or script. When a name fits several countries, those
    are offered next time the question is asked.

    `key` names the answer in the journey's answers (the candidates live beside it)."""

    key: str

    @property
    def _candidates_key(self) -> str:
        return f"{self.key}:candidates"

    def choices(self, ctx: Context) -> tuple[Choice, ...]:
        codes = ctx.answers.get(self._candidates_key) or PRIORITY
        return tuple(self._choice(ctx, code) for code in codes)

    def _choice(self, ctx: Context, code: str) -> Choice:
        keys = {match_key(country_name(code, locale)) for locale in ctx.catalogs.locales}
        return Choice(
            f"{COUNTRY_PREFIX}{code}", country_name(code, ctx.locale), tuple(sorted(keys))
        )

    def hint(self, ctx: Context) -> str:
        return ctx._("If your country is not in the list, type its name.")

    def read(self, ctx: Context, answer: Answer) -> str | Repeat:
        """The chosen country's code, or a Repeat saying what to do."""
        if answer.choice and answer.choice.startswith(COUNTRY_PREFIX):
            ctx.answers.pop(self._candidates_key, None)
            return answer.choice.removeprefix(COUNTRY_PREFIX)
        found = search_countries(answer.text) if answer.text else []
        if len(found) == 1:
            ctx.answers.pop(self._candidates_key, None)
            return found[0]
        if found:
            ctx.answers[self._candidates_key] = found
            return Repeat(ctx._("Several countries match. Please choose one."))
        ctx.answers.pop(self._candidates_key, None)
        return Repeat(
            ctx._(
                "I could not find that country. Please type its name again, for example «Turkiya»."
            )
        )
