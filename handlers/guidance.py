"""Guidance: articles on working and living abroad, by country and topic, or by search.

Reading needs no personal data, so the journey is open before consent and after a refusal.
Country → topic → article, page by page; a word typed at any question of this journey is a
search (in any language or script). A country's whole name typed at the country or topic
question opens that country; the beginning of a name ("Belgi…", "Sud…") is more often a word
to search for ("belgi", "sud"), so countries it may name are offered only when the search
finds nothing. The library is loaded and checked at start-up (bot/app.py) and cached:
`guidance.library()`.
"""

from collections.abc import Callable, Iterable

from handlers.conversation import (
    BACK,
    MENU,
    Answer,
    Context,
    Go,
    GoBack,
    Journey,
    Outcome,
    Question,
    Repeat,
)
from services import guidance
from services.countries import countries_named, country_name, search_countries
from services.guidance import ALL, Article
from services.i18n import N_
from services.messages import Choice
from services.text import match_key, parse_number, search_key, word_key

journey = Journey("guidance", first_step="country", needs_consent=False)

COUNTRY_PREFIX, ARTICLE_PREFIX = "country:", "article:"
SEARCH, NEXT, PREVIOUS, TOPICS = "search", "next", "previous", "topics"
QUERY_LIMIT = 80  # characters: a search is a word or three
RESULTS_LIMIT = 8
COUNTRIES_LIMIT = 6  # countries offered for a word that found no article
# A word that found no article offers the countries whose names begin with it (or contain
# it) from this many letters: "sud" is a court more often than the start of "Sudan".
COUNTRY_PART_MIN = 4

TOPIC_LABELS = {
    "legal_work": N_("Working legally"),
    "documents": N_("Documents"),
    "passport_wages": N_("Passport taken or wages unpaid"),
    "trafficking": N_("Human trafficking: warning signs"),
    "emergency": N_("Emergency contacts"),
    "adapting": N_("Life abroad"),
    "families": N_("Families and children"),
}
# Typed words that turn the page, besides the buttons' labels in every locale.
_NEXT_WORDS = ("next", "keyingi", "davomi", "davom", "далее", "дальше", "ещё", "еще")
_PREVIOUS_WORDS = ("previous", "oldingi", "avvalgi", "предыдущая")


# -- what the steps share ------------------------------------------------------------------------


def _country_label(ctx: Context, country: str) -> str:
    return ctx._("All countries") if country == ALL else country_name(country, ctx.locale)


def _article_choice(ctx: Context, article: Article, label: str | None = None) -> Choice:
    """An article's button: its topic's label (a catalog message) or its title."""
    if label is not None:
        return ctx.choice(f"{ARTICLE_PREFIX}{article.id}", label)
    library = guidance.library()
    titles = (library.article(locale, article.id) for locale in library.locales)
    keys = {match_key(title.title) for title in titles if title is not None}
    return Choice(f"{ARTICLE_PREFIX}{article.id}", article.title, tuple(sorted(keys)))


def _countries_like(text: str) -> list[str]:
    """The countries a word that found no article may name: a whole name, else the names it
    begins or is part of (from COUNTRY_PART_MIN letters)."""
    if named := countries_named(text):
        return named[:COUNTRIES_LIMIT]
    if len(search_key(text)) < COUNTRY_PART_MIN:
        return []
    return search_countries(text, COUNTRIES_LIMIT)


def _country_choices(ctx: Context, codes: Iterable[str]) -> tuple[Choice, ...]:
    """Countries' buttons: each picked by its name in any locale too."""
    return tuple(
        Choice(
            f"{COUNTRY_PREFIX}{code}",
            country_name(code, ctx.locale),
            tuple(sorted({word_key(country_name(code, loc)) for loc in ctx.catalogs.locales})),
        )
        for code in codes
    )


def _open_country(ctx: Context, code: str) -> Outcome:
    if code != ALL and code not in guidance.library().countries():
        ctx.say(
            ctx._(
                "There are no separate articles for {country} yet. "
                "Here is what applies in every country."
            ).format(country=country_name(code, ctx.locale))
        )
        code = ALL
    ctx.answers["country"] = code
    if ctx.state.step == "topic":
        return Repeat()
    if ctx.state.step == "countries":  # the offer is passed by: "back" leads before it
        if ctx.state.history and tuple(ctx.state.history[-1]) == (journey.name, "topic"):
            return GoBack()  # the topic list it was offered from, now of this country
        return Go(journey.name, "topic", remember=False)
    return Go(journey.name, "topic")


def _open_article(ctx: Context, article_id: str) -> Outcome:
    # "Back" skips the step left when it is an article (a search typed while reading: the
    # step would show the new one) or the countries offered for a word that found nothing.
    passing = ctx.state.step in ("article", "countries")
    ctx.answers["article"] = article_id
    ctx.answers["page"] = 0
    return Go(journey.name, "article", remember=not passing)


def _search(ctx: Context, text: str, *, countries: bool = False) -> Outcome:
    """The articles found for what was typed; with `countries`, when none is found, the
    countries it may name are offered."""
    if len(text) > QUERY_LIMIT:
        return Repeat(ctx._("That is too long for a search. Please send one to three words."))
    if not match_key(text):
        return Repeat(ctx._("Please type a word to search for, for example «patent»."))
    found = guidance.library().search(ctx.locale, text, RESULTS_LIMIT)
    if not found:
        if countries and (codes := _countries_like(text)):
            ctx.answers["query"] = text
            ctx.answers["countries"] = codes
            if ctx.state.step == "countries":
                return Repeat()
            return Go(journey.name, "countries")
        return Repeat(
            ctx._("Nothing found. Please try another word, for example «patent» or «pasport».")
        )
    if len(found) == 1:
        return _open_article(ctx, found[0].id)
    ctx.answers["query"] = text
    ctx.answers["results"] = [article.id for article in found]
    if ctx.state.step == "results":
        return Repeat()
    return Go(journey.name, "results", remember=ctx.state.step != "countries")


def _typed(ctx: Context, answer: Answer, *, countries: bool = True) -> Outcome:
    """Words typed where no choice fits: a country's whole name opens it, anything else is
    searched for (and, with `countries`, may offer countries when no article is found)."""
    text = answer.text
    if not text or parse_number(text) is not None:
        return ctx.not_understood()
    if countries and len(text) <= QUERY_LIMIT:
        named = countries_named(text)
        if len(named) == 1:
            return _open_country(ctx, named[0])
    return _search(ctx, text, countries=countries)


def _chosen(answer: Answer, prefix: str) -> str | None:
    if answer.choice and answer.choice.startswith(prefix):
        return answer.choice.removeprefix(prefix)
    return None


# -- country ---------------------------------------------------------------------------------


@journey.asks("country")
async def ask_country(ctx: Context) -> Question:
    countries = _country_choices(ctx, guidance.library().countries())
    return Question(
        ctx._(
            "Information and advice. Choose a country, or type a word to search for, "
            "for example «patent»."
        ),
        (
            *countries,
            ctx.choice(f"{COUNTRY_PREFIX}{ALL}", "All countries"),
            ctx.choice(SEARCH, "Search"),
            ctx.choice(MENU, "Main menu"),
        ),
    )


@journey.answers("country")
async def answer_country(ctx: Context, answer: Answer) -> Outcome:
    if (code := _chosen(answer, COUNTRY_PREFIX)) is not None:
        return _open_country(ctx, code)
    if answer.choice == SEARCH:
        return Go(journey.name, "search")
    return _typed(ctx, answer)


# -- countries a word may name, when it found no article ------------------------------------


@journey.asks("countries")
async def ask_countries(ctx: Context) -> Question:
    return Question(
        ctx._("Nothing found for «{query}». If you meant a country, please choose it:").format(
            query=ctx.answers.get("query")
        ),
        (
            *_country_choices(ctx, ctx.answers.get("countries") or ()),
            ctx.choice(SEARCH, "Search"),
            ctx.choice(BACK, "Back"),
            ctx.choice(MENU, "Main menu"),
        ),
    )


@journey.answers("countries")
async def answer_countries(ctx: Context, answer: Answer) -> Outcome:
    if (code := _chosen(answer, COUNTRY_PREFIX)) is not None:
        return _open_country(ctx, code)
    if answer.choice == SEARCH:
        return Go(journey.name, "search", remember=False)
    return _typed(ctx, answer)


# -- topic -----------------------------------------------------------------------------------


@journey.asks("topic")
async def ask_topic(ctx: Context) -> Question:
    country = ctx.answers.get("country") or ALL
    articles = guidance.library().for_country(ctx.locale, country)
    return Question(
        ctx._("{country}. Choose a topic.").format(country=_country_label(ctx, country)),
        (
            *(_article_choice(ctx, article, TOPIC_LABELS[article.topic]) for article in articles),
            ctx.choice(SEARCH, "Search"),
            ctx.choice(BACK, "Back"),
            ctx.choice(MENU, "Main menu"),
        ),
    )


@journey.answers("topic")
async def answer_topic(ctx: Context, answer: Answer) -> Outcome:
    if (article_id := _chosen(answer, ARTICLE_PREFIX)) is not None:
        return _open_article(ctx, article_id)
    if answer.choice == SEARCH:
        return Go(journey.name, "search")
    return _typed(ctx, answer)


# -- article ---------------------------------------------------------------------------------


def render_page(gettext: Callable[[str], str], article: Article, page: int) -> str:
    """One page as sent: the title (with "2/3" when there are several pages), the text and,
    on the last page, the sources and the date the facts were checked."""
    pages = article.pages
    title = article.title if len(pages) == 1 else f"{article.title} ({page + 1}/{len(pages)})"
    parts = [title, pages[page]]
    if page == len(pages) - 1:
        sources = gettext("Sources: {sources}").format(sources=", ".join(article.sources))
        checked = gettext("Checked on {date}.").format(
            date=article.reviewed_on.strftime("%d.%m.%Y")
        )
        parts.append(f"{sources}\n{checked}")
    return "\n\n".join(parts)


def _current_article(ctx: Context) -> Article | None:
    return guidance.library().article(ctx.locale, str(ctx.answers.get("article", "")))


@journey.asks("article")
async def ask_article(ctx: Context) -> Question:
    article = _current_article(ctx)
    back_to_topics = ctx.choice(TOPICS, "Back to topics")
    if article is None:  # gone since the last deployment
        return Question(
            ctx._("This article is no longer available. Please choose again."),
            (back_to_topics, ctx.choice(MENU, "Main menu")),
        )
    last = len(article.pages) - 1
    page = min(max(int(ctx.answers.get("page") or 0), 0), last)
    ctx.answers["page"] = page
    choices = []
    if page < last:
        choices.append(ctx.choice(NEXT, "Next page", *_NEXT_WORDS))
    if page > 0:
        choices.append(ctx.choice(PREVIOUS, "Previous page", *_PREVIOUS_WORDS))
    if page == last and (general := guidance.library().for_all_countries(ctx.locale, article)):
        # A country's article replaces the one for all countries in its list: what holds
        # everywhere (a lost passport goes to the consulate) is one tap away.
        label = ctx._("For all countries: {title}").format(title=general.title)
        choices.append(Choice(f"{ARTICLE_PREFIX}{general.id}", label, (match_key(label),)))
    choices += [back_to_topics, ctx.choice(MENU, "Main menu")]
    return Question(render_page(ctx._, article, page), tuple(choices))


@journey.answers("article")
async def answer_article(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice in (NEXT, PREVIOUS):
        ctx.answers["page"] = int(ctx.answers.get("page") or 0) + (
            1 if answer.choice == NEXT else -1
        )
        return Repeat()  # the page is clamped when it is shown
    if answer.choice == TOPICS:
        return _back_to_topics(ctx)
    if (article_id := _chosen(answer, ARTICLE_PREFIX)) is not None:
        return _open_article(ctx, article_id)
    return _typed(ctx, answer, countries=False)


def _back_to_topics(ctx: Context) -> Outcome:
    if ctx.state.history and tuple(ctx.state.history[-1]) == (journey.name, "topic"):
        return GoBack()  # the list the article was opened from
    article = _current_article(ctx)
    if article is not None and article.country != ALL:
        ctx.answers["country"] = article.country
    ctx.answers.setdefault("country", ALL)
    return Go(journey.name, "topic", remember=False)


# -- search ----------------------------------------------------------------------------------


@journey.asks("search")
async def ask_search(ctx: Context) -> Question:
    return Question(
        ctx._(
            "Type a word or two to search for, for example «patent», «pasport» or «odam savdosi»."
        ),
        (ctx.choice(BACK, "Back"), ctx.choice(MENU, "Main menu")),
    )


@journey.answers("search")
async def answer_search(ctx: Context, answer: Answer) -> Outcome:
    if not answer.text or parse_number(answer.text) is not None:
        return Repeat(ctx._("Please type a word to search for, for example «patent»."))
    return _search(ctx, answer.text)


@journey.asks("results")
async def ask_results(ctx: Context) -> Question:
    library = guidance.library()
    found = [library.article(ctx.locale, i) for i in ctx.answers.get("results") or ()]
    articles = [article for article in found if article is not None]
    if not articles:
        return await ask_search(ctx)
    return Question(
        ctx._("Found for «{query}». Choose an article:").format(query=ctx.answers.get("query")),
        (
            *(_article_choice(ctx, article) for article in articles),
            ctx.choice(SEARCH, "New search"),
            ctx.choice(MENU, "Main menu"),
        ),
    )


@journey.answers("results")
async def answer_results(ctx: Context, answer: Answer) -> Outcome:
    if (article_id := _chosen(answer, ARTICLE_PREFIX)) is not None:
        return _open_article(ctx, article_id)
    if answer.choice == SEARCH:
        return Go(journey.name, "search")
    return _typed(ctx, answer, countries=False)
