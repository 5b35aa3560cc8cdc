"""Questions several journeys ask the same way: which country, and where the person is now
(for their local time)."""

from dataclasses import dataclass

from handlers.conversation import Answer, Context, Question, Repeat
from handlers.incoming import Kind
from services import checkins, reminders
from services.countries import HOME_WORDS, PRIORITY, country_name, search_countries
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
        """The chosen country's code, or a Repeat saying what to do (a photo is no name
        that could not be found)."""
        if answer.choice and answer.choice.startswith(COUNTRY_PREFIX):
            ctx.answers.pop(self._candidates_key, None)
            return answer.choice.removeprefix(COUNTRY_PREFIX)
        if answer.kind is not Kind.TEXT:
            return Repeat(ctx._("Please send your answer as a text message."))
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


AT_HOME_SAID = "at_home"  # in the journey's answers: the person said they are in Uzbekistan


@dataclass(frozen=True)
class LocalTimeCountry:
    """«In which country are you now?», asked before something is timed in the person's local
    time (a reminder, the digest, a check-in) while nothing has told their country (a
    registration or a help request sets it). A country, chosen or typed, becomes theirs, and
    their planned check-in follows it; «I am in Uzbekistan» keeps Tashkent's time and is
    remembered in the journey's answers, so that it is not asked again.

    `at_home` is the id of the choice «I am in Uzbekistan»."""

    at_home: str
    picker: CountryPicker = CountryPicker("country")

    def unknown(self, ctx: Context) -> bool:
        return ctx.person.country is None and not ctx.answers.get(AT_HOME_SAID)

    def question(self, ctx: Context, why: str, back: Choice) -> Question:
        """The question, `why` it is asked (in the person's language) under it."""
        text = "\n".join((ctx._("In which country are you now?"), why, self.picker.hint(ctx)))
        return Question(
            text,
            (
                *self.picker.choices(ctx),
                ctx.choice(self.at_home, "I am in Uzbekistan", *HOME_WORDS),
                back,
            ),
        )

    async def read(self, ctx: Context, answer: Answer) -> Repeat | None:
        """None once the person's local time is known, else a Repeat saying what to do."""
        if answer.choice == self.at_home:
            ctx.answers[AT_HOME_SAID] = True
            return None
        country = self.picker.read(ctx, answer)
        if isinstance(country, Repeat):
            return country
        moved_from = ctx.person.country
        reminders.set_country(ctx.person, country)
        await checkins.follow_move(ctx.session, ctx.person, moved_from)
        return None
