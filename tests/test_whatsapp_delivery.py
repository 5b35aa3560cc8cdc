"""What Twilio reports after sending (status callbacks), and STOP/START over WhatsApp."""

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from models import ChannelAccount, OutboxKind, OutboxMessage
from services.clock import ManualClock
from tests.fakes.twilio_server import new_sid, status_callback
from tests.test_whatsapp import (
    DILNOZA,
    STATUS_URL,
    TEMPLATES,
    WEBHOOK_URL,
    Harness,
    WhatsAppHarness,
    operator_writes,
)


async def report(wa: WhatsAppHarness, sid: str, status: str, code: str | None = None) -> None:
    """Twilio's status callback, signed for the status URL; then its work done."""
    answer = await wa.post(status_callback(sid, status, code), path="/whatsapp/status")
    assert answer[:2] == (200, "text/xml")
    await wa.settle()


async def last_row(wa: WhatsAppHarness) -> OutboxMessage:
    row: OutboxMessage = (await wa.rows(OutboxMessage))[-1]
    return row


async def test_each_status_is_stored_on_the_message_and_never_goes_back(
    wa: WhatsAppHarness,
) -> None:
    await wa.say(DILNOZA, "Salom")
    sid = wa.twilio.sent[-1]["Sid"]
    for status in ("queued", "sent", "delivered", "read"):
        await report(wa, sid, status)
        row = await last_row(wa)
        assert (row.provider_id, row.delivery_status, row.delivery_error) == (sid, status, None)
    await report(wa, sid, "delivered")  # late news of an earlier stage
    assert (await last_row(wa)).delivery_status == "read"
    assert (await last_row(wa)).status == "sent"


@pytest.mark.parametrize("status", ["failed", "undelivered"])
async def test_a_failure_is_stored_with_its_code_and_the_message_as_not_sent(
    wa: WhatsAppHarness, status: str
) -> None:
    """Twilio does not try again: the message is given up (as failed rows are, to be told
    and put back), and the account stays reachable."""
    await wa.say(DILNOZA, "Salom")
    await report(wa, wa.twilio.sent[-1]["Sid"], status, "30008")
    row = await last_row(wa)
    assert (row.delivery_status, row.delivery_error) == (status, "30008")
    assert (row.status, row.last_error) == ("failed", "not delivered: twilio 30008")
    assert (await wa.account(DILNOZA)).reachable


async def test_a_blocked_number_reported_later_makes_the_account_unreachable(
    wa: WhatsAppHarness,
) -> None:
    await wa.say(DILNOZA, "Salom")
    await report(wa, wa.twilio.sent[-1]["Sid"], "sent")
    await report(wa, wa.twilio.sent[-1]["Sid"], "undelivered", "63024")
    row = await last_row(wa)
    assert (row.delivery_status, row.delivery_error) == ("undelivered", "63024")
    assert (row.status, row.last_error) == ("failed", "unreachable: twilio 63024")
    assert not (await wa.account(DILNOZA)).reachable


async def test_63016_reported_later_resends_the_message_once_as_the_template(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await wa.onboard(DILNOZA, "3")
    first = wa.twilio.sent[-1]
    await report(wa, first["Sid"], "failed", "63016")
    resent = wa.twilio.sent[-1]
    assert resent["Sid"] != first["Sid"]
    assert "Body" not in resent
    assert resent["ContentSid"] == TEMPLATES["ru"]
    assert json.loads(resent["ContentVariables"])["1"].startswith("Спасибо.")
    row = await last_row(wa)
    assert (row.status, row.provider_id, row.delivery_error) == ("sent", resent["Sid"], "63016")
    assert row.delivery_status is None

    # Twilio said the window is closed: until the person writes, messages are templates
    await operator_writes(wa)
    assert "ContentSid" in wa.twilio.sent[-1]

    # a repeat of the old callback changes nothing; a second 63016 is not retried again
    count = len(wa.twilio.sent)
    await report(wa, first["Sid"], "failed", "63016")
    await report(wa, resent["Sid"], "failed", "63016")
    assert len(wa.twilio.sent) == count
    resent_row = next(r for r in await wa.rows(OutboxMessage) if r.provider_id == resent["Sid"])
    assert resent_row.status == "failed"
    assert resent_row.last_error == "not sent: twilio 63016 again, also as a template"

    clock.advance(timedelta(minutes=1))
    menu = await wa.say(DILNOZA, "меню")  # a new message opens the window again
    assert "ContentSid" not in wa.twilio.sent[-1]
    assert menu.startswith("Главное меню.")


async def test_63016_reported_later_without_a_template_is_recorded_as_not_sent(
    make_whatsapp: Harness,
) -> None:
    wa = await make_whatsapp(twilio_template_uz_latn=None)
    await wa.say(DILNOZA, "Salom")
    count = len(wa.twilio.sent)
    await report(wa, wa.twilio.sent[-1]["Sid"], "undelivered", "63016")
    assert len(wa.twilio.sent) == count
    row = await last_row(wa)
    assert (row.status, row.delivery_status, row.delivery_error) == (
        "failed",
        "undelivered",
        "63016",
    )
    assert row.last_error == (
        "not sent: outside the 24-hour window (twilio 63016) and no template for uz_Latn "
        "(TWILIO_TEMPLATE_UZ_LATN)"
    )


async def set_provider_id(wa: WhatsAppHarness, row_id: int, sid: str | None) -> None:
    async with wa.app.db.transaction() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == row_id).values(provider_id=sid)
        )


async def test_a_status_that_comes_before_the_sid_is_stored_is_recorded_once_it_is(
    wa: WhatsAppHarness,
) -> None:
    """Twilio may report before the sender has committed the message's sid (seen in CI:
    "delivered" lost between Twilio's answer and the sender's mark)."""
    await wa.say(DILNOZA, "Salom")
    sid = wa.twilio.sent[-1]["Sid"]
    row_id = (await last_row(wa)).id
    await set_provider_id(wa, row_id, None)  # as before the sender's mark is committed
    answer = await wa.post(status_callback(sid, "delivered"), path="/whatsapp/status")
    assert answer[:2] == (200, "text/xml")
    await asyncio.sleep(0.005)  # the first lookup finds nothing
    await set_provider_id(wa, row_id, sid)  # the mark is committed
    await wa.settle()
    assert (await last_row(wa)).delivery_status == "delivered"


async def test_unknown_sids_and_unknown_statuses_are_acknowledged_and_ignored(
    wa: WhatsAppHarness,
) -> None:
    await wa.say(DILNOZA, "Salom")
    before = [(r.status, r.delivery_status) for r in await wa.rows(OutboxMessage)]
    await report(wa, new_sid(), "delivered")
    await report(wa, new_sid(), "failed", "63016")
    await report(wa, wa.twilio.sent[-1]["Sid"], "exploded")
    assert [(r.status, r.delivery_status) for r in await wa.rows(OutboxMessage)] == before


async def test_status_callbacks_must_be_signed_for_the_status_url(wa: WhatsAppHarness) -> None:
    await wa.say(DILNOZA, "Salom")
    form = status_callback(wa.twilio.sent[-1]["Sid"], "delivered")
    for signed_url in (WEBHOOK_URL, STATUS_URL.replace("https", "http")):
        answer = await wa.post(form, path="/whatsapp/status", signed_url=signed_url)
        assert answer[0] == 403
    assert (await wa.post(form, path="/whatsapp/status", signature=None))[0] == 403
    await wa.settle()
    assert (await last_row(wa)).delivery_status is None


# -- STOP and START ------------------------------------------------------------------------


async def test_after_stop_no_push_is_sent_and_after_start_it_is(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await wa.onboard(DILNOZA, "1")
    stopped = await wa.say(DILNOZA, "TO'XTAT")
    assert stopped.startswith("Endi bu yerda sizga bildirishnomalar yubormaymiz.")
    assert (await wa.account(DILNOZA)).opted_out_at is not None

    count = len(wa.twilio.sent)
    await operator_writes(wa)
    assert len(wa.twilio.sent) == count  # the status notice was not pushed
    push = await last_row(wa)
    assert (push.kind, push.status, push.last_error) == (
        OutboxKind.PUSH,
        "failed",
        "opted out (STOP)",
    )
    assert (await wa.say(DILNOZA, "menyu")).startswith("Asosiy menyu.")  # replies still go

    back = await wa.say(DILNOZA, "START")
    assert back.startswith("Bildirishnomalar qayta yoqildi.")
    clock.advance(timedelta(minutes=5))
    await operator_writes(wa)
    assert wa.last_body(DILNOZA).startswith("Murojaatingiz AP-2026-000001")
    assert (await last_row(wa)).status == "sent"


async def test_stop_in_cyrillic_and_russian_and_as_a_first_message(wa: WhatsAppHarness) -> None:
    for number, word in (("+998901111111", "ТЎХТАТ"), ("+79161234567", "стоп")):
        await wa.say(number, word)
        account = await wa.account(number)
        assert isinstance(account, ChannelAccount)
        assert account.opted_out_at is not None
    assert wa.twilio.sent_to("+79161234567")[-1]["Body"]
    assert await wa.count(OutboxMessage) == 2
