"""Twilio's passing trouble and our own: a limit reported after sending, an account or sender
refused, forwarded evidence in bulk, and a template's quick reply that is no choice of ours."""

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.channels import whatsapp_web
from bot.channels.whatsapp import ACCOUNT_ERROR_LOG_EVERY, incoming_messages, parse_inbound
from bot.engine import FILES_NOTICE, FLOOD_NOTICE
from handlers.incoming import Kind
from models import Conversation, InboundMessage, OutboxKind, OutboxMessage
from services import outbox_admin
from services.clock import ManualClock
from tests.fakes.twilio_server import inbound, status_callback
from tests.test_whatsapp import DILNOZA, TEMPLATES, WhatsAppHarness, operator_writes


async def report(wa: WhatsAppHarness, sid: str, status: str, code: str | None = None) -> None:
    """Twilio's status callback, signed for the status URL; then its work done."""
    answer = await wa.post(status_callback(sid, status, code), path="/whatsapp/status")
    assert answer[:2] == (200, "text/xml")
    await wa.settle()


async def push_row(wa: WhatsAppHarness) -> OutboxMessage:
    rows: list[OutboxMessage] = await wa.rows(OutboxMessage)
    [row] = [r for r in rows if r.kind == OutboxKind.PUSH]
    return row


async def a_template_pushed(wa: WhatsAppHarness, clock: ManualClock) -> dict[str, str]:
    """An operator's notice to a person whose window has closed: what Twilio took."""
    await wa.onboard(DILNOZA)
    clock.advance(timedelta(hours=30))
    before = len(wa.sent_to(DILNOZA))
    await operator_writes(wa, "Qayerdasiz?")
    [pushed] = wa.sent_to(DILNOZA)[before:]
    assert pushed["ContentSid"] == TEMPLATES["uz_Latn"]
    return pushed


# -- a passing failure reported after sending ------------------------------------------------


@pytest.mark.parametrize("code", ["63018", "30001"])
async def test_a_push_twilio_reports_rate_limited_later_is_tried_again(
    wa: WhatsAppHarness, clock: ManualClock, code: str
) -> None:
    """WhatsApp's limit of business-initiated messages (63018) or Twilio's full queue
    (30001) passes: the message is queued again after the sender's pause, not given up."""
    pushed = await a_template_pushed(wa, clock)
    await report(wa, pushed["Sid"], "failed", code)
    row = await push_row(wa)
    assert (row.status, row.last_error, row.delivery_error) == ("pending", f"twilio {code}", code)
    assert row.delivery_status is None
    count = len(wa.sent_to(DILNOZA))
    await report(wa, pushed["Sid"], "failed", code)  # a repeated callback changes nothing
    assert (await push_row(wa)).not_before == row.not_before
    assert len(wa.sent_to(DILNOZA)) == count  # it waits for its pause

    clock.advance(timedelta(minutes=10))
    await wa.app.sender.deliver_due()
    [again] = wa.sent_to(DILNOZA)[count:]
    assert again["ContentVariables"] == pushed["ContentVariables"]
    row = await push_row(wa)
    assert (row.status, row.provider_id) == ("sent", again["Sid"])


async def test_a_passing_failure_after_the_retry_period_is_given_up_as_kept_failing(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """Tried for OUTBOX_RETRY_HOURS (by the sender's pauses between its attempts), it is
    given up, as the sender gives up what kept failing."""
    pushed = await a_template_pushed(wa, clock)
    row = await push_row(wa)
    async with wa.app.db.transaction() as session:  # it has been tried for a day and more
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == row.id).values(attempts=200)
        )
    count = len(wa.twilio.sent)
    await report(wa, pushed["Sid"], "undelivered", "63018")
    row = await push_row(wa)
    assert (row.status, row.delivery_status, row.delivery_error) == (
        "failed",
        "undelivered",
        "63018",
    )
    assert row.last_error == "dead after 200 attempts over 32 h: twilio 63018"
    clock.advance(timedelta(hours=1))
    await wa.app.sender.deliver_due()
    assert len(wa.twilio.sent) == count


async def test_a_failure_not_known_to_pass_is_still_final(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    pushed = await a_template_pushed(wa, clock)
    await report(wa, pushed["Sid"], "failed", "30008")
    row = await push_row(wa)
    assert (row.status, row.last_error) == ("failed", "not delivered: twilio 30008")


# -- the account or the sender refused --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, 20003), (403, 20403), (404, 20404), (400, 63007), (400, 21606)],
)
async def test_an_account_or_sender_refusal_keeps_every_message_until_it_is_fixed(
    wa: WhatsAppHarness,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: int,
) -> None:
    """A rotated auth token, a suspended account, a disabled sender: every message would be
    refused alike. The channel waits a minute between tries (no request meanwhile), the
    messages are kept, and the error is logged with its code now and then."""
    await wa.onboard(DILNOZA)
    before = len(wa.sent_to(DILNOZA))
    wa.twilio.fail_next(status, code, times=3)
    with caplog.at_level(logging.ERROR, logger="bot.channels.whatsapp"):
        await wa.send(inbound(DILNOZA, "menyu"))
        row = (await wa.rows(OutboxMessage))[-1]
        refused = f"twilio {code}: the account or the sender was refused"
        assert (row.status, row.last_error) == ("pending", refused)
        attempts = wa.twilio.attempts

        clock.advance(timedelta(seconds=30))
        await wa.app.sender.deliver_due()
        assert wa.twilio.attempts == attempts  # the channel waits: no spinning
        clock.advance(timedelta(seconds=31))
        await wa.app.sender.deliver_due()
        assert wa.twilio.attempts == attempts + 1
        clock.advance(ACCOUNT_ERROR_LOG_EVERY)
        await wa.app.sender.deliver_due()
        assert wa.twilio.attempts == attempts + 2
        assert (await wa.rows(OutboxMessage))[-1].status == "pending"

        clock.advance(timedelta(minutes=1))  # fixed
        await wa.app.sender.deliver_due()
    assert wa.last_body(DILNOZA).startswith("Asosiy menyu.")
    assert len(wa.sent_to(DILNOZA)) == before + 1
    assert (await wa.rows(OutboxMessage))[-1].status == "sent"
    errors = [r.getMessage() for r in caplog.records if r.name == "bot.channels.whatsapp"]
    assert len(errors) == 2  # the first refusal, and one ACCOUNT_ERROR_LOG_EVERY later
    assert all(f"twilio {code}" in error and DILNOZA not in error for error in errors)


async def test_a_refusal_lasting_past_the_retry_period_gives_the_message_up(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """Not for ever: a message still refused after OUTBOX_RETRY_HOURS is given up as in any
    outage (the operators are told of their own), not sent days late."""
    await wa.onboard(DILNOZA)
    wa.twilio.fail_next(401, 20003, times=1000)
    await wa.send(inbound(DILNOZA, "menyu"))
    hours = wa.app.settings.outbox_retry_hours
    for _ in range(int(hours) + 2):
        clock.advance(timedelta(hours=1))
        await wa.app.sender.deliver_due()
    row = (await wa.rows(OutboxMessage))[-1]
    assert row.status == "failed"
    assert row.last_error is not None
    assert row.last_error.startswith("dead after")
    assert "twilio 20003" in row.last_error


async def test_a_message_refused_for_itself_is_still_rejected(wa: WhatsAppHarness) -> None:
    wa.twilio.fail_next(400, 21211)
    await wa.say_nothing_yet(DILNOZA, "Salom")
    [row] = await wa.rows(OutboxMessage)
    assert (row.status, row.last_error) == ("failed", "rejected: twilio 21211")


# -- forwarded evidence ----------------------------------------------------------------------


def test_forwarded_messages_are_marked_as_forwarded() -> None:
    for field in ("Forwarded", "FrequentlyForwarded"):
        message = parse_inbound(inbound(DILNOZA, "Tahdid", **{field: "true"}))
        assert message is not None
        [incoming] = incoming_messages(message, [])
        assert incoming.forwarded
    message = parse_inbound(inbound(DILNOZA, "Salom", Forwarded="false"))
    assert message is not None
    assert not incoming_messages(message, [])[0].forwarded


async def test_forty_forwarded_messages_are_all_kept(wa: WhatsAppHarness) -> None:
    """Threats forwarded in bulk as evidence go in the deeper line (as on Telegram), not the
    typed texts' line of TEXT_QUEUE."""
    await wa.onboard(DILNOZA)
    before, seen = len(wa.sent_to(DILNOZA)), await wa.count(InboundMessage)
    field = {0: "Forwarded", 1: "FrequentlyForwarded"}
    burst = [
        inbound(DILNOZA, f"Xo'jayin: pasportingni bermayman {n}", **{field[n % 2]: "true"})
        for n in range(40)
    ]
    assert len(burst) > whatsapp_web.TEXT_QUEUE
    statuses = await asyncio.gather(*(wa.post(form) for form in burst))
    assert {status for status, _, _ in statuses} == {200}
    await wa.settle()

    assert await wa.count(InboundMessage) - seen == 40
    bodies = [sent.get("Body", "") for sent in wa.sent_to(DILNOZA)[before:]]
    assert not [body for body in bodies if "juda tez" in body or "yetib kelmadi" in body]


async def test_forwarded_messages_dropped_beyond_the_line_are_told_as_lost(
    wa: WhatsAppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await wa.onboard(DILNOZA)
    monkeypatch.setattr(whatsapp_web, "MEDIA_QUEUE", 2)
    before = len(wa.sent_to(DILNOZA))
    burst = [inbound(DILNOZA, f"Tahdid {n}", Forwarded="true") for n in range(8)]
    statuses = await asyncio.gather(*(wa.post(form) for form in burst))
    assert {status for status, _, _ in statuses} == {200}
    await wa.settle()

    t = wa.app.catalogs.translator("uz_Latn")
    bodies = [sent.get("Body", "") for sent in wa.sent_to(DILNOZA)[before:]]
    assert bodies.count(t.gettext(FILES_NOTICE)) == 1
    assert bodies.count(t.gettext(FLOOD_NOTICE)) == 0


# -- a template's quick reply ----------------------------------------------------------------


async def test_a_quick_reply_that_is_no_choice_of_ours_is_its_text(wa: WhatsAppHarness) -> None:
    """A template's «STOP» button (its payload no choice the bot offered) is a STOP."""
    await wa.onboard(DILNOZA)
    answer = await wa.say(
        DILNOZA, "STOP", ButtonPayload="STOP", ButtonText="STOP", MessageType="button"
    )
    assert answer.startswith("Endi bu yerda sizga bildirishnomalar yubormaymiz.")
    assert (await wa.account(DILNOZA)).opted_out_at is not None


async def test_a_quick_reply_with_an_offered_choice_is_that_choice(wa: WhatsAppHarness) -> None:
    await wa.onboard(DILNOZA)
    typed = await wa.say(DILNOZA, "1")
    await wa.say(DILNOZA, "menyu")
    async with wa.app.db.sessions() as session:
        conversation = await session.scalar(select(Conversation))
        assert conversation is not None
        first = conversation.choices[0][0]
    tapped = await wa.say(DILNOZA, "Birinchisi", ButtonPayload=first, MessageType="button")
    assert tapped == typed


def test_a_payload_without_choices_known_is_a_button() -> None:
    message = parse_inbound(inbound(DILNOZA, "Ha", ButtonPayload="yes"))
    assert message is not None
    [button] = incoming_messages(message, [])
    assert (button.kind, button.button) == (Kind.BUTTON, "yes")
    [typed] = incoming_messages(message, [], offered={"no"})
    assert (typed.kind, typed.text, typed.button) == (Kind.TEXT, "Ha", None)


async def test_a_message_put_back_by_outbox_retry_is_tried_again_whatever_its_age(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """After an outage an operator puts the messages back; the burst meets WhatsApp's
    limit (63018): they are tried again, not given up at once for their age."""
    pushed = await a_template_pushed(wa, clock)
    await report(wa, pushed["Sid"], "failed", "30008")  # given up
    row = await push_row(wa)
    assert row.status == "failed"
    clock.advance(timedelta(hours=30))
    async with wa.app.db.transaction() as session:
        assert await outbox_admin.retry_failed(session, now=clock.now()) == [row.id]
    count = len(wa.sent_to(DILNOZA))
    for _ in range(24):
        await wa.app.sender.deliver_due()
        if len(wa.sent_to(DILNOZA)) > count:
            break
        clock.advance(timedelta(hours=1))
    [again] = wa.sent_to(DILNOZA)[count:]
    await report(wa, again["Sid"], "failed", "63018")
    row = await push_row(wa)
    assert (row.status, row.last_error) == ("pending", "twilio 63018")


async def test_a_screen_overtaken_by_a_later_one_is_not_sent_again(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """The main menu fails with 30001 after the next screen went out: sent again, it would
    come last and a typed number would be read against the newer screen."""
    await wa.onboard(DILNOZA)
    await wa.say(DILNOZA, "menyu")
    menu_sid = wa.sent_to(DILNOZA)[-1]["Sid"]
    later = await wa.say(DILNOZA, "1")
    await report(wa, wa.sent_to(DILNOZA)[-1]["Sid"], "delivered")
    await report(wa, menu_sid, "undelivered", "30001")
    clock.advance(timedelta(minutes=15))
    await wa.app.sender.deliver_due()
    assert wa.last_body(DILNOZA) == later
