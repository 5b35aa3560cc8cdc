"""The guidance library: articles on working and living abroad, one Markdown file per article
and locale, loaded and checked once at start-up, browsed by country and topic, searched in any
language or script, and shown page by page.

Files: ``locales/<locale>/guidance/<id>.md``, the same ids in every locale. Each starts with
front matter between two ``---`` lines::

    ---
    id: russia-legal-work             (the file's name, lower case, words joined by "-")
    country: RU                       (an ISO 3166 code, or "all": for every country)
    topic: legal_work                 (one of TOPICS)
    title: Rossiya: qonuniy ishlash   (at most TITLE_LIMIT characters; shown on buttons)
    keywords: [patent, ...]           (extra words search should find it by)
    sources:                          (the addresses of domain/FACTS.md the facts come from)
      - gorod-moskva.ru
    reviewed_on: 2026-11-29           (when the facts were last checked against FACTS.md)
    ---

The body is a small Markdown subset (paragraphs, ``#`` headings, ``-`` and ``1.`` lists,
``**bold**``, ``*italic*``, ``[text](address)``), rendered to plain text: chat messages are
sent without parse mode. Country, topic, sources and reviewed_on must agree between locales.

A broken or incomplete library stops start-up (`LibraryError`, one line). The loaded library
is immutable and cached per process (`library()`): articles change only with a deployment.
"""

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from locales import LOCALES_DIR
from services.countries import PRIORITY, country_codes
from services.i18n import LOCALES
from services.messages import split_text
from services.text import search_key

# Where the articles are: <root>/<locale>/guidance/*.md (the package's own locales directory).
GUIDANCE_ROOT = LOCALES_DIR
ALL = "all"  # the country of articles that hold everywhere
# In the order the topic list shows them.
TOPICS = (
    "legal_work",  # registration, permits or patent, deadlines
    "documents",
    "passport_wages",  # what to do when a passport is taken or wages are withheld
    "trafficking",  # the ILO's indicators of forced labour
    "emergency",  # emergency and hotline contacts
    "adapting",  # life abroad
    "families",  # support for families and children
)
FIELDS = ("id", "country", "topic", "title", "keywords", "sources", "reviewed_on")
_LIST_FIELDS = frozenset({"keywords", "sources"})

# A page's body; with the title, the page number and, on the last page, the sources and the
# date, a page stays within about 1,500 characters, so WhatsApp (1,600) can show it whole.
PAGE_LIMIT = 1_150
TITLE_LIMIT = 60
SOURCES_LIMIT = 220  # all of an article's sources, joined with ", "
MAX_PROBLEMS_SHOWN = 3

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ID_LIMIT = 40  # a button's data is at most 64 bytes: "article:" + id
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SOURCE = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:/[^\s,]*)?$")


class LibraryError(ValueError):
    """The library cannot be served; the message says why in one line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        suffix = f"; and {more} more" if more > 0 else ""
        super().__init__(f"guidance library: {len(problems)} problem(s): {shown}{suffix}")


@dataclass(frozen=True)
class Article:
    id: str
    locale: str
    country: str
    topic: str
    title: str
    keywords: tuple[str, ...]
    sources: tuple[str, ...]
    reviewed_on: date
    text: str  # the whole body as plain text
    pages: tuple[str, ...]  # the body cut into pages of at most PAGE_LIMIT characters


@dataclass(frozen=True)
class _Words:
    """One part of an article (its titles, keywords or text, in every locale) as match keys."""

    words: frozenset[str]
    roots: frozenset[str]  # the short roots its words are forms of: "ishga", "ishim" → "ish"


@dataclass(frozen=True)
class _Terms:
    """An article's words as match keys, from every locale, for search."""

    title: _Words
    keywords: _Words
    body: _Words


# -- Markdown to plain text --------------------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
_BULLET = re.compile(r"^[-*+]\s+(.+)$")
_NUMBERED = re.compile(r"^(\d{1,2})[.)]\s+(.+)$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)?[^<>\s]+)>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(
    r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])|(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"
)
_CODE = re.compile(r"`([^`]+)`")
# What must not survive rendering: Telegram and WhatsApp would show it as is.
_LEFTOVER = re.compile(r"[*`#\[\]<>]|__|^\s*[-+>]\s|\]\(", re.MULTILINE)


def _inline(text: str) -> str:
    text = _LINK.sub(lambda m: m[2] if m[1] == m[2] else f"{m[1]} ({m[2]})", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = _STRONG.sub(r"\2", text)
    text = _EMPHASIS.sub(lambda m: m[1] or m[2], text)
    return " ".join(text.split())


def render_markdown(markdown: str) -> list[str]:
    """The body as plain-text units: a paragraph or a list, with its heading, if any, on the
    line above it (a unit is what a page break never cuts, unless it is too long)."""
    blocks: list[list[str]] = []  # lines of one paragraph or list, Markdown inline syntax kept
    headings: dict[int, str] = {}  # block index → the heading above it
    current: list[str] = []
    in_list = False

    def close() -> None:
        nonlocal current, in_list
        if current:
            blocks.append(current)
        current, in_list = [], False

    for raw in markdown.splitlines():
        line = raw.strip()
        if not line:
            close()
        elif heading := _HEADING.match(line):
            close()
            headings[len(blocks)] = heading[1]
        elif bullet := _BULLET.match(line):
            if not in_list:
                close()
                in_list = True
            current.append(f"• {bullet[1]}")
        elif numbered := _NUMBERED.match(line):
            if not in_list:
                close()
                in_list = True
            current.append(f"{numbered[1]}. {numbered[2]}")
        elif current:
            current[-1] = f"{current[-1]} {line}"  # a wrapped line goes on with the one above
        else:
            current.append(line)
    close()

    units = []
    for index, block in enumerate(blocks):
        lines = [_inline(line) for line in block]
        if index in headings:
            lines.insert(0, _inline(headings[index]))
        units.append("\n".join(lines))
    # A heading with nothing under it (at the very end) is kept as a unit of its own.
    units += [_inline(headings[i]) for i in headings if i >= len(blocks)]
    return units


def paginate(units: Iterable[str], limit: int = PAGE_LIMIT) -> tuple[str, ...]:
    """Units joined into pages of at most `limit` characters; a unit longer than a page is
    cut between its lines (or, for one very long line, between words)."""
    pieces: list[str] = []
    for unit in units:
        if len(unit) <= limit:
            pieces.append(unit)
            continue
        chunk = ""
        parts = (part for line in unit.split("\n") for part in split_text(line, limit))
        for part in parts:
            candidate = f"{chunk}\n{part}" if chunk else part
            if len(candidate) <= limit:
                chunk = candidate
            else:
                pieces.append(chunk)
                chunk = part
        if chunk:
            pieces.append(chunk)
    pages: list[str] = []
    page = ""
    for piece in pieces:
        candidate = f"{page}\n\n{piece}" if page else piece
        if len(candidate) <= limit:
            page = candidate
        else:
            pages.append(page)
            page = piece
    if page or not pages:
        pages.append(page)
    return tuple(pages)


# -- loading and checking ----------------------------------------------------------------------


def _split_front_matter(text: str) -> tuple[list[str], str] | None:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            return lines[1:end], "\n".join(lines[end + 1 :])
    return None


def _parse_front_matter(lines: list[str], problem: Callable[[str], None]) -> dict[str, Any]:
    """`key: value`, `key: [a, b]`, or `key:` followed by `  - item` lines."""
    values: dict[str, Any] = {}
    current_list: list[str] | None = None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[:1].isspace() or line.startswith("-"):
            item = line.strip()
            if current_list is None or not item.startswith("- "):
                problem(f"front matter line not understood: {line.strip()!r}")
                continue
            current_list.append(item[2:].strip())
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip(), value.strip()
        current_list = None
        if not colon or not key:
            problem(f"front matter line not understood: {line.strip()!r}")
        elif key in values:
            problem(f"{key} is given twice")
        elif key not in FIELDS:
            problem(f"unknown field {key!r} (known: {', '.join(FIELDS)})")
        elif key in _LIST_FIELDS:
            if value.startswith("[") and value.endswith("]"):
                values[key] = [item.strip() for item in value[1:-1].split(",") if item.strip()]
            elif value:
                problem(f"{key} must be a list: [a, b] or lines of '  - item'")
            else:
                current_list = values[key] = []
        else:
            values[key] = value
    return values


def _real_date(value: str) -> date | None:
    if not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def load_article(path: Path, locale: str) -> tuple[Article | None, list[str]]:
    """One article file, or None and what is wrong with it."""
    where = f"{locale}/{path.name}"
    problems: list[str] = []

    def problem(text: str) -> None:
        problems.append(f"{where}: {text}")

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [f"{where}: cannot be read ({type(error).__name__})"]
    split = _split_front_matter(unicodedata.normalize("NFC", text))
    if split is None:
        return None, [f"{where}: no front matter (the file must start with a '---' block)"]
    meta = _parse_front_matter(split[0], problem)

    for field in FIELDS:
        if field not in meta or (meta[field] in ("", []) and field != "keywords"):
            problem(f"{field} is missing or empty")
    article_id = meta.get("id", "")
    if article_id and article_id != path.stem:
        problem(f"id {article_id!r} differs from the file name")
    if article_id and (not _ID.match(article_id) or len(article_id) > _ID_LIMIT):
        problem(f"id {article_id!r}: lower-case letters, digits and '-', at most {_ID_LIMIT}")
    country = meta.get("country", "")
    if country and country != ALL and country not in _known_countries():
        problem(f"country {country!r} is neither an ISO country code nor {ALL!r}")
    topic = meta.get("topic", "")
    if topic and topic not in TOPICS:
        problem(f"topic {topic!r} is not one of {', '.join(TOPICS)}")
    title = _inline(meta.get("title", ""))
    if len(title) > TITLE_LIMIT:
        problem(f"title is longer than {TITLE_LIMIT} characters")
    sources = tuple(meta.get("sources", ()))
    for source in sources:
        if not _SOURCE.match(source):
            problem(f"source {source!r} is not an address (like gorod-moskva.ru/page)")
    if len(", ".join(sources)) > SOURCES_LIMIT:
        problem(f"sources take more than {SOURCES_LIMIT} characters")
    reviewed_on = _real_date(meta.get("reviewed_on", ""))
    if meta.get("reviewed_on") and reviewed_on is None:
        problem(f"reviewed_on {meta['reviewed_on']!r} is not a real date (YYYY-MM-DD)")

    units = render_markdown(split[1])
    body = "\n\n".join(units)
    if not body.strip():
        problem("the article has no text")
    for name, rendered in (("title", title), ("text", body)):
        if leftover := _LEFTOVER.search(rendered):
            problem(f"Markdown the renderer does not know is left in the {name}: {leftover[0]!r}")
    if problems or reviewed_on is None:
        return None, problems
    article = Article(
        id=article_id,
        locale=locale,
        country=country,
        topic=topic,
        title=title,
        keywords=tuple(meta.get("keywords", ())),
        sources=sources,
        reviewed_on=reviewed_on,
        text=body,
        pages=paginate(units),
    )
    return article, []


@cache
def _known_countries() -> frozenset[str]:
    return frozenset(country_codes())


def _words(texts: Iterable[str]) -> _Words:
    words = frozenset(word for text in texts for word in search_key(text).split())
    roots = {root for word in words for root in _short_roots(word)}
    return _Words(words, frozenset(roots))


def _country_order(country: str) -> tuple[int, str]:
    if country in PRIORITY:
        return PRIORITY.index(country), country
    return (len(PRIORITY) + 1 if country == ALL else len(PRIORITY)), country


@dataclass(frozen=True)
class Library:
    """Every article in every locale; immutable once loaded."""

    articles: Mapping[str, Mapping[str, Article]]  # locale → id → article
    ids: tuple[str, ...]  # topic order, the countries in the pickers' order, "all" last
    terms: Mapping[str, _Terms]  # id → its words, from every locale

    @classmethod
    def of(cls, articles: Mapping[str, Mapping[str, Article]]) -> "Library":
        first = next(iter(articles.values()))
        ids = tuple(
            sorted(
                first,
                key=lambda i: (TOPICS.index(first[i].topic), _country_order(first[i].country)),
            )
        )
        terms = {
            article_id: _Terms(
                title=_words(by_id[article_id].title for by_id in articles.values()),
                keywords=_words(
                    k for by_id in articles.values() for k in by_id[article_id].keywords
                ),
                body=_words(by_id[article_id].text for by_id in articles.values()),
            )
            for article_id in ids
        }
        frozen = {locale: MappingProxyType(dict(by_id)) for locale, by_id in articles.items()}
        return cls(MappingProxyType(frozen), ids, MappingProxyType(terms))

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self.articles)

    def _in(self, locale: str) -> Mapping[str, Article]:
        return self.articles.get(locale) or self.articles[self.locales[0]]

    def article(self, locale: str, article_id: str) -> Article | None:
        return self._in(locale).get(article_id)

    def countries(self) -> tuple[str, ...]:
        """The countries that have articles of their own, in the pickers' order."""
        by_id = self._in(self.locales[0])
        found = {article.country for article in by_id.values()} - {ALL}
        return tuple(sorted(found, key=_country_order))

    def for_country(self, locale: str, country: str) -> tuple[Article, ...]:
        """One article per topic, in topic order: the country's own, else the one for all."""
        by_id = self._in(locale)
        chosen: dict[str, Article] = {}
        for article_id in self.ids:
            article = by_id[article_id]
            if article.country == country:
                chosen[article.topic] = article
            elif article.country == ALL:
                chosen.setdefault(article.topic, article)
        return tuple(sorted(chosen.values(), key=lambda a: TOPICS.index(a.topic)))

    def for_all_countries(self, locale: str, article: Article) -> Article | None:
        """The article for all countries on a country's article's topic, which the country's
        own replaces in its list (what holds everywhere: a lost passport, the consulate)."""
        if article.country == ALL:
            return None
        by_id = self._in(locale)
        return next(
            (
                other
                for other in (by_id[article_id] for article_id in self.ids)
                if other.country == ALL and other.topic == article.topic
            ),
            None,
        )

    def search(self, locale: str, query: str, limit: int = 8) -> tuple[Article, ...]:
        """Articles that match what was typed, in any locale or script, best first.

        Each word typed is looked for at the start of the articles' words (so "pasport" finds
        "pasportingiz", "торговля" finds "торговли"), and so are its Uzbek roots (so
        "pasportimni" finds them too): in titles and keywords it weighs three times what it
        weighs in the text. A word whose stems begin no word of the library is looked for
        by a shorter stem ("обманули" by "обман…", "yoʻqotdim" by "yoʻqo…", which begins
        "yoʻqolgan"). Articles that match the most of the words typed come first; those far
        behind the best are left out."""
        tokens = [self._as_searched(_Typed.of(token)) for token in _query_tokens(query)]
        if not tokens:
            return ()
        ranked: list[tuple[int, int, int, str]] = []
        for position, article_id in enumerate(self.ids):
            terms = self.terms[article_id]
            matched = score = 0
            for token in tokens:
                weight = (
                    3 * token.found_in(terms.title)
                    + 3 * token.found_in(terms.keywords)
                    + token.found_in(terms.body)
                )
                matched += weight > 0
                score += weight
            if matched:
                ranked.append((matched, score, -position, article_id))
        if not ranked:
            return ()
        most = max(entry[0] for entry in ranked)
        best = max(entry[1] for entry in ranked if entry[0] == most)
        kept = [e for e in ranked if e[0] == most and e[1] * 3 >= best]
        kept.sort(reverse=True)
        by_id = self._in(locale)
        return tuple(by_id[entry[3]] for entry in kept[:limit])

    def _as_searched(self, typed: "_Typed") -> "_Typed":
        """The word as search looks for it: by its stems if any article has a word they
        begin (so "пропискани", found as "propis…", is never cut to "prop…"), else by its
        shorter stem, which finds more (a verb's forms: "обманули" → "обман")."""
        parts = (p for t in self.terms.values() for p in (t.title, t.keywords, t.body))
        return typed if any(typed.found_in(part) for part in parts) else typed.loosened()


# Uzbek noun endings, in search_key's form (Latin, no apostrophes, so typed in either
# script): plural, possessive, case and question endings, which follow one another
# ("hujjat-lar-im-ni", "pasport-imiz-ga", "ish haq-im-ni"). Search takes them off, in any
# order, to find the root, and looks for the root as if it had been typed.
_ENDINGS = (
    "lar", "im", "imiz", "ing", "ingiz", "m", "miz", "ng", "ngiz", "i", "si",
    "ni", "ning", "ga", "ka", "qa", "da", "ta", "dan", "tan", "dagi", "gacha", "mi",
)  # fmt: skip
# A root search looks for at the start of the articles' words is at least this long; a
# shorter one ("ish", "pul", "sud") is only matched by its own forms ("ish", "ishga",
# "ishim"), never by other words that begin with it ("ishonch", "ishlash").
_ROOT_MIN = 4
_SHORT_ROOT = 3
# A root left by taking Uzbek endings off keeps at least this many letters when a varying
# Russian ending is cut off it too ("registratsiyaga" → "registratsi…", as
# "registratsiya" is searched), so it does not become a common beginning of other words
# ("propiskani" → "propis…", never "prop…", which begins "propala").
_ROOT_KEPT = 6
# A root whose last "k" or "q" became "g" or "gʻ" before an ending ("oylik" → "oyligim",
# "qishloq" → "qishlogʻimga"; search_key drops the "ʻ"): the root is looked for as written.
_VOICED = {"g": ("k", "q")}


def _strip_endings(word: str, endings: tuple[str, ...], shortest: int) -> set[str]:
    """Every root left when endings are taken off the word's end, one after another, down
    to `shortest` letters: "pasportimni" → pasportim, pasporti, pasport."""
    found: set[str] = set()
    todo = [word]
    while todo:
        current = todo.pop()
        for ending in endings:
            root = current.removesuffix(ending)
            if root != current and len(root) >= shortest and root not in found:
                found.add(root)
                todo.append(root)
    return found


def _uzbek_roots(word: str) -> set[str]:
    """The roots the word may be a form of, at least _ROOT_MIN letters long, each also as
    written before an ending voiced its last letter: "oyligimni" → …, oylig, oylik, oyliq."""
    roots = _strip_endings(word, _ENDINGS, _ROOT_MIN)
    return roots | {root[:-1] + letter for root in roots for letter in _VOICED.get(root[-1], ())}


def _short_roots(word: str) -> set[str]:
    """The short roots the word is a form of: "ishimni" → {"ish"}."""
    roots = _strip_endings(word, _ENDINGS, _SHORT_ROOT)
    return {root for root in roots if len(root) == _SHORT_ROOT}


def _stem(word: str, shortest: int = 4) -> str:
    """The part of a word that must begin an article's word: its last two letters, a
    Russian ending ("торговля" finds "торговли"), vary; at least `shortest` are kept."""
    return word if len(word) <= shortest else word[: max(shortest, len(word) - 2)]


@dataclass(frozen=True)
class _Typed:
    """A word typed, as search looks for it: what an article's word may begin with (the
    word less an ending that varies, or any of its Uzbek roots, cut likewise but never
    below _ROOT_KEPT letters), or else be a form of (its short root, if any). `shorter` is
    its shortest root less an ending that varies, at least _ROOT_MIN letters: what it is
    looked for by when its stems begin no word of the library (see Library.search)."""

    stems: tuple[str, ...]
    short: frozenset[str]
    shorter: str

    @classmethod
    def of(cls, token: str) -> "_Typed":
        roots = _uzbek_roots(token)
        found = {_stem(token), *(_stem(root, _ROOT_KEPT) for root in roots)}
        # A stem that begins with another finds nothing more: keep the shortest ones.
        stems = {stem for stem in found if not any(s != stem and stem.startswith(s) for s in found)}
        # The roots without a voiced letter are all beginnings of the word: the shortest
        # finds what the others find.
        shortest = min((token, *(root for root in roots if token.startswith(root))), key=len)
        return cls(tuple(sorted(stems)), frozenset(_short_roots(token)), _stem(shortest))

    def loosened(self) -> "_Typed":
        """The word looked for by its shorter stem ("yoqotdim" → "yoqo…")."""
        return _Typed((self.shorter,), self.short, self.shorter)

    def found_in(self, part: _Words) -> bool:
        if any(word.startswith(self.stems) for word in part.words):
            return True
        return any(root in part.words or root in part.roots for root in self.short)


def _query_tokens(query: str) -> list[str]:
    words = search_key(query).split()
    long_enough = [word for word in words if len(word) >= 3]
    return long_enough or words


def load_library(directory: Path, locales: Iterable[str] = LOCALES) -> Library:
    """Read and check every article; LibraryError lists everything that is wrong."""
    problems: list[str] = []
    articles: dict[str, dict[str, Article]] = {}
    for locale in locales:
        folder = directory / locale / "guidance"
        files = sorted(folder.glob("*.md")) if folder.is_dir() else []
        if not files:
            problems.append(f"{locale}: no articles in {folder}")
        by_id = articles[locale] = {}
        for path in files:
            article, found = load_article(path, locale)
            problems += found
            if article is not None:
                by_id[article.id] = article
    if not problems:
        problems += _compare_locales(articles, directory)
    if problems:
        raise LibraryError(problems)
    return Library.of(articles)


def _compare_locales(articles: Mapping[str, Mapping[str, Article]], directory: Path) -> list[str]:
    problems: list[str] = []
    every_id = sorted({article_id for by_id in articles.values() for article_id in by_id})
    first_locale, first = next(iter(articles.items()))
    for locale, by_id in articles.items():
        for article_id in every_id:
            if article_id not in by_id:
                problems.append(f"{locale}/{article_id}.md is missing (other locales have it)")
    if problems:
        return problems
    for locale, by_id in articles.items():
        for article_id, article in by_id.items():
            reference = first[article_id]
            for field in ("country", "topic", "sources", "reviewed_on"):
                if getattr(article, field) != getattr(reference, field):
                    problems.append(
                        f"{locale}/{article_id}.md: {field} differs from {first_locale}"
                    )
    seen: dict[tuple[str, str], str] = {}
    for article_id, article in first.items():
        key = (article.country, article.topic)
        if key in seen:
            problems.append(
                f"{article_id} and {seen[key]} are both about {article.topic} in {article.country}"
            )
        seen[key] = article_id
    return problems


@cache
def library() -> Library:
    """The library shipped with the package, loaded once per process."""
    return load_library(GUIDANCE_ROOT)


def require_library(error: Callable[[str], Exception]) -> Library:
    """The library, or `error(one line)` raised: for start-up to refuse a broken library."""
    try:
        return library()
    except LibraryError as problem:
        raise error(str(problem)) from problem
