"""Families: the hub, an invitation, joining by the deep link or by a typed code, the inviting
person confirming or refusing, leaving and removing, and the weekly family messages — through
the production Telegram adapter, with the weekly job run on a ManualClock."""

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.app import build_application
from models import CheckinStatus, FamilyLink, HelpCase, LinkAttempt, OutboxKind, Person
from models.checkin import SafetyCheckin
from scheduler.checkins import run_checkins
from scheduler.family import FamilyMessagesJob
from services import checkins, family, linking, my_data
from services.clock import ManualClock
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.fakes.twilio_server import SENDER, FakeTwilio
from tests.harness import TelegramHarness, button_ids
from tests.test_whatsapp import twilio_settings

AZIZA, MOTHER, STRANGER = 6060001, 6060002, 6060003
ALREADY_JOINED = "Сиз қариндошингиз таклифномаси билан аллақачон қўшилгансиз."
ALREADY_LINKED = "Сиз аллақачон қариндошингиз оиласидасиз: у сизни тасдиқлаган."
DOES_NOT_WORK = "Бу оила коди ишламайди"


def code_in(text: str) -> str:
    found = re.search(r"\b(\d{8})\b", text)
    assert found, text
    return found.group(1)


async def links(telegram: TelegramHarness) -> list[FamilyLink]:
    async with telegram.app.db.sessions() as session:
        return list(await session.scalars(select(FamilyLink).order_by(FamilyLink.id)))


async def invite(telegram: TelegramHarness, user: int, relation: str = "mother") -> str:
    await telegram.tap(user, "u:menu")
    await telegram.tap(user, "family")
    await telegram.tap(user, "fam:mine")
    shown = await telegram.tap(user, "fam:invite")
    assert "rel:mother" in button_ids(shown)
    sent = await telegram.tap(user, f"rel:{relation}")
    # The name the relative knows the person by is skipped: the list follows (the
    # invitation to forward is the third message from the end).
    await telegram.tap(user, "fam:skip")
    return code_in(sent["text"])


async def wrong_attempts(telegram: TelegramHarness) -> int:
    async with telegram.app.db.sessions() as session:
        return len(list(await session.scalars(select(LinkAttempt))))


async def set_country(telegram: TelegramHarness, user: int, country: str) -> None:
    person_id = (await telegram.person(user)).id
    async with telegram.app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.country = country


async def linked_pair(telegram: TelegramHarness) -> FamilyLink:
    """Aziza (abroad, ru) invites her mother (uz_Cyrl), who joins by the deep link and is
    confirmed."""
    await telegram.onboard(AZIZA, "ru")
    code = await invite(telegram, AZIZA)
    await telegram.say(MOTHER, f"/start fam_{code}")
    await telegram.tap(MOTHER, "uz_Cyrl")
    await telegram.tap(MOTHER, "agree")
    (link,) = await links(telegram)
    await telegram.tap(AZIZA, "family")
    await telegram.tap(AZIZA, "fam:mine")
    await telegram.tap(AZIZA, f"fam:link:{link.id}")
    await telegram.tap(AZIZA, "fam:confirm")
    (link,) = await links(telegram)
    assert link.confirmed_at is not None
    return link


async def test_the_hub_offers_what_exists_and_my_family(telegram: TelegramHarness) -> None:
    await telegram.onboard(AZIZA, "uz_Latn")
    hub = await telegram.tap(AZIZA, "family")
    ids = button_ids(hub)
    assert "fam:mine" in ids
    assert "u:menu" in ids
    for optional in ("reminders", "checkin"):
        assert (optional in ids) == (optional in telegram.app.engine._journey_names)
    empty = await telegram.tap(AZIZA, "fam:mine")
    assert "hali hech kimni taklif qilmagansiz" in empty["text"]


async def test_invitation_deep_link_join_confirm(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await telegram.onboard(AZIZA, "ru")
    code = await invite(telegram, AZIZA)
    *_, forward, shown, listed = (sent["text"] for sent in telegram.messages_to(AZIZA))
    assert "Приглашение для: Мама" in shown
    assert "Перешлите ему сообщение выше" in shown
    # The invitation to forward is a message of its own, without the menu under it.
    assert forward.endswith("FAMILY " + code)
    assert "7 дней" in shown
    (link,) = await links(telegram)
    assert link.code_hash == telegram.app.cipher.keyed_hash(f"family|{code}")
    assert code not in link.code_hash
    assert link.member_id is None
    assert link.expires_at == clock.now() + timedelta(days=7)
    # The list (after the name, skipped) shows the open invitation.
    assert "ещё не использовано" in listed

    # The mother opens the deep link in a new chat: language, privacy notice, then joined.
    first = await telegram.say(MOTHER, f"/start fam_{code}")
    assert "uz_Cyrl" in button_ids(first)
    await telegram.tap(MOTHER, "uz_Cyrl")
    joined = await telegram.tap(MOTHER, "agree")
    assert "Раҳмат. Қариндошингиздан сизни оила аъзоси" in joined["text"]
    mother = await telegram.person(MOTHER)
    (link,) = await links(telegram)
    assert (link.member_id, link.confirmed_at) == (mother.id, None)
    # Nothing is shared before Aziza confirms.
    async with telegram.app.db.sessions() as session:
        aziza = await telegram.person(AZIZA)
        assert await family.linked_members(session, aziza.id) == []

    # Aziza is told by a push, and confirms in «My family».
    told = telegram.last_message(AZIZA)["text"]
    assert "Кто-то присоединился к Ватандошу по Вашему семейному приглашению (Мама)" in told
    rows = [row for row in await telegram.outbox_rows() if row.person_id == aziza.id]
    assert rows[-1].kind == OutboxKind.PUSH
    await telegram.tap(AZIZA, "family")
    listed = await telegram.tap(AZIZA, "fam:mine")
    assert "Мама: присоединился(-ась) и ждёт Вашего подтверждения" in listed["text"]
    detail = await telegram.tap(AZIZA, f"fam:link:{link.id}")
    assert button_ids(detail)[:2] == ["fam:confirm", "fam:refuse"]
    confirmed = await telegram.tap(AZIZA, "fam:confirm")
    assert confirmed["text"].startswith("Подтверждено.")
    assert "share:weekly_safe" in button_ids(confirmed)
    assert (
        "Қариндошингиз сизни оила аъзоси сифатида тасдиқлади"
        in (telegram.last_message(MOTHER)["text"])
    )
    (link,) = await links(telegram)
    assert link.confirmed_at == clock.now()
    # The first weekly message: a week on, 10:00 in Tashkent (05:00 UTC).
    assert link.next_message_at == datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    async with telegram.app.db.sessions() as session:
        members = await family.linked_members(session, aziza.id)
        assert [m.id for _, m in members] == [mother.id]
    # A used code works no more.
    again = await telegram.say(STRANGER, f"OILA {code}")
    assert "uz_Latn" in button_ids(again)  # a new chat: onboarding first
    await telegram.tap(STRANGER, "ru")
    refused = await telegram.tap(STRANGER, "agree")
    assert "Этот семейный код не действует" in refused["text"]


async def test_a_typed_code_from_an_existing_chat_and_refusal(telegram: TelegramHarness) -> None:
    await telegram.onboard(AZIZA, "uz_Latn")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    code = await invite(telegram, AZIZA, "father")
    own = await telegram.say(AZIZA, f"family {code}")
    assert "Bu sizning taklifnomangiz" in own["text"]
    joined = await telegram.say(MOTHER, f"ОИЛА {code[:4]}-{code[4:]}")
    assert "Раҳмат." in joined["text"]
    twice = await telegram.say(MOTHER, f"СЕМЬЯ {code}")
    assert twice["text"].startswith(ALREADY_JOINED)
    assert await wrong_attempts(telegram) == 0
    assert "Kimdir oila taklifnomangiz (Otam)" in telegram.last_message(AZIZA)["text"]
    (link,) = await links(telegram)
    await telegram.tap(AZIZA, "family")
    await telegram.tap(AZIZA, "fam:mine")
    await telegram.tap(AZIZA, f"fam:link:{link.id}")
    refused = await telegram.tap(AZIZA, "fam:refuse")
    assert refused["text"].startswith("Rad etildi.")
    (link,) = await links(telegram)
    assert link.ended_at is not None
    assert link.confirmed_at is None
    assert "сўровингиз тасдиқланмади" in telegram.last_message(MOTHER)["text"]


async def test_wrong_codes_are_limited_and_hostile_input_gets_an_answer(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(STRANGER, "ru")
    for _ in range(4):
        wrong = await telegram.say(STRANGER, "FAMILY 11112222")
        assert "Этот семейный код не действует" in wrong["text"]
    blocked = await telegram.say(STRANGER, "FAMILY 11112223")
    assert "Слишком много" in blocked["text"] or "Too many" in blocked["text"]
    short = await telegram.say(STRANGER, "семья 1234")
    assert "8" in short["text"]
    await telegram.tap(STRANGER, "u:menu")
    await telegram.tap(STRANGER, "family")
    await telegram.tap(STRANGER, "fam:mine")
    for hostile in ("😀" * 50, "x" * 10_000, "'; DROP TABLE family_link; --", "99"):
        reply = await telegram.say(STRANGER, hostile)
        assert "Пригласить члена семьи" in str(reply.get("reply_markup"))
    assert await links(telegram) == []


async def test_leaving_and_removing_tell_the_other_side(telegram: TelegramHarness) -> None:
    link = await linked_pair(telegram)
    await telegram.tap(MOTHER, "family")
    listed = await telegram.tap(MOTHER, "fam:mine")
    assert "Қариндошингиз сизни таклиф қилди (онаси сифатида); боғланган" in listed["text"]
    await telegram.tap(MOTHER, f"fam:link:{link.id}")
    ask = await telegram.tap(MOTHER, "fam:leave")
    assert button_ids(ask) == ["fam:keep", "fam:end"]
    kept = await telegram.tap(MOTHER, "fam:keep")
    assert "fam:leave" in button_ids(kept)
    await telegram.tap(MOTHER, "fam:leave")
    done = await telegram.tap(MOTHER, "fam:end")
    assert done["text"].startswith("Тайёр: сиз оила боғланишидан чиқдингиз.")
    assert "fam:invite" in button_ids(done)  # back at «My family»
    assert "Член Вашей семьи (Мама) вышел" in telegram.last_message(AZIZA)["text"]
    (link,) = await links(telegram)
    assert link.ended_at is not None
    assert link.next_message_at is None

    # A second link, removed by Aziza this time.
    code = await invite(telegram, AZIZA, "sibling")
    await telegram.say(MOTHER, f"oila {code}")
    second = (await links(telegram))[-1]
    await telegram.tap(AZIZA, "u:menu")
    await telegram.tap(AZIZA, "family")
    await telegram.tap(AZIZA, "fam:mine")
    await telegram.tap(AZIZA, f"fam:link:{second.id}")
    await telegram.tap(AZIZA, "fam:confirm")
    await telegram.tap(AZIZA, "fam:remove")
    done = await telegram.tap(AZIZA, "fam:end")
    assert done["text"].startswith("Готово: этот человек больше не в Вашей семье.")
    assert "оила боғланишини тугатди" in telegram.last_message(MOTHER)["text"]


async def test_the_member_reads_who_they_are_in_their_own_words(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Uzbek says «Onam» (my mother) in the inviting person's words; the member reads
    «onasi» (their mother) wherever the relation is shown to them."""
    await linked_pair(telegram)
    # Aziza sees her own words.
    await telegram.tap(AZIZA, "u:menu")
    await telegram.tap(AZIZA, "family")
    assert "Мама: связь установлена" in (await telegram.tap(AZIZA, "fam:mine"))["text"]
    # Her mother: the list, the link's own screen, «My data» and the file.
    await telegram.tap(MOTHER, "u:menu")
    await telegram.tap(MOTHER, "family")
    listed = (await telegram.tap(MOTHER, "fam:mine"))["text"]
    assert "(онаси сифатида)" in listed
    assert "Онам" not in listed
    (link,) = await links(telegram)
    shown = await telegram.tap(MOTHER, f"fam:link:{link.id}")
    assert "(онаси сифатида)" in shown["text"]
    await telegram.say(MOTHER, "/menu")
    await telegram.tap(MOTHER, "settings")
    await telegram.tap(MOTHER, "my_data")
    summary = (await telegram.tap(MOTHER, "view"))["text"]
    assert "Қариндошингиз сизни таклиф қилди (онаси сифатида); боғланган" in summary
    app = telegram.app
    mother = await telegram.person(MOTHER)
    async with app.db.sessions() as session:
        data = await my_data.collect(session, app.cipher, mother)
    content = my_data.export_content(data, app.catalogs.translator("uz_Cyrl"), clock.now())
    [membership] = content["family_links"]
    assert (membership["role"], membership["relation_text"]) == ("you_joined", "онаси")


async def test_the_invitation_shows_the_last_moment_it_works_in_local_time(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await telegram.onboard(AZIZA, "ru")
    await set_country(telegram, AZIZA, "KR")  # 09:00 UTC is 18:00 in Seoul
    await invite(telegram, AZIZA)
    listed = telegram.last_message(AZIZA)["text"]
    assert "Мама: приглашение ещё не использовано (действует до 6 декабря, 18:00)" in listed
    (link,) = await links(telegram)
    detail = await telegram.tap(AZIZA, f"fam:link:{link.id}")
    assert "Действует до 6 декабря, 18:00." in detail["text"]
    await set_country(telegram, AZIZA, "UZ")
    await telegram.say(AZIZA, "/menu")
    await telegram.tap(AZIZA, "settings")
    await telegram.tap(AZIZA, "my_data")
    summary = (await telegram.tap(AZIZA, "view"))["text"]
    assert "Мама: приглашение ещё не использовано (действует до 6 декабря, 14:00)" in summary
    # The last minute shown still works.
    code = await invite(telegram, AZIZA, "father")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    clock.set(datetime(2026, 12, 6, 8, 59, 59, tzinfo=UTC))  # 13:59:59 in Tashkent
    joined = await telegram.say(MOTHER, f"ОИЛА {code}")
    assert "Раҳмат." in joined["text"]


async def test_a_used_code_sent_again_by_its_member_is_no_wrong_guess(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await telegram.onboard(AZIZA, "ru")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    await telegram.onboard(STRANGER, "uz_Cyrl")
    code = await invite(telegram, AZIZA)
    assert "Раҳмат." in (await telegram.say(MOTHER, f"ОИЛА {code}"))["text"]
    for _ in range(linking.WRONG_LIMIT + 1):
        again = await telegram.say(MOTHER, f"ОИЛА {code}")
        assert again["text"].startswith(ALREADY_JOINED), again["text"]
    assert await wrong_attempts(telegram) == 0
    (link,) = await links(telegram)
    await telegram.tap(AZIZA, "family")
    await telegram.tap(AZIZA, "fam:mine")
    await telegram.tap(AZIZA, f"fam:link:{link.id}")
    await telegram.tap(AZIZA, "fam:confirm")
    # Linked, and still so after the invitation's seven days.
    clock.set(clock.now() + timedelta(days=8))
    linked = await telegram.say(MOTHER, f"/start fam_{code}")
    assert linked["text"].startswith(ALREADY_LINKED), linked["text"]
    assert await wrong_attempts(telegram) == 0
    # Anyone else sending it made a wrong guess.
    assert DOES_NOT_WORK in (await telegram.say(STRANGER, f"ОИЛА {code}"))["text"]
    assert await wrong_attempts(telegram) == 1
    # Once the link has ended, the code is nobody's.
    await telegram.tap(MOTHER, "u:menu")
    await telegram.tap(MOTHER, "family")
    await telegram.tap(MOTHER, "fam:mine")
    await telegram.tap(MOTHER, f"fam:link:{link.id}")
    await telegram.tap(MOTHER, "fam:leave")
    await telegram.tap(MOTHER, "fam:end")
    (link,) = await links(telegram)
    assert link.code_hash is None
    assert DOES_NOT_WORK in (await telegram.say(MOTHER, f"ОИЛА {code}"))["text"]
    assert await wrong_attempts(telegram) == 2


def job(telegram: TelegramHarness) -> FamilyMessagesJob:
    app = telegram.app
    return FamilyMessagesJob(app.db, app.cipher, app.catalogs, app.clock, "uz_Latn")


async def check_in(telegram: TelegramHarness, user: int, at: datetime, status: str) -> None:
    person = await telegram.person(user)
    async with telegram.app.db.transaction() as session:
        session.add(
            SafetyCheckin(
                person_id=person.id, asked_at=at, due_by=at + timedelta(hours=2),
                answered_at=at, status=status,
            )
        )  # fmt: skip


async def test_weekly_messages_only_say_safe_after_a_safe_check_in(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    link = await linked_pair(telegram)
    runner = job(telegram)
    assert await runner.run() == 0  # not due yet
    before = len(telegram.messages_to(MOTHER))

    # Week 1: no check-in; the call reminder (on by default) goes, "safe" does not.
    clock.set(datetime(2026, 12, 6, 5, 0, tzinfo=UTC))
    assert await runner.run() == 1
    assert await runner.run() == 0  # taken once
    await telegram.app.sender.deliver_due()
    week1 = telegram.messages_to(MOTHER)[before:]
    assert len(week1) == 1
    assert "қариндошингизга ёзинг ёки қўнғироқ қилинг" in week1[0]["text"]
    assert "хавфсиз" not in week1[0]["text"].split(".")[1]
    (link,) = await links(telegram)
    assert link.next_message_at == datetime(2026, 12, 13, 5, 0, tzinfo=UTC)

    # Week 2: a safe check-in → the family hears it; Aziza turned the reminder off.
    await telegram.tap(AZIZA, "share:call_reminders")
    await check_in(telegram, AZIZA, datetime(2026, 12, 10, 12, 0, tzinfo=UTC), "safe")
    clock.set(datetime(2026, 12, 13, 5, 0, tzinfo=UTC))
    assert await runner.run() == 1
    await telegram.app.sender.deliver_due()
    week2 = telegram.last_message(MOTHER)["text"]
    assert week2 == (
        "Ватандош: сизни таклиф қилган қариндошингиз шу ҳафта хавфсизлигини тасдиқлади, у хавфсиз."
    )

    # Week 3: the latest check-in asked for help → nothing "safe" is said, nothing sent.
    await check_in(telegram, AZIZA, datetime(2026, 12, 15, 12, 0, tzinfo=UTC), "safe")
    await check_in(telegram, AZIZA, datetime(2026, 12, 16, 12, 0, tzinfo=UTC), "help")
    count = len(telegram.messages_to(MOTHER))
    clock.set(datetime(2026, 12, 20, 5, 0, tzinfo=UTC))
    assert await runner.run() == 0
    await telegram.app.sender.deliver_due()
    assert len(telegram.messages_to(MOTHER)) == count


async def test_a_late_run_waits_for_the_morning_and_ended_links_get_nothing(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await linked_pair(telegram)
    # The job ran late: 23:30 in Tashkent (18:30 UTC) is quiet → queued for 08:00 local.
    clock.set(datetime(2026, 12, 6, 18, 30, tzinfo=UTC))
    assert await job(telegram).run() == 1
    rows = await telegram.outbox_rows()
    assert rows[-1].not_before == datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    (link,) = await links(telegram)
    assert link.next_message_at == datetime(2026, 12, 13, 5, 0, tzinfo=UTC)
    await telegram.tap(MOTHER, "family")
    await telegram.tap(MOTHER, "fam:mine")
    await telegram.tap(MOTHER, f"fam:link:{link.id}")
    await telegram.tap(MOTHER, "fam:leave")
    await telegram.tap(MOTHER, "fam:end")
    clock.set(datetime(2026, 12, 13, 6, 0, tzinfo=UTC))
    assert await job(telegram).run() == 0


def test_reading_codes() -> None:
    assert family.read_request("FAMILY 12345678") == family.JoinRequest("12345678")
    assert family.read_request("Оила 1234 5678") == family.JoinRequest("12345678")
    assert family.read_request("семья 123") is None
    assert family.read_request("oila 12345") == family.JoinRequest(None)
    assert family.read_request("my family is far away") is None
    assert family.code_from_payload("fam_12345678") == "12345678"
    assert family.code_from_payload("fam_1234") is None
    assert family.deep_link("@vatandosh_bot", "12345678") == (
        "https://t.me/vatandosh_bot?start=fam_12345678"
    )
    assert family.whatsapp_number("whatsapp:+14155238886") == "+14155238886"


async def test_the_invitation_carries_the_deep_link_and_the_whatsapp_number(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    twilio = FakeTwilio()
    await twilio.start()
    settings = make_settings(
        **twilio_settings(
            twilio, telegram_bot_token=TEST_TOKEN, telegram_bot_username="@VatandoshBot"
        )
    )
    app = build_application(settings, clock=clock, telegram_session=RecordingSession())
    try:
        telegram = TelegramHarness(app)
        await telegram.onboard(AZIZA, "ru")
        code = await invite(telegram, AZIZA)
        shown = telegram.messages_to(AZIZA)[-3]["text"]  # the invitation to forward
        assert f"https://t.me/VatandoshBot?start=fam_{code}" in shown
        assert f"{SENDER.removeprefix('whatsapp:')}" in shown
    finally:
        await app.close()
        await twilio.stop()


async def test_the_bots_username_is_learnt_from_telegram_when_not_configured(
    telegram: TelegramHarness,
) -> None:
    engine = telegram.app.engine
    assert engine.journey_settings.telegram_bot_username is None
    engine.learn_bot_username("VatandoshBot")
    engine.learn_bot_username("SomethingElse")  # the first one stays
    assert engine.journey_settings.telegram_bot_username == "VatandoshBot"
    await telegram.onboard(AZIZA, "uz_Latn")
    code = await invite(telegram, AZIZA)
    assert f"t.me/VatandoshBot?start=fam_{code}" in telegram.messages_to(AZIZA)[-3]["text"]


# -- the weekly "safe" line against real check-ins --------------------------------------------

SAFE_LINE = (
    "Ватандош: сизни таклиф қилган қариндошингиз шу ҳафта хавфсизлигини тасдиқлади, у хавфсиз."
)
REMINDER = (
    "Ватандош: шу ҳафта қариндошингизга ёзинг ёки қўнғироқ қилинг. Қисқа хабар ҳам ёрдам беради."
)
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 14:00 in Tashkent
SUNDAY = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)  # the first weekly message


async def with_daily_check_ins(telegram: TelegramHarness, code_word: str | None = None) -> None:
    """Aziza linked to her mother, with daily check-ins (asked at 09:00 UTC from Monday)."""
    app = telegram.app
    await linked_pair(telegram)
    aziza = await telegram.person(AZIZA)
    async with app.db.transaction() as session:
        person = await session.get(Person, aziza.id)
        assert person is not None
        await checkins.switch_on(session, person, 1, app.clock.now())
        if code_word is not None:
            await checkins.set_code_word(session, app.cipher, aziza.id, code_word, app.clock.now())


async def run_check_ins(telegram: TelegramHarness, clock: ManualClock, at: datetime) -> None:
    app = telegram.app
    clock.set(at)
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await app.sender.deliver_due()


async def weekly_to_mother(telegram: TelegramHarness, clock: ManualClock) -> str:
    clock.set(SUNDAY)
    assert await job(telegram).run() == 1
    await telegram.app.sender.deliver_due()
    return str(telegram.last_message(MOTHER)["text"])


async def test_a_check_in_missed_after_a_safe_one_is_not_called_safe(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram)
    await run_check_ins(telegram, clock, MONDAY)
    await telegram.tap(AZIZA, "safe")
    await run_check_ins(telegram, clock, MONDAY + timedelta(days=1))  # Tuesday: no answer
    await run_check_ins(telegram, clock, MONDAY + timedelta(days=1, hours=6))
    assert "жавоб бермади" in telegram.last_message(MOTHER)["text"]  # the family was alerted
    async with telegram.app.db.sessions() as session:
        statuses = list(
            await session.scalars(select(SafetyCheckin.status).order_by(SafetyCheckin.asked_at))
        )
    assert statuses == [CheckinStatus.SAFE, CheckinStatus.MISSED]
    assert await weekly_to_mother(telegram, clock) == REMINDER


async def test_the_code_word_after_a_safe_check_in_is_not_called_safe_nor_shown(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram, code_word="Лимон")
    await run_check_ins(telegram, clock, MONDAY)
    await telegram.tap(AZIZA, "safe")
    before = len(telegram.messages_to(MOTHER))
    clock.set(MONDAY + timedelta(days=2))
    await telegram.say(AZIZA, "Лимон")  # the covert danger signal, no check-in waiting
    async with telegram.app.db.sessions() as session:
        [case] = list(await session.scalars(select(HelpCase)))
    assert case.covert
    assert case.urgent
    # The family gets exactly what a week without check-ins brings: nothing reveals the signal.
    assert await weekly_to_mother(telegram, clock) == REMINDER
    assert len(telegram.messages_to(MOTHER)) == before + 1


async def test_the_code_word_in_an_open_case_after_a_safe_check_in_is_not_called_safe(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram, code_word="Лимон")
    await telegram.tap(AZIZA, "u:menu")
    await telegram.tap(AZIZA, "help")
    await telegram.tap(AZIZA, "wages_unpaid")
    await telegram.say(AZIZA, "Не платят третий месяц.")
    await telegram.tap(AZIZA, "skip")  # where they are
    await telegram.tap(AZIZA, "skip")  # files
    await run_check_ins(telegram, clock, MONDAY)
    await telegram.tap(AZIZA, "safe")
    clock.set(MONDAY + timedelta(days=2))
    await telegram.say(AZIZA, "menu")
    await telegram.say(AZIZA, "limon")  # the open case becomes urgent
    async with telegram.app.db.sessions() as session:
        [case] = list(await session.scalars(select(HelpCase)))
    assert case.urgent
    assert case.created_at < MONDAY  # opened before the check-in, made urgent after
    assert await weekly_to_mother(telegram, clock) == REMINDER


async def test_a_safe_answer_to_the_newest_check_in_is_still_safe(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram)
    await run_check_ins(telegram, clock, MONDAY)
    await run_check_ins(telegram, clock, MONDAY + timedelta(hours=6))  # missed: urgent case
    await run_check_ins(telegram, clock, MONDAY + timedelta(days=1))
    await telegram.tap(AZIZA, "safe")  # Tuesday's, answered
    # Sunday's check-in, asked an hour before the weekly message, still has time to answer.
    await check_in(telegram, AZIZA, SUNDAY - timedelta(hours=1), CheckinStatus.ASKED)
    async with telegram.app.db.transaction() as session:
        waiting = await session.scalar(
            select(SafetyCheckin).where(SafetyCheckin.status == CheckinStatus.ASKED)
        )
        assert waiting is not None
        waiting.answered_at = None
        waiting.due_by = SUNDAY + timedelta(hours=5)
    assert await weekly_to_mother(telegram, clock) == f"{SAFE_LINE}\n\n{REMINDER}"


async def test_the_weekly_message_survives_a_move_of_either_side_to_another_country(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram)
    aziza, mother = await telegram.person(AZIZA), await telegram.person(MOTHER)
    async with telegram.app.db.transaction() as session:
        for person_id, country in ((aziza.id, "KR"), (mother.id, "RU")):
            person = await session.get(Person, person_id)
            assert person is not None
            person.country = country
    await run_check_ins(telegram, clock, MONDAY)
    await telegram.tap(AZIZA, "safe")
    assert await weekly_to_mother(telegram, clock) == f"{SAFE_LINE}\n\n{REMINDER}"
    (link,) = await links(telegram)
    assert link.next_message_at == datetime(2026, 12, 13, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
    await run_check_ins(telegram, clock, MONDAY + timedelta(days=7))
    await telegram.tap(AZIZA, "safe")
    clock.set(datetime(2026, 12, 13, 7, 0, tzinfo=UTC))
    assert await job(telegram).run() == 1
    await telegram.app.sender.deliver_due()
    assert telegram.last_message(MOTHER)["text"] == f"{SAFE_LINE}\n\n{REMINDER}"
