"""What a review of the family links found: the whole invitation forwarded on WhatsApp (which
forwards only whole messages) joins; notices about the link wait for the recipient's morning;
a member who withdrew her own consent gets no weekly message (a missed check-in's alert
still reaches her)."""

from datetime import UTC, datetime

from models import CheckinStatus, FamilyLink, Person, SafetyCheckin
from scheduler.checkins import run_checkins
from services import family, my_data
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_family import AZIZA, MOTHER, invite, job, linked_pair, links, set_country
from tests.test_family_alerts import alerts_to_mother, tr
from tests.test_whatsapp import DILNOZA, WhatsAppHarness

WA_MOTHER = "+998935550011"
ENDED = "Your relative has ended the family link: you will no longer receive messages about them."
CONFIRMED = (
    "Your relative has confirmed you as a family member. You will receive the "
    "messages they chose, once a week. You can leave at any time: «{family}» → "
    "«{mine}» in the main menu."
)
JOINED = (
    "Someone has joined Vatandosh with your family invitation ({relation}). "
    "Nothing is shared until you confirm. To confirm or refuse, open «{family}» → "
    "«{mine}» in the main menu. If you do not know who it is, refuse."
)

# -- the whole invitation forwarded ------------------------------------------------------------

WHOLE = """Taklifnoma: Onam. Kod: 44263219. U bir marta, 7 kun davomida ishlaydi.
WhatsApp uchun unga shu matnni yuboring:
WhatsAppda +14155238886 raqamiga yozing va yuboring: FAMILY 44263219
Qoʻshilgan kishini tasdiqlamaguningizcha hech narsa ulashilmaydi.
Mening oilam:
• Onam: taklifnoma hali ishlatilmagan (6 dekabr, 14:00 gacha amal qiladi)
1 — Oila aʼzosini taklif qilish
2 — Onam: taklifnoma hali ishlatilmagan (6 dekabr, 14:00 gacha amal qiladi)
3 — Orqaga"""


def test_reading_the_whole_forwarded_invitation() -> None:
    assert family.read_request(WHOLE, pasted=True) == family.JoinRequest("44263219")
    cyrillic = WHOLE.replace("FAMILY 44263219", "ОИЛА 44263219")
    assert family.read_request(cyrillic, pasted=True) == family.JoinRequest("44263219")
    # Inside someone's own words (a free-text answer) it is theirs, not a request.
    assert family.read_request(WHOLE) is None
    # Two different codes, or a number that is no code: nothing is guessed.
    two = WHOLE + "\nFAMILY 11112222 ham bor"
    assert family.read_request(two, pasted=True) is None
    assert family.read_request("oila 123456789 bizda yaxshi", pasted=True) is None


async def test_the_whole_invitation_forwarded_on_whatsapp_joins(wa: WhatsAppHarness) -> None:
    """The daughter copies the invitation with the reply under it («My family» and its
    numbered options); her mother sends it to the bot as it is and joins."""
    await wa.onboard(DILNOZA, "1")
    for answer in ("menu", "5", "3", "1"):  # family → my family → invite
        await wa.say(DILNOZA, answer)
    reply = await wa.say(DILNOZA, "Onam")
    invitation = wa.sent_to(DILNOZA)[-2]["Body"] + "\n\n" + reply
    assert not invitation.rstrip().endswith(invitation.split("FAMILY ")[1].split()[0])
    await wa.say(WA_MOTHER, invitation)
    await wa.say(WA_MOTHER, "1")  # Oʻzbekcha (lotin)
    await wa.say(WA_MOTHER, "1")  # I agree: she joins
    [link] = await wa.rows(FamilyLink)
    assert link.member_id is not None
    told = [m["Body"] for m in wa.sent_to(DILNOZA)][-1]
    assert "oila taklifnomangiz (Onam) bilan" in told


# -- notices about the link wait for the recipient's morning ------------------------------------


async def test_a_join_request_waits_for_the_morning_in_new_york(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await telegram.onboard(AZIZA, "ru")
    await set_country(telegram, AZIZA, "US")
    code = await invite(telegram, AZIZA)
    clock.set(datetime(2026, 11, 30, 4, 0, tzinfo=UTC))  # 09:00 Tashkent, 23:00 New York
    before = len(telegram.messages_to(AZIZA))
    await telegram.say(MOTHER, f"/start fam_{code}")
    await telegram.tap(MOTHER, "uz_Cyrl")
    joined = await telegram.tap(MOTHER, "agree")
    assert "Раҳмат." in joined["text"]  # her own reply comes at once
    await telegram.app.sender.deliver_due()
    assert telegram.messages_to(AZIZA)[before:] == []

    clock.set(datetime(2026, 11, 30, 13, 0, tzinfo=UTC))  # 08:00 in New York
    await telegram.app.sender.deliver_due()
    [told] = telegram.messages_to(AZIZA)[before:]
    start = tr(telegram, JOINED, "ru").split("{relation}")[0]
    assert told["text"].startswith(start)


async def test_confirming_and_removing_wait_for_the_mothers_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Aziza in Moscow confirms her mother at 22:30 (00:30 in Samarkand), and removes her
    another evening: each notice comes at 08:00 Tashkent, Aziza's replies at once."""
    await telegram.onboard(AZIZA, "ru")
    await set_country(telegram, AZIZA, "RU")
    code = await invite(telegram, AZIZA)
    await telegram.say(MOTHER, f"/start fam_{code}")
    await telegram.tap(MOTHER, "uz_Cyrl")
    await telegram.tap(MOTHER, "agree")
    (link,) = await links(telegram)
    before = len(telegram.messages_to(MOTHER))

    clock.set(datetime(2026, 11, 30, 19, 30, tzinfo=UTC))
    await telegram.tap(AZIZA, "u:menu")
    await telegram.tap(AZIZA, "family")
    await telegram.tap(AZIZA, "fam:mine")
    await telegram.tap(AZIZA, f"fam:link:{link.id}")
    reply = await telegram.tap(AZIZA, "fam:confirm")
    assert reply["text"].startswith("Подтверждено.")
    await telegram.app.sender.deliver_due()
    assert telegram.messages_to(MOTHER)[before:] == []
    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))  # 08:00 in Tashkent
    await telegram.app.sender.deliver_due()
    confirmed = tr(telegram, CONFIRMED).format(
        family=tr(telegram, "Family and reminders"), mine=tr(telegram, "My family")
    )
    assert [m["text"] for m in telegram.messages_to(MOTHER)[before:]] == [confirmed]

    before = len(telegram.messages_to(MOTHER))
    clock.set(datetime(2026, 12, 1, 19, 30, tzinfo=UTC))
    await telegram.tap(AZIZA, "fam:remove")
    done = await telegram.tap(AZIZA, "fam:end")
    assert done["text"].startswith("Готово:")
    await telegram.app.sender.deliver_due()
    assert telegram.messages_to(MOTHER)[before:] == []
    clock.set(datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    await telegram.app.sender.deliver_due()
    assert [m["text"] for m in telegram.messages_to(MOTHER)[before:]] == [tr(telegram, ENDED)]


async def test_the_notice_after_a_data_deletion_waits_for_the_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await linked_pair(telegram)
    before = len(telegram.messages_to(MOTHER))
    clock.set(datetime(2026, 11, 30, 19, 30, tzinfo=UTC))  # 00:30 in Tashkent
    app = telegram.app
    aziza = await telegram.person(AZIZA)
    async with app.db.transaction() as session:
        person = await session.get(Person, aziza.id)
        assert person is not None
        await my_data.delete_person_data(session, app.cipher, app.desk, person, now=clock.now())
    await app.sender.deliver_due()
    assert telegram.messages_to(MOTHER)[before:] == []
    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    await app.sender.deliver_due()
    assert [m["text"] for m in telegram.messages_to(MOTHER)[before:]] == [tr(telegram, ENDED)]


# -- a member who withdrew her own consent ------------------------------------------------------


async def withdraw_consent(telegram: TelegramHarness, user: int) -> None:
    await telegram.tap(user, "u:menu")
    await telegram.tap(user, "settings")
    await telegram.tap(user, "privacy")
    await telegram.tap(user, "decline")
    await telegram.tap(user, "withdraw")  # confirmed, after the warning of what stops
    assert not (await telegram.person(user)).has_consented


async def test_a_member_who_withdrew_consent_gets_no_weekly_message_but_the_alert(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The weekly message is a service to her: it stops. A missed check-in's alert is her
    relative's safety, which the relative chose to share with her: it still comes."""
    link = await linked_pair(telegram)
    await withdraw_consent(telegram, MOTHER)
    before = len(telegram.messages_to(MOTHER))

    clock.set(datetime(2026, 12, 6, 5, 0, tzinfo=UTC))  # the weekly message's time
    assert await job(telegram).run() == 0
    await telegram.app.sender.deliver_due()
    assert telegram.messages_to(MOTHER)[before:] == []
    (link,) = await links(telegram)
    assert link.next_message_at == datetime(2026, 12, 13, 5, 0, tzinfo=UTC)  # moved on

    app = telegram.app
    aziza = await telegram.person(AZIZA)
    async with app.db.transaction() as session:
        session.add(
            SafetyCheckin(
                person_id=aziza.id,
                asked_at=datetime(2026, 12, 6, 6, 0, tzinfo=UTC),
                due_by=datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
                status=CheckinStatus.ASKED,
            )
        )
    clock.set(datetime(2026, 12, 6, 12, 1, tzinfo=UTC))  # 17:01 in Tashkent
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    assert report.family_alerted == 1
    await app.sender.deliver_due()
    assert len(alerts_to_mother(telegram)) == 1
