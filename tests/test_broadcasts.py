"""Broadcasts: the dry-run count per segment, a few hundred people in mixed languages and
countries each getting one push in their language (STOP → recorded as not sent, quiet hours
→ queued for 08:00 local), resuming without duplicates, the announcement file, the
`vatandosh broadcast` command, and `/broadcast` in the staff group (refused to an operator,
counting and sending for a supervisor, audited)."""

import asyncio
import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Application
from bot.cli import main
from models import (
    AuditEvent,
    Broadcast,
    BroadcastStatus,
    ChannelAccount,
    OutboxKind,
    OutboxMessage,
    Person,
    Registration,
)
from models.db import Database
from services import broadcasts
from services.broadcasts import Announcement, BroadcastError, Segment, parse_segment
from services.crypto import DataCipher
from services.messages import OutgoingMessage
from tests.conftest import TEST_DATA_KEY
from tests.harness import TelegramHarness, button_ids
from tests.test_staff_group import add_operator, desk_app, in_group, posted

__all__ = ["desk_app"]  # a fixture, re-used from the staff group tests

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # 12:00 Moscow, 18:00 Seoul, 04:00 New York
TEXTS = {
    "uz_Latn": "Vatandoshlar kongressi 5-dekabr kuni boʻladi.",
    "uz_Cyrl": "Ватандошлар конгресси 5 декабрь куни бўлади.",
    "ru": "Конгресс соотечественников пройдёт 5 декабря.",
}
_chats = itertools.count(9_100_000)
_refs = itertools.count(1)


async def seed(
    db: Database,
    cipher: DataCipher,
    number: int,
    *,
    locale: str = "ru",
    country: str | None = "RU",
    sex: str | None = None,
    kind: str | None = None,
    opted_out: bool = False,
    reachable: bool = True,
    consented: bool = True,
    deleted: bool = False,
) -> list[tuple[int, str]]:
    """People with a Telegram chat (person id, chat id), and a registration if sex or kind."""
    made: list[tuple[Person, str]] = []
    async with db.transaction() as session:
        for _ in range(number):
            person = Person(
                locale=locale,
                country=country,
                consented_at=NOW - timedelta(days=3) if consented else None,
                consent_declined_at=None if consented else NOW - timedelta(days=3),
                created_at=NOW - timedelta(days=3),
                last_seen_at=NOW - timedelta(days=1),
                deleted_at=NOW - timedelta(days=1) if deleted else None,
            )
            chat = str(next(_chats))
            person.accounts.append(
                ChannelAccount(
                    channel="telegram",
                    external_id=chat,
                    reachable=reachable,
                    opted_out_at=NOW - timedelta(days=2) if opted_out else None,
                    created_at=NOW - timedelta(days=3),
                    last_inbound_at=NOW - timedelta(days=1),
                )
            )
            session.add(person)
            made.append((person, chat))
        await session.flush()
        if sex or kind:
            for person, _chat in made:
                session.add(
                    Registration(
                        person_id=person.id,
                        reference=f"CR-2026-{next(_refs):06d}",
                        country=country or "RU",
                        city="Moskva",
                        kind=kind or "temporary",
                        purpose="work",
                        sex=sex or "female",
                        status="submitted",
                        details=cipher.encrypt_json({}),
                        submitted_at=NOW,
                        updated_at=NOW,
                    )
                )
        return [(person.id, chat) for person, chat in made]


async def pushes(app: Application) -> list[OutboxMessage]:
    async with app.db.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == OutboxKind.PUSH)
                .order_by(OutboxMessage.id)
            )
        )


def text_of(app: Application, row: OutboxMessage) -> str:
    return OutgoingMessage.from_payload(app.cipher.decrypt_json(row.payload)).text


async def counted(app: Application, **segment: str) -> broadcasts.Counts:
    async with app.db.sessions() as session:
        return await broadcasts.count(session, parse_segment(**segment), app.clock.now())


async def test_the_dry_run_counts_each_segment_and_sends_nothing(app: Application) -> None:
    db, cipher = app.db, app.cipher
    await seed(db, cipher, 5, locale="ru", sex="female", kind="temporary")
    await seed(db, cipher, 4, locale="uz_Latn", sex="male", kind="permanent")
    await seed(db, cipher, 3, locale="uz_Cyrl", country="KZ", sex="female", kind="temporary")
    await seed(db, cipher, 2, locale="ru", opted_out=True)
    await seed(db, cipher, 1, locale="ru", reachable=False)
    await seed(db, cipher, 2, locale="ru", consented=False)  # never recipients
    await seed(db, cipher, 1, locale="ru", deleted=True)
    await seed(db, cipher, 2, locale="ru", country="US")  # 04:00 in New York

    everyone = await counted(app)
    assert (everyone.recipients, everyone.queued, everyone.deferred) == (17, 14, 2)
    assert (everyone.opted_out, everyone.unreachable) == (2, 1)
    russian_in_russia = await counted(app, country="RU", language="ru")
    assert (russian_in_russia.recipients, russian_in_russia.queued) == (8, 5)
    assert (russian_in_russia.opted_out, russian_in_russia.unreachable) == (2, 1)
    assert (await counted(app, language="uz")).recipients == 7  # both scripts
    assert (await counted(app, language="uz_cyrl")).recipients == 3
    assert (await counted(app, sex="female")).recipients == 8
    assert (
        await counted(app, sex="female", registration_kind="temporary", country="KZ")
    ).recipients == 3
    assert (await counted(app, registration_kind="permanent", language="ru")).recipients == 0
    assert (await counted(app, country="US")).deferred == 2
    assert await pushes(app) == []


async def test_a_country_segment_says_how_many_are_left_out_for_want_of_a_country(
    app: Application,
) -> None:
    """person.country comes from a registration or a help request: a migrant who only
    reads guidance is in no country's segment, and the count says how many such there are
    (among those who could be sent it), in the terminal and in the staff group alike."""
    await seed(app.db, app.cipher, 3, locale="ru", country="RU")
    await seed(app.db, app.cipher, 2, locale="ru", country=None)
    await seed(app.db, app.cipher, 1, locale="uz_Latn", country=None)
    await seed(app.db, app.cipher, 1, locale="ru", country=None, opted_out=True)

    russia = await counted(app, country="RU", language="ru")
    assert (russia.recipients, russia.country_unknown) == (3, 2)
    assert russia.summary().endswith("; not included: 2 whose country is not known")
    assert (await counted(app, country="RU")).country_unknown == 3
    assert (await counted(app)).country_unknown == 0  # everyone: nobody left out


def test_segments_and_announcement_files_are_checked() -> None:
    assert parse_segment("ru", "RU", "Female", "TEMPORARY") == Segment(
        "RU", "ru", "female", "temporary"
    )
    assert parse_segment("all", "*") == Segment()
    for bad in ({"country": "XX"}, {"language": "en"}, {"sex": "x"}, {"registration_kind": "y"}):
        with pytest.raises(BroadcastError):
            parse_segment(**bad)
    with pytest.raises(BroadcastError, match="ru text is missing"):
        broadcasts.parse_announcement({"announcement": {"uz_Latn": "a", "uz_Cyrl": "б"}})
    with pytest.raises(BroadcastError, match="unknown section"):
        broadcasts.parse_announcement({"announcement": TEXTS, "extra": {}})
    one_option = {**TEXTS, "option": [TEXTS]}
    with pytest.raises(BroadcastError, match="2 to 6"):
        broadcasts.parse_announcement({"announcement": TEXTS, "question": [one_option]})
    with pytest.raises(BroadcastError, match="1 to 5"):
        broadcasts.parse_announcement({"announcement": TEXTS, "question": []})
    with pytest.raises(BroadcastError, match="too long"):
        broadcasts.parse_announcement({"announcement": {**TEXTS, "ru": "я" * 1501}})


async def test_a_broadcast_reaches_everyone_once_in_their_language_honouring_stop_and_nights(
    app: Application,
) -> None:
    db, cipher = app.db, app.cipher
    countries = ["RU", "KZ", "TR", "KR", "US"]
    locales = ["uz_Latn", "uz_Cyrl", "ru"]
    people: dict[int, tuple[str, str]] = {}  # person id → (locale, country)
    for index in range(300):
        locale, country = locales[index % 3], countries[index % 5]
        for person_id, _chat in await seed(db, cipher, 1, locale=locale, country=country,
                                           opted_out=index % 25 == 0):  # fmt: skip
            people[person_id] = (locale, country)
    opted_out = {person_id for index, person_id in enumerate(people) if index % 25 == 0}
    await seed(db, cipher, 3, consented=False)
    await seed(db, cipher, 2, deleted=True)

    async with db.transaction() as session:
        started = await broadcasts.start(
            session, Segment(), Announcement(TEXTS), created_by="test", now=NOW
        )
    assert started.recipients == 300
    progress: list[int] = []
    done = await broadcasts.send(
        db, cipher, app.clock, started.id, batch_size=64, on_batch=progress.append
    )
    assert progress == [64, 64, 64, 64, 44]

    rows = await pushes(app)
    assert Counter(row.person_id for row in rows) == dict.fromkeys(people, 1)
    new_york_morning = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)  # 08:00 EST
    for row in rows:
        assert row.person_id is not None
        locale, country = people[row.person_id]
        assert text_of(app, row) == TEXTS[locale]
        if row.person_id in opted_out:
            assert (row.status, row.last_error) == ("failed", "opted out (STOP)")
        else:
            assert row.status == "pending"
        assert row.not_before == (new_york_morning if country == "US" else NOW)
    assert (done.status, done.queued, done.opted_out, done.unreachable) == (
        BroadcastStatus.DONE,
        300 - len(opted_out),
        len(opted_out),
        0,
    )
    assert done.deferred == sum(
        1 for pid, (_, c) in people.items() if c == "US" and pid not in opted_out
    )
    assert "300 recipient(s)" in broadcasts.summary(done)

    # Sent again (a second process, a retry): nothing more.
    await broadcasts.send(db, cipher, app.clock, started.id)
    assert len(await pushes(app)) == 300


async def test_an_interrupted_broadcast_resumes_without_duplicates(app: Application) -> None:
    db, cipher = app.db, app.cipher
    await seed(db, cipher, 25, locale="uz_Cyrl")
    async with db.transaction() as session:
        started = await broadcasts.start(
            session, parse_segment(language="uz_Cyrl"), Announcement(TEXTS), created_by="t", now=NOW
        )
    async with db.transaction() as session:  # one batch, then "the process died"
        first = await broadcasts.send_batch(session, cipher, started.id, NOW, batch_size=10)
    assert (first.handled, first.done) == (10, False)

    async def crashing_batch() -> None:
        async with db.transaction() as session:
            await broadcasts.send_batch(session, cipher, started.id, NOW, batch_size=10)
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):  # a batch that fails rolls back with its pushes
        await crashing_batch()
    done = await broadcasts.send(db, cipher, app.clock, started.id, batch_size=10)
    rows = await pushes(app)
    assert len(rows) == 25 == len({row.person_id for row in rows}) == done.queued
    assert {text_of(app, row) for row in rows} == {TEXTS["uz_Cyrl"]}


async def test_while_a_broadcast_is_queued_another_process_still_reads_and_writes(
    app: Application,
) -> None:
    """Another process (here: a second engine on the same database) is not held up for the
    whole broadcast: its reads never wait, and its writes get in between two batches —
    on SQLite, whose single writer lock is not handed out in turn, by the pause after each
    batch (the bot's replies while `vatandosh broadcast` runs)."""
    db, cipher = app.db, app.cipher
    people = await seed(db, cipher, 600, locale="ru")
    async with db.transaction() as session:
        started = await broadcasts.start(
            session, parse_segment(language="ru"), Announcement(TEXTS), created_by="t", now=NOW
        )
    first_batch = asyncio.Event()
    sending = asyncio.create_task(
        broadcasts.send(
            db, cipher, app.clock, started.id, batch_size=20,
            on_batch=lambda handled: first_batch.set(),
        )
    )  # fmt: skip
    other = Database(db.url)
    try:
        await asyncio.wait_for(first_batch.wait(), timeout=30)
        async with asyncio.timeout(5), other.reads() as session:
            assert await session.get(Broadcast, started.id) is not None
        assert not sending.done()
        async with asyncio.timeout(10), other.transaction() as session:
            person = await session.get(Person, people[0][0])
            assert person is not None
            person.last_seen_at = NOW
        assert not sending.done(), "the write waited for the whole broadcast"
    finally:
        done = await sending
        await other.close()
    assert done.queued == 600


# -- the command ------------------------------------------------------------------------------

ANNOUNCEMENT_FILE = """
[announcement]
uz_Latn = "Vatandoshlar kongressi 5-dekabr kuni boʻladi."
uz_Cyrl = "Ватандошлар конгресси 5 декабрь куни бўлади."
ru = "Конгресс соотечественников пройдёт 5 декабря."

[[question]]
uz_Latn = "Sizga eng koʻp nima kerak?"
uz_Cyrl = "Сизга энг кўп нима керак?"
ru = "Что Вам нужнее всего?"

[[question.option]]
uz_Latn = "Hujjatlar"
uz_Cyrl = "Ҳужжатлар"
ru = "Документы"

[[question.option]]
uz_Latn = "Ish"
uz_Cyrl = "Иш"
ru = "Работа"
"""


def cli_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    """`vatandosh broadcast` run in-process on this database, with no channel configured."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", TEST_DATA_KEY)
    for name in ("TELEGRAM_BOT_TOKEN", "TWILIO_ACCOUNT_SID", "OPERATOR_CHAT_ID"):
        monkeypatch.delenv(name, raising=False)


def test_vatandosh_broadcast_dry_run_then_sends(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, tmp_path, database_url)
    cipher = DataCipher(TEST_DATA_KEY)

    async def prepare() -> None:
        db = Database(database_url)
        try:
            await seed(db, cipher, 3, locale="ru", country="RU")
            await seed(db, cipher, 2, locale="uz_Latn", country="RU", opted_out=True)
            await seed(db, cipher, 4, locale="ru", country="TR")
        finally:
            await db.close()

    asyncio.run(prepare())
    text = tmp_path / "congress.toml"
    text.write_text(ANNOUNCEMENT_FILE.replace("[[question]]", "[[unused]]", 0), "utf-8")
    plain = tmp_path / "plain.toml"
    plain.write_text(ANNOUNCEMENT_FILE.split("[[question]]")[0], "utf-8")

    code = main(["broadcast", "--text-file", str(text), "--country", "RU", "--dry-run"])
    out, _err = capsys.readouterr()
    assert code == 0
    assert "dry run (country=RU, with a survey of 1 question(s)), nothing sent" in out
    # The command runs on the real clock: whether it is night in Moscow is not ours to say.
    found = re.search(r"5 recipient\(s\): (\d+) now, (\d+) at 08:00", out)
    assert found is not None
    assert int(found[1]) + int(found[2]) == 3
    assert "2 opted out" in out

    assert main(["broadcast", "--text-file", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["broadcast", "--text-file", str(plain), "--language", "en"]) == 2
    assert "unknown language" in capsys.readouterr().err

    assert main(["broadcast", "--text-file", str(plain), "--country", "RU"]) == 0
    out, _err = capsys.readouterr()
    assert "5 recipient(s): " in out
    assert "2 opted out" in out

    async def read() -> tuple[list[Broadcast], list[OutboxMessage]]:
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                return list(await session.scalars(select(Broadcast))), list(
                    await session.scalars(select(OutboxMessage))
                )
        finally:
            await db.close()

    made, rows = asyncio.run(read())
    assert [(b.created_by, b.segment, b.queued, b.opted_out) for b in made] == [
        ("cli", {"country": "RU"}, 3, 2)
    ]
    assert len(rows) == 5
    assert main(["broadcast", "--resume", str(made[0].id)]) == 0
    assert len(asyncio.run(read())[1]) == 5


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--dry-run"], "--dry-run"),
        (["--country", "TR", "--language", "ru"], "--country, --language"),
        (["--sex", "female", "--registration-kind", "permanent"], "--sex, --registration-kind"),
        (["--text-file", "other.toml", "--dry-run"], "--text-file, --dry-run"),
    ],
)
def test_vatandosh_broadcast_resume_refuses_what_it_would_ignore_and_sends_nothing(
    extra: list[str],
    named: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--resume finishes the broadcast as it was started: a dry run or another segment given
    with it would be silently ignored, and the rest sent."""
    cli_environment(monkeypatch, tmp_path, database_url)
    cipher = DataCipher(TEST_DATA_KEY)

    async def interrupted() -> int:
        db = Database(database_url)
        try:
            await seed(db, cipher, 6, locale="ru", country="RU")
            segment, announcement = parse_segment(country="RU"), Announcement(TEXTS)
            async with db.transaction() as session:
                made = await broadcasts.start(
                    session, segment, announcement, created_by="cli", now=NOW
                )
            async with db.transaction() as session:
                await broadcasts.send_batch(session, cipher, made.id, NOW, batch_size=2)
            return made.id
        finally:
            await db.close()

    async def queued() -> int:
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                return len(list(await session.scalars(select(OutboxMessage))))
        finally:
            await db.close()

    broadcast_id = asyncio.run(interrupted())
    assert asyncio.run(queued()) == 2

    assert main(["broadcast", "--resume", str(broadcast_id), *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "vatandosh: --resume finishes a broadcast as it was started, to the same people: it "
        f"cannot be combined with {named}; nothing sent\n"
    )
    assert asyncio.run(queued()) == 2  # nobody was sent anything

    assert main(["broadcast", "--resume", str(broadcast_id)]) == 0
    assert asyncio.run(queued()) == 6


# -- the staff group ----------------------------------------------------------------------------

OPERATOR, SUPERVISOR = 7101, 7102


async def test_broadcast_in_the_staff_group_is_for_supervisors_counts_and_sends(
    desk_app: Application,
) -> None:
    app = desk_app
    desk = TelegramHarness(app)
    t = app.catalogs.translator(app.settings.staff_locale).gettext
    operator = await add_operator(app, OPERATOR, "Dilnoza R.")
    supervisor = await add_operator(app, SUPERVISOR, "Bobur T.", role="supervisor")
    russians = await seed(app.db, app.cipher, 4, locale="ru", country="RU")
    await seed(app.db, app.cipher, 1, locale="ru", country="RU", opted_out=True)
    await seed(app.db, app.cipher, 3, locale="uz_Latn", country="RU")
    await seed(app.db, app.cipher, 2, locale="ru", country="KZ")

    await desk.feed(posted(OPERATOR, None, "/broadcast RU ru"))
    assert in_group(desk)[-1]["text"] == t(
        "Only a supervisor or above can count and send broadcasts."
    )

    await desk.feed(posted(SUPERVISOR, None, "/broadcast RU ru"))
    counted = in_group(desk)[-1]["text"]
    assert counted == t(
        "Broadcast to {segment}: {recipients} people. {now} would receive it now, "
        "{deferred} at 08:00 their time (quiet hours); {opted_out} have turned "
        "notifications off (STOP); {unreachable} cannot be reached."
    ).format(
        segment="country=RU, language=ru", recipients=5, now=4, deferred=0, opted_out=1,
        unreachable=0,
    )  # fmt: skip
    assert await pushes(app) == []
    await seed(app.db, app.cipher, 2, locale="ru", country=None)
    await desk.feed(posted(SUPERVISOR, None, "/broadcast RU ru"))
    left_out = t(
        "Not included: {count} people whose country is not known yet (no registration or "
        "help request)."
    ).format(count=2)
    assert in_group(desk)[-1]["text"] == f"{counted} {left_out}"

    await desk.feed(posted(SUPERVISOR, None, "/broadcast RU"))  # no language
    assert "/broadcast send RU ru …" in in_group(desk)[-1]["text"]
    await desk.feed(posted(SUPERVISOR, None, "/broadcast send RU uz Salom"))  # not one script
    assert "/broadcast send RU ru …" in in_group(desk)[-1]["text"]

    await desk.feed(
        posted(SUPERVISOR, None, "/broadcast send RU ru Консульство работает 1 декабря.")
    )
    group_texts = [params["text"] for params in in_group(desk)[-2:]]
    assert group_texts[0] == t(
        "Broadcast {number} is being sent to {recipients} people. To stop it: {cancel}"
    ).format(number=1, recipients=5, cancel="/broadcast cancel 1")
    assert group_texts[1] == t(
        "Broadcast {number} is done: {queued} messages queued ({deferred} of them for "
        "08:00 their time), {opted_out} not sent (STOP), {unreachable} cannot be reached."
    ).format(number=1, queued=4, deferred=0, opted_out=1, unreachable=0)
    for _person_id, chat in russians:
        assert desk.last_message(int(chat))["text"] == "Консульство работает 1 декабря."
    rows = await pushes(app)
    assert len(rows) == 5
    assert sum(row.status == "failed" for row in rows) == 1

    async with app.db.sessions() as session:
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [(e.actor, e.action) for e in events] == [
        (f"operator:{operator.id}", "broadcast_refused"),
        (f"operator:{supervisor.id}", "broadcast_counted"),
        (f"operator:{supervisor.id}", "broadcast_counted"),
        (f"operator:{supervisor.id}", "broadcast_sent"),
    ]
    assert events[-1].detail == "broadcast:1 country=RU, language=ru"


async def test_a_staff_broadcast_cut_short_by_a_restart_is_finished_by_the_next_start(
    desk_app: Application,
) -> None:
    """The process that took `/broadcast send` queues it; if it stops half-way, the next
    `vatandosh run` finishes it and tells the group — once, however many processes start.
    A `vatandosh broadcast` left unfinished is left alone (it may have been stopped on
    purpose; `--resume` goes on with it)."""
    started_in = "thread:7"  # the topic the supervisor sent it from
    app = desk_app
    db, cipher = app.db, app.cipher
    await seed(db, cipher, 30, locale="uz_Cyrl")
    texts = {"operator:1": TEXTS, "cli": {locale: f"{text} (2)" for locale, text in TEXTS.items()}}
    made = []
    for created_by, announcement in texts.items():
        async with db.transaction() as session:
            made.append(
                await broadcasts.start(
                    session,
                    parse_segment(language="uz_Cyrl"),
                    Announcement(announcement),
                    created_by=created_by,
                    now=NOW,
                    reply_to=None if created_by == "cli" else started_in,
                )
            )
        async with db.transaction() as session:  # one batch, then the process stopped
            await broadcasts.send_batch(session, cipher, made[-1].id, NOW, batch_size=10)
    from_staff, from_cli = made

    # Two processes start at once: both drive it, the batches take turns, one finishes it.
    resumed = await asyncio.gather(
        *(broadcasts.finish_interrupted(db, cipher, app.clock, app.desk) for _ in range(2))
    )
    assert resumed == [1, 1]
    received = Counter((row.person_id, text_of(app, row)) for row in await pushes(app))
    staff_text, cli_text = TEXTS["uz_Cyrl"], texts["cli"]["uz_Cyrl"]
    assert len({person for person, text in received if text == staff_text}) == 30
    assert len({person for person, text in received if text == cli_text}) == 10  # as it was
    assert set(received.values()) == {1}
    async with db.reads() as session:
        finished = await session.get(Broadcast, from_staff.id)
        left = await session.get(Broadcast, from_cli.id)
        told = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "staff"))
        )
    assert finished is not None
    assert finished.status == BroadcastStatus.DONE
    assert finished.queued == 30
    assert left is not None
    assert left.status == BroadcastStatus.SENDING
    assert [text_of(app, row) for row in told] == [broadcasts.done_text(app.desk.t, finished)]
    assert [row.address for row in told] == [started_in]  # where the supervisor started it
    assert await broadcasts.finish_interrupted(db, cipher, app.clock, app.desk) == 0


async def test_a_survey_skips_whom_another_question_takes_up_and_says_how_many(
    app: Application, caplog: pytest.LogCaptureFixture
) -> None:
    """Asked «Are you safe?» and not answered yet, a person gets the announcement without
    the survey (its question would take the number meant for the check-in); the command
    tells how many were skipped."""
    telegram = TelegramHarness(app)
    asked, free = 5270001, 5270002
    await telegram.onboard(asked, "ru")
    await telegram.onboard(free, "ru")
    async with app.db.transaction() as session:
        person = (await telegram.person(asked)).id
        assert await app.engine.prompt(session, person, "checkin", "ask") is not None
    survey = [
        {
            "texts": {"uz_Latn": "Kelasizmi?", "uz_Cyrl": "Келасизми?", "ru": "Придёте?"},
            "options": [
                {"uz_Latn": "Ha", "uz_Cyrl": "Ҳа", "ru": "Да"},
                {"uz_Latn": "Yoʻq", "uz_Cyrl": "Йўқ", "ru": "Нет"},
            ],
        }
    ]
    async with app.db.transaction() as session:
        started = await broadcasts.start(
            session, Segment(), Announcement(TEXTS, survey), created_by="cli", now=app.clock.now()
        )
    with caplog.at_level("WARNING", logger="services.broadcasts"):
        done = await broadcasts.send(app.db, app.cipher, app.clock, started.id, prompter=app.engine)
    assert (done.recipients, done.queued, done.opted_out, done.unreachable) == (2, 2, 0, 0)
    assert f"broadcast {started.id}: 1 {broadcasts.SKIPPED}" in caplog.text
    await app.sender.deliver_due()
    assert telegram.last_message(free)["text"].startswith(TEXTS["ru"])
    assert "Придёте?" in telegram.last_message(free)["text"]
    alone = telegram.last_message(asked)
    assert (alone["text"], button_ids(alone)) == (TEXTS["ru"], [])
    state = await telegram.state(asked)
    assert [prompt.journey for prompt in state.pending] == ["checkin"]  # «2» answers it
    counts = broadcasts.Counts(recipients=2, queued=1, skipped=1)
    assert counts.summary().endswith(f", 1 {broadcasts.SKIPPED}")


async def test_a_staff_broadcast_failing_half_way_says_so_and_is_not_sent_twice(
    desk_app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database hiccup between two batches: the group read «nothing was done, please try
    again» though the first batch was queued, and the retry sent those people a second copy
    (and the restart finished the first one: everyone twice)."""
    app = desk_app
    desk = TelegramHarness(app)
    t = app.catalogs.translator(app.settings.staff_locale).gettext
    await add_operator(app, SUPERVISOR, "Bobur T.", role="supervisor")
    await seed(app.db, app.cipher, 4, locale="ru", country="RU")
    real = broadcasts.send_batch
    calls = 0

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("database is locked")
        return await real(*args, **{**kwargs, "batch_size": 2})

    monkeypatch.setattr(broadcasts, "send_batch", flaky)
    command = "/broadcast send RU ru Консульство закрыто 1 декабря."
    await desk.feed(posted(SUPERVISOR, None, command))
    assert in_group(desk)[-1]["text"] == t(
        "Broadcast {number} was interrupted by an error. What was queued goes out; the rest "
        "is sent when the bot restarts (nobody gets it twice). Do not send it again."
    ).format(number=1)
    monkeypatch.setattr(broadcasts, "send_batch", real)

    await desk.feed(posted(SUPERVISOR, None, command))  # sent again all the same

    assert in_group(desk)[-1]["text"] == t(
        "Broadcast {number} with this text to these people is still being sent: it will be "
        "finished (nobody gets it twice). Nothing new was sent."
    ).format(number=1)
    assert await broadcasts.finish_interrupted(app.db, app.cipher, app.clock, app.desk) == 1
    received = Counter(row.person_id for row in await pushes(app))
    assert len(received) == 4
    assert set(received.values()) == {1}
