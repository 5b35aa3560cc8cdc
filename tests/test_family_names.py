"""The name a family member knows the person by: a mother linked to two sons abroad reads
«your relative (Bobur) did not answer …», not a «your relative» she cannot tell apart. The
name is given when inviting (or skipped), changed or removed later on the link's screen,
stored encrypted, and removed with the person's data."""

from datetime import timedelta

import sqlalchemy as sa

from bot.app import Application
from models import FamilyLink, Person
from scheduler.checkins import run_checkins
from services import checkins, family, my_data
from services.clock import ManualClock
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids, not_understood
from tests.test_family import check_in, code_in, job, links
from tests.test_whatsapp import DILNOZA, WhatsAppHarness

AZIZ, BOBUR, MOTHER = 6160001, 6160002, 6160003
PROMPT = (
    "How does this family member know you? Send the name to show in their messages "
    "(for example «Dilnoza» or «Aziz aka»), so they know whom a message is about."
)
SAVED = "Saved. Messages to them about you will show the name «{name}»."
TOO_LONG = "This is too long. Please send a name of up to {limit} characters."
NO_LETTERS = "Please send the name in letters."
CONFIRMED = (
    "Your relative has confirmed you as a family member. You will receive the messages they "
    "chose, once a week. You can leave at any time: «{family}» → «{mine}» in the main menu."
)
LINKED_LINE = "A relative ({name}) invited you (as: {relation}); linked"
NAME_SHOWN = "Name shown to them: {name}"
NO_NAME = "Messages to them say «your relative»: you can add the name they know you by."


def tr(app: Application, msgid: str, locale: str = "uz_Cyrl") -> str:
    return app.catalogs.translator(locale).gettext(msgid)


async def start_invitation(telegram: TelegramHarness, user: int) -> tuple[str, dict[str, str]]:
    """«My family» → invite → mother: the code, and the reply that asks the name."""
    await telegram.tap(user, "u:menu")
    await telegram.tap(user, "family")
    await telegram.tap(user, "fam:mine")
    await telegram.tap(user, "fam:invite")
    asked = await telegram.tap(user, "rel:mother")
    return code_in(asked["text"]), asked


async def invite_named(telegram: TelegramHarness, user: int, name: str | None) -> str:
    code, _ = await start_invitation(telegram, user)
    if name is None:
        await telegram.tap(user, "fam:skip")
    else:
        await telegram.say(user, name)
    return code


async def join_and_confirm(telegram: TelegramHarness, user: int, code: str) -> FamilyLink:
    """The mother (onboarded already) joins with the code and the son confirms her."""
    await telegram.say(MOTHER, f"ОИЛА {code}")
    link = (await links(telegram))[-1]
    await telegram.tap(user, "u:menu")
    await telegram.tap(user, "family")
    await telegram.tap(user, "fam:mine")
    await telegram.tap(user, f"fam:link:{link.id}")
    await telegram.tap(user, "fam:confirm")
    link = (await links(telegram))[-1]
    assert link.confirmed_at is not None
    return link


async def two_sons_and_their_mother(
    telegram: TelegramHarness, aziz_name: str | None = "Aziz aka", bobur_name: str | None = "Bobur"
) -> tuple[FamilyLink, FamilyLink]:
    """Aziz (ru) and Bobur (uz_Latn) abroad each invite their mother (uz_Cyrl), giving the
    name she knows them by; she joins both and both confirm her."""
    await telegram.onboard(AZIZ, "ru")
    await telegram.onboard(BOBUR, "uz_Latn")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    aziz = await join_and_confirm(telegram, AZIZ, await invite_named(telegram, AZIZ, aziz_name))
    bobur = await join_and_confirm(telegram, BOBUR, await invite_named(telegram, BOBUR, bobur_name))
    return aziz, bobur


async def person(telegram: TelegramHarness, user: int) -> Person:
    return await telegram.person(user)


# -- giving the name when inviting -----------------------------------------------------------


async def test_the_invitation_asks_the_name_and_stores_it_encrypted(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(AZIZ, "ru")
    code, asked = await start_invitation(telegram, AZIZ)
    assert tr(app, PROMPT, "ru") in asked["text"]
    assert button_ids(asked) == ["fam:skip"]
    (link,) = await links(telegram)
    assert link.known_as is None  # the invitation is made; the name comes next

    saved = await telegram.say(AZIZ, "  Aziz\u202e aka\n")
    assert saved["text"].startswith(tr(app, SAVED, "ru").format(name="Aziz aka"))
    assert "fam:invite" in button_ids(saved)  # back at «My family»
    (link,) = await links(telegram)
    async with app.db.sessions() as session:
        raw = await session.scalar(
            sa.text("SELECT known_as FROM family_link WHERE id = :id"), {"id": link.id}
        )
    assert raw is not None
    assert "Aziz" not in raw
    assert app.cipher.decrypt_text(raw) == "Aziz aka"

    # The mother joins and is confirmed: she reads whom it is about.
    await telegram.onboard(MOTHER, "uz_Cyrl")
    await join_and_confirm(telegram, AZIZ, code)
    told = telegram.last_message(MOTHER)["text"]
    assert told.startswith("Қариндошингиз (Aziz aka) сизни оила аъзоси сифатида тасдиқлади")


async def test_skipping_the_name_keeps_the_old_messages(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(AZIZ, "ru")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    code, _ = await start_invitation(telegram, AZIZ)
    skipped = await telegram.tap(AZIZ, "fam:skip")
    assert "fam:invite" in button_ids(skipped)
    (link,) = await links(telegram)
    assert link.known_as is None
    await join_and_confirm(telegram, AZIZ, code)
    confirmed = tr(app, CONFIRMED).format(
        family=tr(app, "Family and reminders"), mine=tr(app, "My family")
    )
    assert telegram.last_message(MOTHER)["text"] == confirmed


async def test_whatsapp_a_typed_name_or_a_lone_number_that_skips(wa: WhatsAppHarness) -> None:
    app = wa.app
    await wa.onboard(DILNOZA, "1")
    for answer in ("menu", "5", "3", "1"):  # family → my family → invite
        await wa.say(DILNOZA, answer)
    asked = await wa.say(DILNOZA, "Onam")
    assert tr(app, PROMPT, "uz_Latn") in asked
    assert tr(app, "Skip", "uz_Latn") in asked
    saved = await wa.say(DILNOZA, "Dilnoza opa 🌸")
    assert saved.startswith(tr(app, SAVED, "uz_Latn").format(name="Dilnoza opa 🌸"))
    [first] = await wa.rows(FamilyLink)
    assert first.known_as is not None
    assert app.cipher.decrypt_text(first.known_as) == "Dilnoza opa 🌸"

    for answer in ("menu", "5", "3", "1"):
        await wa.say(DILNOZA, answer)
    await wa.say(DILNOZA, "Onam")
    listed = await wa.say(DILNOZA, "1")  # «1 — Skip»: no name called «1»
    assert tr(app, "My family:", "uz_Latn") in listed
    _, second = await wa.rows(FamilyLink)
    assert second.known_as is None


async def test_a_name_too_long_a_sticker_or_no_letters_is_asked_again(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(AZIZ, "ru")
    await start_invitation(telegram, AZIZ)
    too_long = await telegram.say(AZIZ, "A" * (family.NAME_MAX + 1))
    assert too_long["text"].startswith(tr(app, TOO_LONG, "ru").format(limit=40))
    assert button_ids(too_long) == ["fam:skip"]
    await telegram.feed(tg.sticker(AZIZ))
    sticker = telegram.last_message(AZIZ)
    assert sticker["text"].startswith(not_understood(app.catalogs, "ru"))
    digits = await telegram.say(AZIZ, "7")
    assert digits["text"].startswith(tr(app, NO_LETTERS, "ru"))
    (link,) = await links(telegram)
    assert link.known_as is None
    # Forty characters, once the spaces around are trimmed, are fine.
    name = "Азиз-ака " + "б" * 31
    saved = await telegram.say(AZIZ, f"   {name}   ")
    assert saved["text"].startswith(tr(app, SAVED, "ru").format(name=name))
    (link,) = await links(telegram)
    assert link.known_as is not None
    assert app.cipher.decrypt_text(link.known_as) == name


# -- changing it later --------------------------------------------------------------------------


async def test_the_name_is_given_changed_and_removed_from_the_links_screen(
    telegram: TelegramHarness,
) -> None:
    """A link made without a name (as every link before names existed) gets one later."""
    app = telegram.app
    aziz, _ = await two_sons_and_their_mother(telegram, aziz_name=None)
    await telegram.tap(AZIZ, "u:menu")
    await telegram.tap(AZIZ, "family")
    await telegram.tap(AZIZ, "fam:mine")
    screen = await telegram.tap(AZIZ, f"fam:link:{aziz.id}")
    assert tr(app, NO_NAME, "ru") in screen["text"]
    asked = await telegram.tap(AZIZ, "fam:name")
    assert tr(app, PROMPT, "ru") in asked["text"]
    assert button_ids(asked) == ["u:back"]
    back = await telegram.say(AZIZ, "Aziz")
    assert tr(app, NAME_SHOWN, "ru").format(name="Aziz") in back["text"]
    assert "fam:remove" in button_ids(back)  # back on the link's screen

    # Her «My family» tells her two sons apart.
    await telegram.tap(MOTHER, "u:menu")
    await telegram.tap(MOTHER, "family")
    listed = (await telegram.tap(MOTHER, "fam:mine"))["text"]
    relation = tr(app, "their mother")
    assert tr(app, LINKED_LINE).format(name="Aziz", relation=relation) in listed
    assert tr(app, LINKED_LINE).format(name="Bobur", relation=relation) in listed

    await telegram.tap(AZIZ, "fam:name")
    changed = await telegram.say(AZIZ, "Aziz aka")
    assert tr(app, NAME_SHOWN, "ru").format(name="Aziz aka") in changed["text"]
    asked = await telegram.tap(AZIZ, "fam:name")
    assert button_ids(asked) == ["fam:noname", "u:back"]
    removed = await telegram.tap(AZIZ, "fam:noname")
    assert tr(app, NO_NAME, "ru") in removed["text"]
    aziz = (await links(telegram))[0]
    assert aziz.known_as is None


# -- what the mother of two reads ---------------------------------------------------------------


async def run(app: Application) -> None:
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await app.sender.deliver_due()


async def test_the_missed_check_in_and_the_good_news_name_the_son_who_missed_it(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await two_sons_and_their_mother(telegram)
    for user in (AZIZ, BOBUR):
        son = await person(telegram, user)
        async with app.db.transaction() as session:
            row = await session.get(Person, son.id)
            assert row is not None
            await checkins.switch_on(session, row, 1, clock.now())
    clock.advance(timedelta(days=1))
    await run(app)  # both asked «Are you safe?»
    await telegram.tap(AZIZ, "safe")  # Aziz answers, Bobur does not
    before = len(telegram.messages_to(MOTHER))
    clock.advance(timedelta(hours=6))
    await run(app)

    [alert] = [m["text"] for m in telegram.messages_to(MOTHER)[before:]]
    start = tr(app, family.ALERT_NAMED).split("{asked}")[0]
    assert alert.startswith(start.format(name="Bobur"))
    assert "Aziz" not in alert

    await telegram.tap(BOBUR, "safe")  # late
    await app.sender.deliver_due()
    assert telegram.last_message(MOTHER)["text"] == tr(app, family.GOOD_NEWS_NAMED).format(
        name="Bobur"
    )


async def test_the_weekly_messages_name_each_son(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    aziz, bobur = await two_sons_and_their_mother(telegram)
    await check_in(telegram, AZIZ, clock.now() + timedelta(days=2), "safe")
    before = len(telegram.messages_to(MOTHER))
    assert aziz.next_message_at is not None
    assert bobur.next_message_at is not None
    clock.set(max(aziz.next_message_at, bobur.next_message_at))
    assert await job(telegram).run() == 2
    await app.sender.deliver_due()
    texts = [m["text"] for m in telegram.messages_to(MOTHER)[before:]]
    safe = tr(app, family.WEEKLY_SAFE_NAMED)
    reminder = tr(app, family.REMINDER_NAMED)
    assert texts == [
        safe.format(name="Aziz aka") + "\n\n" + reminder.format(name="Aziz aka"),
        reminder.format(name="Bobur"),
    ]


# -- «My data» ------------------------------------------------------------------------------------


async def test_my_data_shows_the_name_and_deleting_removes_it(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await two_sons_and_their_mother(telegram)
    aziz = await person(telegram, AZIZ)
    mother = await person(telegram, MOTHER)
    async with app.db.sessions() as session:
        his = await my_data.collect(session, app.cipher, aziz)
        hers = await my_data.collect(session, app.cipher, mother)
    [link] = my_data.export_content(his, app.catalogs.translator("ru"), clock.now())["family_links"]
    assert link["name_shown_to_them"] == "Aziz aka"
    # The name is his: not in his mother's file.
    assert all(
        "name_shown_to_them" not in item
        for item in my_data.export_content(hers, app.catalogs.translator("uz_Cyrl"), clock.now())[
            "family_links"
        ]
    )
    await telegram.say(AZIZ, "/menu")
    await telegram.tap(AZIZ, "settings")
    await telegram.tap(AZIZ, "my_data")
    summary = (await telegram.tap(AZIZ, "view"))["text"]
    assert tr(app, "(name shown to them: {name})", "ru").format(name="Aziz aka") in summary

    async with app.db.transaction() as session:
        row = await session.get(Person, aziz.id)
        assert row is not None
        await my_data.delete_person_data(session, app.cipher, app.desk, row, now=clock.now())
    aziz_link, bobur_link = await links(telegram)
    assert aziz_link.known_as is None
    assert aziz_link.ended_at is not None
    assert bobur_link.known_as is not None  # Bobur's own stays
    # She was told, by name, that the link has ended.
    await app.sender.deliver_due()
    assert telegram.last_message(MOTHER)["text"] == tr(app, family.ENDED_NAMED).format(
        name="Aziz aka"
    )
