"""Broadcasts: an announcement to a segment of people (country, language, sex, kind of
registration), each in their own language, through the outbox as pushes — STOP honoured
(recorded as not sent), quiet hours honoured (queued for 08:00 local) — with an optional
short survey (1–5 questions of 2–6 options, one tap each; an option is never a bare number,
which a person typing it would pick by its place in the list).

Recipients are people who consented, have not deleted their data and chose a language. They
are taken in batches by id, each batch in its own transaction together with the broadcast's
cursor and counts, so 100,000 people never sit in memory and an interrupted broadcast is
resumed (`send` again) without anyone getting it twice.

With a survey, the announcement and the first question are one message: the survey journey's
first question carries the announcement above it (`engine.prompt`, journey "survey"), so a
survey costs no extra send per person against the platforms' limits.

A survey is optional, and a person answers one pushed question at a time (with its number,
on WhatsApp): it is not pushed to someone another question takes up — «Are you safe?» out,
an open help request's screen — who gets the announcement alone and is counted as skipped,
and any other pushed question takes its place later (bot.engine, OPTIONAL_PROMPTS).

A broadcast can be cancelled (`cancel`: a wrong date, a typo in a safety alert): nothing more
is queued — a `send` driving it, in this process or another, stops at its next batch — and
what it queued that no sender has begun is withdrawn (the outbox rows name their broadcast),
the announcements and survey questions waiting for the morning among them; a survey question
withdrawn is never asked (bot.engine drops a pushed question whose push failed). Who is
already at one of its questions has her answer taken and is thanked, with no further question
(handlers.survey).
"""

import enum
import logging
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Broadcast,
    BroadcastStatus,
    ChannelAccount,
    OutboxMessage,
    OutboxStatus,
    Person,
    Registration,
    RegistrationKind,
    SurveyAnswer,
)
from models.db import Database
from services import outbox, staff
from services.clock import Clock
from services.countries import country_codes
from services.crypto import DataCipher
from services.i18n import LOCALES, Translator
from services.local_time import next_allowed, zone_of
from services.messages import OutgoingMessage
from services.notify import queue_push
from services.prompter import Prompter
from services.staff import StaffDesk
from services.text import clean_text, parse_number

log = logging.getLogger(__name__)

SURVEY_JOURNEY = "survey"
ANNOUNCEMENT_LIMIT = 1500  # one message on every channel, also inside a WhatsApp template
QUESTION_LIMIT = 300
OPTION_LIMIT = 60  # a button's label
QUESTIONS = (1, 5)
OPTIONS = (2, 6)
SEXES = ("female", "male")
KINDS = tuple(kind.value for kind in RegistrationKind)
# "uz" is both Uzbek scripts.
LANGUAGES = {**{locale.lower(): (locale,) for locale in LOCALES}, "uz": ("uz_Latn", "uz_Cyrl")}
BATCH_SIZE = 500
SKIPPED = "got the announcement without the survey: answering another question"
# created_by of a broadcast started in the staff group (services.staff.actor_of).
STAFF_ACTOR_PREFIX = "operator:"


class BroadcastError(ValueError):
    """A broadcast that cannot be made as given; the message says why in one line."""


class SurveyPrompter(Prompter, Protocol):
    """What pushes a survey's first question (the conversation engine)."""

    async def busy_with_a_question(self, session: AsyncSession, person_id: int) -> bool:
        """Whether another question takes the person up (a check-in out or waiting, an open
        help request's screen): a survey pushed too would take the number meant for it."""


# -- what and to whom -------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """Who receives a broadcast; None is not a filter."""

    country: str | None = None  # where the person is now (ISO 3166 alpha-2)
    language: str | None = None  # a locale, or "uz" for both Uzbek scripts
    sex: str | None = None  # from their consular registration
    registration_kind: str | None = None  # permanent or temporary

    def as_dict(self) -> dict[str, str]:
        values = {
            "country": self.country,
            "language": self.language,
            "sex": self.sex,
            "registration_kind": self.registration_kind,
        }
        return {key: value for key, value in values.items() if value is not None}

    def describe(self) -> str:
        """For engineers and operators (English, like the CLI)."""
        parts = [f"{key}={value}" for key, value in self.as_dict().items()]
        return ", ".join(parts) or "everyone"


def parse_segment(
    country: str | None = None,
    language: str | None = None,
    sex: str | None = None,
    registration_kind: str | None = None,
) -> Segment:
    """Checks and normalises the filters ("ru" → "ru", "UZ_latn" → "uz_Latn", "tr" → "TR");
    "all", "*" or nothing means no filter."""

    def given(value: str | None) -> str | None:
        text = (value or "").strip()
        return None if text.lower() in ("", "all", "*", "-") else text

    code = given(country)
    if code is not None:
        code = code.upper()
        if code not in set(country_codes()):
            raise BroadcastError(f"unknown country code {country!r}: use ISO codes such as RU, KZ")
    locale = given(language)
    if locale is not None:
        if locale.lower() not in LANGUAGES:
            raise BroadcastError(
                f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}"
            )
        locale = next(name for name in (*LOCALES, "uz") if name.lower() == locale.lower())
    chosen_sex = given(sex)
    if chosen_sex is not None and chosen_sex.lower() not in SEXES:
        raise BroadcastError(f"unknown sex {sex!r}: use {' or '.join(SEXES)}")
    kind = given(registration_kind)
    if kind is not None and kind.lower() not in KINDS:
        raise BroadcastError(
            f"unknown registration kind {registration_kind!r}: use {' or '.join(KINDS)}"
        )
    return Segment(
        country=code,
        language=locale,
        sex=chosen_sex.lower() if chosen_sex else None,
        registration_kind=kind.lower() if kind else None,
    )


@dataclass(frozen=True)
class Announcement:
    """The texts per locale, and the survey: [{"texts": {locale: …}, "options": [{…}, …]}]."""

    texts: dict[str, str]
    survey: list[dict[str, Any]] | None = None


def _texts(table: Any, where: str, limit: int, locales: Sequence[str]) -> dict[str, str]:
    if not isinstance(table, Mapping):
        raise BroadcastError(f"{where}: expected a table with {', '.join(locales)}")
    unknown = sorted(set(table) - {"options", "option"} - set(locales))
    if unknown:
        raise BroadcastError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    texts: dict[str, str] = {}
    for locale in locales:
        value = table.get(locale)
        text = clean_text(value).strip() if isinstance(value, str) else ""
        if not text:
            raise BroadcastError(f"{where}: the {locale} text is missing or empty")
        if len(text) > limit:
            raise BroadcastError(f"{where}: the {locale} text is too long (at most {limit})")
        texts[locale] = text
    return texts


def parse_announcement(data: Mapping[str, Any], locales: Sequence[str] = LOCALES) -> Announcement:
    """From the file's contents (see the operator guide): `[announcement]` with one text per
    locale, then optionally `[[question]]` tables (one text per locale) each with
    `[[question.option]]` tables."""
    unknown = sorted(set(data) - {"announcement", "question"})
    if unknown:
        raise BroadcastError(f"unknown section(s) {', '.join(unknown)}: use announcement, question")
    if "announcement" not in data:
        raise BroadcastError("the [announcement] section is missing")
    texts = _texts(data["announcement"], "[announcement]", ANNOUNCEMENT_LIMIT, locales)
    questions = data.get("question")
    if questions is None:
        return Announcement(texts)
    if not isinstance(questions, list) or not QUESTIONS[0] <= len(questions) <= QUESTIONS[1]:
        raise BroadcastError(f"a survey has {QUESTIONS[0]} to {QUESTIONS[1]} [[question]] tables")
    survey: list[dict[str, Any]] = []
    for number, question in enumerate(questions, start=1):
        where = f"question {number}"
        question_texts = _texts(question, where, QUESTION_LIMIT, locales)
        options = question.get("option")
        if not isinstance(options, list) or not OPTIONS[0] <= len(options) <= OPTIONS[1]:
            raise BroadcastError(
                f"{where}: {OPTIONS[0]} to {OPTIONS[1]} [[question.option]] tables are needed"
            )
        survey.append(
            {
                "texts": question_texts,
                "options": [
                    _option(option, f"{where}, option {index}", locales)
                    for index, option in enumerate(options, start=1)
                ],
            }
        )
    return Announcement(texts, survey)


def _option(table: Any, where: str, locales: Sequence[str]) -> dict[str, str]:
    """An option's labels. A number alone («2», «3+») is refused: a person who types it picks
    the option in that place of the list (bot.engine), not the one with that label."""
    labels = _texts(table, where, OPTION_LIMIT, locales)
    for locale, label in labels.items():
        if parse_number(label) is not None:
            raise BroadcastError(
                f"{where}: the {locale} text {label!r} is a number, and a typed number picks "
                "the option in that place of the list: write it with a word, «2 months», "
                "not «2»"
            )
    return labels


def load_announcement(path: Path) -> Announcement:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BroadcastError(f"cannot read {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise BroadcastError(f"{path} is not valid TOML: {error}") from None
    return parse_announcement(data)


# -- who ----------------------------------------------------------------------------------


def _conditions(segment: Segment) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Person.deleted_at.is_(None),
        Person.consented_at.is_not(None),
        Person.locale.is_not(None),
    ]
    if segment.country is not None:
        conditions.append(Person.country == segment.country)
    if segment.language is not None:
        conditions.append(Person.locale.in_(LANGUAGES[segment.language.lower()]))
    registered: list[ColumnElement[bool]] = []
    if segment.sex is not None:
        registered.append(Registration.sex == segment.sex)
    if segment.registration_kind is not None:
        registered.append(Registration.kind == segment.registration_kind)
    if registered:
        conditions.append(exists().where(Registration.person_id == Person.id, and_(*registered)))
    return conditions


def _has_account(*, willing: bool) -> ColumnElement[bool]:
    query = exists().where(
        ChannelAccount.person_id == Person.id, ChannelAccount.reachable.is_(True)
    )
    if willing:
        query = query.where(ChannelAccount.opted_out_at.is_(None))
    return query


@dataclass
class Counts:
    recipients: int = 0  # in the segment
    queued: int = 0  # pushes queued (at once or for the morning)
    deferred: int = 0  # of those, waiting for the end of the quiet hours
    opted_out: int = 0  # STOP on every channel: recorded as not sent
    unreachable: int = 0  # no chat reaches them: nothing written
    # A survey not pushed: another question took the person up (SurveyPrompter).
    skipped: int = 0
    withdrawn: int = 0  # queued, then withdrawn unsent: the broadcast was cancelled
    # For a segment of one country: people otherwise in it whose country is not known (no
    # registration or help request yet), who are not among the recipients.
    country_unknown: int = 0

    def summary(self) -> str:
        now = self.queued - self.deferred
        skipped = f", {self.skipped} {SKIPPED}" if self.skipped else ""
        withdrawn = f", {self.withdrawn} withdrawn unsent (cancelled)" if self.withdrawn else ""
        unknown = (
            f"; not included: {self.country_unknown} whose country is not known"
            if self.country_unknown
            else ""
        )
        return (
            f"{self.recipients} recipient(s): {now} now, {self.deferred} at 08:00 their time "
            f"(quiet hours), {self.opted_out} opted out (STOP, recorded as not sent), "
            f"{self.unreachable} without a reachable chat{skipped}{withdrawn}{unknown}"
        )


async def count(session: AsyncSession, segment: Segment, now: datetime) -> Counts:
    """The dry run: who would receive it, and how; for one country, how many are left out
    because their country is not known (person.country comes from a registration or a help
    request)."""
    people = (
        select(
            Person.country.label("country"),
            _has_account(willing=True).label("willing"),
            _has_account(willing=False).label("reachable"),
        )
        .where(*_conditions(segment))
        .subquery()
    )
    rows = await session.execute(
        select(people.c.country, people.c.willing, people.c.reachable, func.count()).group_by(
            people.c.country, people.c.willing, people.c.reachable
        )
    )
    counts = Counts()
    for country, willing, reachable, number in rows:
        counts.recipients += number
        if willing:
            counts.queued += number
            if next_allowed(now, zone_of(country)) > now:
                counts.deferred += number
        elif reachable:
            counts.opted_out += number
        else:
            counts.unreachable += number
    if segment.country is not None:
        anywhere = _conditions(replace(segment, country=None))
        counts.country_unknown = int(
            await session.scalar(
                select(func.count())
                .select_from(Person)
                .where(*anywhere, Person.country.is_(None), _has_account(willing=True))
            )
            or 0
        )
    return counts


# -- sending ------------------------------------------------------------------------------


async def start(
    session: AsyncSession,
    segment: Segment,
    announcement: Announcement,
    *,
    created_by: str,
    now: datetime,
    reply_to: str | None = None,
) -> Broadcast:
    """The broadcast's row (nothing is sent yet: `send` does it, in batches); `reply_to`:
    the staff address that hears it is done, when it was started in the staff group."""
    counts = await count(session, segment, now)
    broadcast = Broadcast(
        created_at=now,
        created_by=created_by[:32],
        reply_to=reply_to,
        segment=segment.as_dict(),
        texts=dict(announcement.texts),
        survey=announcement.survey,
        status=BroadcastStatus.SENDING,
        cursor=0,
        recipients=counts.recipients,
        queued=0,
        deferred=0,
        opted_out=0,
        unreachable=0,
        skipped=0,
        withdrawn=0,
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


def segment_of(broadcast: Broadcast) -> Segment:
    return Segment(**broadcast.segment)


@dataclass
class BatchResult:
    handled: int = 0
    done: bool = False
    finished: bool = False  # this batch found nobody left and marked the broadcast done
    counts: Counts = field(default_factory=Counts)


async def send_batch(
    session: AsyncSession,
    cipher: DataCipher,
    broadcast_id: int,
    now: datetime,
    *,
    prompter: SurveyPrompter | None = None,
    batch_size: int = BATCH_SIZE,
) -> BatchResult:
    """The next batch of recipients after the cursor, in the caller's transaction: one push
    (or survey prompt) each, the counts and the cursor moved with them."""
    broadcast = await session.get(
        Broadcast, broadcast_id, with_for_update=True, populate_existing=True
    )
    if broadcast is None:
        raise BroadcastError(f"there is no broadcast {broadcast_id}")
    if broadcast.status != BroadcastStatus.SENDING:  # done, or cancelled meanwhile
        return BatchResult(done=True)
    if broadcast.survey and prompter is None:
        raise BroadcastError("a broadcast with a survey needs the conversation engine")
    people = list(
        await session.execute(
            select(Person.id, Person.locale, Person.country)
            .where(Person.id > broadcast.cursor, *_conditions(segment_of(broadcast)))
            .order_by(Person.id)
            .limit(batch_size)
        )
    )
    if not people:
        broadcast.status = BroadcastStatus.DONE
        broadcast.finished_at = now
        return BatchResult(done=True, finished=True)
    willing: dict[int, bool] = {}
    for person_id, opted_out_at in await session.execute(
        select(ChannelAccount.person_id, ChannelAccount.opted_out_at).where(
            ChannelAccount.person_id.in_([person.id for person in people]),
            ChannelAccount.reachable.is_(True),
        )
    ):
        willing[person_id] = willing.get(person_id, False) or opted_out_at is None
    result = BatchResult(handled=len(people))
    counts = result.counts
    fallback = next(iter(broadcast.texts))
    prompts: list[int] = []  # the survey's pushes, to be named as the broadcast's
    for person_id, locale, country in people:
        if person_id not in willing:
            counts.unreachable += 1
            continue
        zone = zone_of(country)
        not_before = next_allowed(now, zone)
        survey = bool(broadcast.survey)
        if survey:
            assert prompter is not None
            if await prompter.busy_with_a_question(session, person_id):
                counts.skipped += 1  # the announcement goes alone: it may be a safety alert
                survey = False
        if survey:
            assert prompter is not None
            answers = {"broadcast": broadcast.id, "question": 0, "announce": True}
            prompt = await prompter.prompt(
                session, person_id, SURVEY_JOURNEY, answers=answers,
                not_before=not_before, quiet_zone=zone,
            )  # fmt: skip
            prompts += [] if prompt is None else [prompt]
            queued = prompt is not None
        else:
            text = broadcast.texts.get(locale or "") or broadcast.texts[fallback]
            rows = await queue_push(
                session, cipher, person_id, [OutgoingMessage(text)], now,
                not_before=not_before, quiet_zone=zone,
            )  # fmt: skip
            for row in rows:
                row.broadcast_id = broadcast.id
            queued = bool(rows)
        if queued:
            counts.queued += 1
            counts.deferred += not_before > now
        elif willing[person_id]:
            counts.unreachable += 1  # the engine found nobody to ask after all
        else:
            counts.opted_out += 1
    if prompts:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(prompts))
            .values(broadcast_id=broadcast.id)
            .execution_options(synchronize_session=False)
        )
    broadcast.cursor = people[-1].id
    broadcast.queued += counts.queued
    broadcast.deferred += counts.deferred
    broadcast.opted_out += counts.opted_out
    broadcast.unreachable += counts.unreachable
    broadcast.skipped += counts.skipped
    return result


async def send(
    db: Database,
    cipher: DataCipher,
    clock: Clock,
    broadcast_id: int,
    *,
    prompter: SurveyPrompter | None = None,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] = lambda handled: None,
    on_finished: Callable[[], None] = lambda: None,
) -> Broadcast:
    """Sends (or resumes) a broadcast batch after batch, each batch its own transaction;
    `on_batch` hears how many people each batch handled (a progress bar), `on_finished`
    that this call marked it done (not another process driving it too). The people a survey
    skipped (another question took them up) are told in a warning, which the command shows."""
    skipped = 0
    while True:
        async with db.transaction() as session:
            result = await send_batch(
                session,
                cipher,
                broadcast_id,
                clock.now(),
                prompter=prompter,
                batch_size=batch_size,
            )
        skipped += result.counts.skipped
        if result.handled:
            on_batch(result.handled)
        if result.finished:
            on_finished()
        if result.done:
            break
        await db.let_others_write()  # the running bot's replies, between two batches
    if skipped:
        log.warning("broadcast %s: %s %s", broadcast_id, skipped, SKIPPED)
    async with db.reads() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        return broadcast


async def interrupted_in_the_staff_group(session: AsyncSession) -> list[int]:
    """Broadcasts a supervisor started in the staff group that are still being queued: the
    process driving them stopped (a restart). A `vatandosh broadcast` left unfinished is
    not among them: whoever ran it may have stopped it on purpose (`--resume` goes on)."""
    return list(
        await session.scalars(
            select(Broadcast.id)
            .where(
                Broadcast.status == BroadcastStatus.SENDING,
                Broadcast.created_by.startswith(STAFF_ACTOR_PREFIX),
            )
            .order_by(Broadcast.id)
        )
    )


async def unfinished_like(
    session: AsyncSession, segment: Segment, announcement: Announcement
) -> int | None:
    """The id of an unfinished broadcast of the same texts and survey to the same segment:
    started again instead of resumed, it would reach everyone already queued twice."""
    unfinished = await session.scalars(
        select(Broadcast)
        .where(Broadcast.status == BroadcastStatus.SENDING)
        .order_by(Broadcast.id.desc())
    )
    for broadcast in unfinished:
        if (broadcast.segment, broadcast.texts, broadcast.survey) == (
            segment.as_dict(),
            dict(announcement.texts),
            announcement.survey,
        ):
            return broadcast.id
    return None


def done_text(t: Translator, done: Broadcast) -> str:
    """What the staff group is told when a broadcast started there is queued in full."""
    return t.gettext(
        "Broadcast {number} is done: {queued} messages queued ({deferred} of them for "
        "08:00 their time), {opted_out} not sent (STOP), {unreachable} cannot be reached."
    ).format(
        number=done.id,
        queued=done.queued,
        deferred=done.deferred,
        opted_out=done.opted_out,
        unreachable=done.unreachable,
    )


async def finish_interrupted(
    db: Database, cipher: DataCipher, clock: Clock, desk: StaffDesk
) -> int:
    """Broadcasts from the staff group that a restart cut short, queued to their end (at
    the start of `vatandosh run`); the topic it was started in (or, for one started before
    that was kept, the general topic) hears of each this process finished. How many there
    were."""
    async with db.reads() as session:
        interrupted = await interrupted_in_the_staff_group(session)
    for broadcast_id in interrupted:
        finished: list[int] = []
        try:
            done = await send(
                db, cipher, clock, broadcast_id, on_finished=partial(finished.append, broadcast_id)
            )
        except BroadcastError as error:
            log.error("broadcast id=%s not resumed: %s", broadcast_id, error)
            continue
        log.info("broadcast id=%s resumed after a restart: %s", broadcast_id, summary(done))
        if finished:
            async with db.transaction() as session:
                staff.to_staff(
                    session, cipher, desk, done.reply_to or staff.GENERAL,
                    [OutgoingMessage(done_text(desk.t, done))], clock.now(),
                )  # fmt: skip
    return len(interrupted)


def summary(broadcast: Broadcast) -> str:
    """What a finished broadcast did, in one line for engineers and operators."""
    counts = Counts(
        recipients=broadcast.recipients,
        queued=broadcast.queued,
        deferred=broadcast.deferred,
        opted_out=broadcast.opted_out,
        unreachable=broadcast.unreachable,
        skipped=broadcast.skipped,
        withdrawn=broadcast.withdrawn,
    )
    return f"broadcast {broadcast.id} ({broadcast.status}): {counts.summary()}"


# -- cancelling ---------------------------------------------------------------------------

CANCELLED_REASON = outbox.BROADCAST_CANCELLED


class CancelOutcome(enum.StrEnum):
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # there is no such broadcast
    ALREADY_CANCELLED = "already cancelled"
    # Done, nothing of it waiting nor given up (`vatandosh outbox retry` would send that),
    # no survey: nothing to stop.
    ALL_SENT = "all sent"


@dataclass(frozen=True)
class Cancel:
    """What `cancel` did. `withdrawn`: messages set aside unsent; `sent`: gone already
    (they cannot be called back); `in_flight`: being sent at that moment (they go);
    `survey`: the broadcast had one (no further question of it is asked); `reply_to`: the
    staff address it was started from, if it was started in the staff group."""

    outcome: CancelOutcome
    withdrawn: int = 0
    sent: int = 0
    in_flight: int = 0
    survey: bool = False
    reply_to: str | None = None


def is_cancelled(broadcast: Broadcast) -> bool:
    return broadcast.status == BroadcastStatus.CANCELLED


async def cancel(session: AsyncSession, broadcast_id: int, now: datetime) -> Cancel:
    """Stops a broadcast, in the caller's transaction: marked cancelled (a `send` driving it
    stops at its next batch: the row lock makes this wait for a batch being queued), and its
    messages that no sender has begun are withdrawn (outbox.withdraw); given-up ones are
    withdrawn too, so that `vatandosh outbox retry` never sends them (those STOP kept back
    stay as they are: never retried in bulk, and counted as opted out). What a sender has at
    that moment goes, unless it goes back to the queue (a 429, a network error): then it is
    withdrawn (outbox.withdraw_if_broadcast_cancelled)."""
    broadcast = await session.get(
        Broadcast, broadcast_id, with_for_update=True, populate_existing=True
    )
    if broadcast is None:
        return Cancel(CancelOutcome.UNKNOWN)
    ours = OutboxMessage.broadcast_id == broadcast.id
    sent = int(
        await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(ours, OutboxMessage.status == OutboxStatus.SENT)
        )
        or 0
    )
    if broadcast.status == BroadcastStatus.CANCELLED:
        return Cancel(CancelOutcome.ALREADY_CANCELLED, withdrawn=broadcast.withdrawn, sent=sent)
    waiting = int(
        await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(ours, OutboxMessage.status == OutboxStatus.PENDING)
        )
        or 0
    )
    given_up = and_(
        ours,
        OutboxMessage.status == OutboxStatus.FAILED,
        func.coalesce(OutboxMessage.last_error, "").not_like(outbox.NOT_NEEDED + "%"),
        func.coalesce(OutboxMessage.last_error, "") != outbox.OPTED_OUT,
    )
    if (
        broadcast.status == BroadcastStatus.DONE
        and not waiting
        and not broadcast.survey
        and not await session.scalar(select(exists().where(given_up)))
    ):
        return Cancel(CancelOutcome.ALL_SENT, sent=sent)
    unsent = await outbox.withdraw_where(session, ours, CANCELLED_REASON, now)
    marked = await session.execute(
        update(OutboxMessage)
        .where(given_up)
        .values(last_error=(outbox.NOT_NEEDED + CANCELLED_REASON)[:200])
        .execution_options(synchronize_session=False)
    )
    withdrawn = unsent + int(marked.rowcount)  # type: ignore[attr-defined]
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.finished_at = broadcast.finished_at or now
    broadcast.withdrawn += withdrawn
    log.info("broadcast id=%s cancelled: %s withdrawn, %s sent", broadcast.id, withdrawn, sent)
    return Cancel(
        CancelOutcome.CANCELLED,
        withdrawn=withdrawn,
        sent=sent,
        in_flight=waiting - unsent,
        survey=bool(broadcast.survey),
        reply_to=broadcast.reply_to,
    )


# -- survey answers -------------------------------------------------------------------------


async def record_answer(
    session: AsyncSession,
    *,
    broadcast_id: int,
    question: int,
    option: int,
    person_id: int,
    now: datetime,
) -> bool:
    """The person's answer to a question; False if they had answered it already (the first
    answer counts). The caller holds the person's conversation row, so one person's answers
    are never written concurrently."""
    already = await session.scalar(
        select(SurveyAnswer.id).where(
            SurveyAnswer.broadcast_id == broadcast_id,
            SurveyAnswer.question == question,
            SurveyAnswer.person_id == person_id,
        )
    )
    if already is not None:
        return False
    session.add(
        SurveyAnswer(
            broadcast_id=broadcast_id,
            question=question,
            option=option,
            person_id=person_id,
            answered_at=now,
        )
    )
    await session.flush()
    return True


async def answer_counts(session: AsyncSession, broadcast_id: int) -> dict[tuple[int, int], int]:
    """{(question, option): number of people}, positions from 0 (the report reads these)."""
    rows = await session.execute(
        select(SurveyAnswer.question, SurveyAnswer.option, func.count())
        .where(SurveyAnswer.broadcast_id == broadcast_id)
        .group_by(SurveyAnswer.question, SurveyAnswer.option)
    )
    return {(question, option): number for question, option, number in rows}
