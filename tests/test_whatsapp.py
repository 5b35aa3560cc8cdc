"""WhatsApp through Twilio, over real HTTP both ways: Twilio's signed webhooks are posted to the
production web app on a real socket, and replies leave through the real twilio client to a
local fake of Twilio's REST API (tests/fakes/twilio_server.py)."""

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import Application, build_application
from bot.channels.whatsapp import (
    TEMPLATE_VARIABLE_LIMIT,
    TwilioTransport,
    incoming_messages,
    one_line,
    parse_inbound,
    parts_of,
    render,
)
from bot.channels.whatsapp_web import MEDIA_QUEUE, TEXT_QUEUE, WhatsAppWebhook, build_webhook
from bot.engine import Handled
from bot.web import build_web_app
from handlers.incoming import Incoming, Kind, Location, Media, MediaRefusal, RefusalReason
from models import (
    Appeal,
    AppealCategory,
    AppealStatus,
    Attachment,
    ChannelAccount,
    HelpCase,
    InboundMessage,
    OutboxKind,
    OutboxMessage,
    Person,
)
from services import appeals, outbox
from services.clock import ManualClock
from services.messages import Choice, OutgoingMessage
from services.outbox import TemporaryFailure
from tests.conftest import SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.fakes.twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SENDER,
    FakeTwilio,
    inbound,
    media_message,
    post_signed,
    sign,
)

LOCALES = ("uz_Latn", "uz_Cyrl", "ru")  # the default first
PUBLIC = "https://wa.example.org"
WEBHOOK_URL = f"{PUBLIC}/whatsapp/webhook"
STATUS_URL = f"{PUBLIC}/whatsapp/status"
DILNOZA = "+998901234567"
TEMPLATES = {
    "uz_Latn": "HX" + "1" * 32,
    "uz_Cyrl": "HX" + "2" * 32,
    "ru": "HX" + "3" * 32,
}


@dataclass
class WhatsAppHarness:
    app: Application
    webhook: WhatsAppWebhook
    twilio: FakeTwilio
    http: aiohttp.ClientSession
    local_url: str  # where the web app listens
    posted: list[dict[str, str]] = field(default_factory=list)

    async def post(
        self,
        form: dict[str, str],
        *,
        path: str = "/whatsapp/webhook",
        signed_url: str | None = None,
        signature: str | None = "",
        token: str = AUTH_TOKEN,
    ) -> tuple[int, str, str]:
        """A request as Twilio makes it: signed for PUBLIC + path unless told otherwise."""
        self.posted.append(form)
        return await post_signed(
            self.http,
            f"{self.local_url}{path}",
            form,
            signed_url=signed_url or f"{PUBLIC}{path}",
            token=token,
            signature=signature,
        )

    async def settle(self) -> None:
        """The background work of the webhook done, and the outbox delivered."""
        await self.webhook.drain()
        await self.app.sender.deliver_due()

    async def send(self, form: dict[str, str]) -> None:
        status, _, _ = await self.post(form)
        assert status == 200
        await self.settle()

    async def say_nothing_yet(self, number: str, text: str) -> None:
        """Send a text as `number` when the reply is not expected to reach them (yet)."""
        await self.send(inbound(number, text))

    async def say(self, number: str, text: str, **extra: str) -> str:
        """Send a text as `number`; the last body sent back to them."""
        await self.send(inbound(number, text, **extra))
        return self.last_body(number)

    def sent_to(self, number: str) -> list[dict[str, str]]:
        return self.twilio.sent_to(number)

    def last_body(self, number: str) -> str:
        sent = self.sent_to(number)
        assert sent, f"nothing was sent to {number}"
        return sent[-1].get("Body", "")

    async def onboard(self, number: str, language: str = "1") -> None:
        await self.say(number, "Salom")
        await self.say(number, language)
        await self.say(number, "1")  # I agree

    async def rows(self, model: type[Any]) -> list[Any]:
        async with self.app.db.sessions() as session:
            return list(await session.scalars(select(model).order_by(model.id)))

    async def count(self, model: type[Any]) -> int:
        async with self.app.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def account(self, number: str) -> ChannelAccount:
        async with self.app.db.sessions() as session:
            account = await session.scalar(
                select(ChannelAccount).where(
                    ChannelAccount.channel == "whatsapp", ChannelAccount.external_id == number
                )
            )
            assert account is not None
            return account

    async def person(self, number: str) -> Person:
        account = await self.account(number)
        async with self.app.db.sessions() as session:
            person = await session.get(Person, account.person_id)
            assert person is not None
            return person


def numbered_lines(body: str) -> list[str]:
    """The choices of a body: its lines "N — label", in order."""
    return [line for line in body.splitlines() if line[:1].isdigit() and " — " in line]


def labels(body: str) -> list[str]:
    return [line.split(" — ", 1)[1] for line in numbered_lines(body)]


def utf16(text: str) -> int:
    """A length as Twilio counts it."""
    return len(text.encode("utf-16-le")) // 2


Harness = Callable[..., Awaitable[WhatsAppHarness]]


def twilio_settings(twilio: FakeTwilio, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "telegram_bot_token": None,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_whatsapp_from": SENDER,
        "twilio_api_base": twilio.base_url,
        "public_base_url": PUBLIC,
        "whatsapp_max_per_second": 1000.0,
        "twilio_template_uz_latn": TEMPLATES["uz_Latn"],
        "twilio_template_uz_cyrl": TEMPLATES["uz_Cyrl"],
        "twilio_template_ru": TEMPLATES["ru"],
    }
    values.update(overrides)
    return values


@asynccontextmanager
async def whatsapp_apps(
    make_settings: SettingsFactory,
    clock: ManualClock,
    telegram_session: Callable[[], RecordingSession] = RecordingSession,
) -> AsyncIterator[Harness]:
    """A fake Twilio, and a maker of production applications with WhatsApp (with whatever
    settings `overrides` change), each with its web app on a real socket. (The other
    test_whatsapp_* and test_staff_* files make their fixtures with it.)"""
    twilio = FakeTwilio()
    await twilio.start()
    cleanup: list[Callable[[], Awaitable[None]]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:

        async def make(**overrides: Any) -> WhatsAppHarness:
            settings = make_settings(**twilio_settings(twilio, **overrides))
            app = build_application(settings, clock=clock, telegram_session=telegram_session())
            assert app.whatsapp is not None
            webhook = build_webhook(app, lookup_pauses=(0.01, 0.01))
            runner = web.AppRunner(build_web_app(app.db, None, webhook), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]

            async def close() -> None:
                await runner.cleanup()
                await webhook.drain()
                await app.close()

            cleanup.append(close)
            return WhatsAppHarness(app, webhook, twilio, http, f"http://{host}:{port}")

        try:
            yield make
        finally:
            for close in reversed(cleanup):
                await close()
            await twilio.stop()


# -- the webhook: signatures, acknowledgement, redeliveries ---------------------------------


async def test_a_signed_message_is_acknowledged_with_empty_twiml_and_answered_by_the_outbox(
    wa: WhatsAppHarness,
) -> None:
    status, content_type, body = await wa.post(inbound(DILNOZA, "Salom"))
    assert (status, content_type) == (200, "text/xml")
    assert body == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

    await wa.settle()
    [sent] = wa.sent_to(DILNOZA)
    assert sent["From"] == SENDER
    assert sent["To"] == f"whatsapp:{DILNOZA}"
    assert sent["StatusCallback"] == STATUS_URL
    assert "ContentSid" not in sent  # a reply inside the window is free text
    assert "Iltimos, tilni tanlang." in sent["Body"]
    assert numbered_lines(sent["Body"]) == [
        "1 — ✓ Oʻzbekcha (lotin)",
        "2 — Ўзбекча (кирилл)",
        "3 — Русский",
    ]
    account = await wa.account(DILNOZA)  # the number in E.164, without "whatsapp:"
    assert account.external_id == DILNOZA
    [row] = await wa.rows(OutboxMessage)
    assert (row.channel, row.address, row.status) == ("whatsapp", DILNOZA, "sent")
    assert row.provider_id == sent["Sid"]
    [seen] = await wa.rows(InboundMessage)
    assert seen.ref == inbound_sid(wa, 0)


async def test_a_message_is_acknowledged_only_once_its_reply_is_in_the_outbox(
    wa: WhatsAppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio sends a message again only when its request got no answer: acknowledged before
    it was handled, a message would be lost with the process (kill -9)."""
    engine = wa.webhook._engine
    handle = engine.handle

    async def slow(incoming: Incoming) -> Handled:
        await asyncio.sleep(0.2)  # a busy moment: the work takes longer than the request
        return await handle(incoming)

    monkeypatch.setattr(engine, "handle", slow)
    status, _, _ = await wa.post(inbound(DILNOZA, "Salom"))
    assert status == 200
    [row] = await wa.rows(OutboxMessage)
    assert row.address == DILNOZA


async def test_a_flood_from_one_number_gets_one_notice_and_does_not_hold_others(
    wa: WhatsAppHarness,
) -> None:
    """WhatsApp's messages queue in the webhook (in order, their files checked meanwhile),
    not in the engine: the flood guard counts them there. A script's 100 at once: TEXT_QUEUE
    handled, one notice, the rest dropped; another person is answered as usual."""
    other = "+998907654321"
    await wa.onboard(DILNOZA)
    before = len(wa.sent_to(DILNOZA))
    flood = [wa.post(inbound(DILNOZA, f"salom {n}")) for n in range(100)]
    statuses = await asyncio.gather(*flood, wa.post(inbound(other, "Salom")))
    assert {status for status, _, _ in statuses} == {200}
    await wa.settle()

    bodies = [sent.get("Body", "") for sent in wa.sent_to(DILNOZA)[before:]]
    notice = (
        "Siz xabarlarni juda tez yubormoqdasiz. Iltimos, biroz kuting va xabarlarni "
        "bittadan yuboring."
    )
    assert bodies.count(notice) == 1
    # At least a queue's worth handled (more where some were done before the last came in),
    # each answered once; the rest dropped, nothing written for them.
    handled = len(bodies) - 1
    assert TEXT_QUEUE <= handled < 100 - TEXT_QUEUE
    assert await wa.count(InboundMessage) == 3 + handled + 1  # onboarding, flood, the other
    assert "Iltimos, tilni tanlang." in wa.last_body(other)
    assert len(wa.webhook._people) == 0  # no number queued


async def test_a_burst_a_phone_queued_while_offline_is_handled_whole(
    wa: WhatsAppHarness,
) -> None:
    """Back online, a phone hands over what it queued, and Twilio posts it all at once: 12
    texts (and an album of photos in its own line, tests/test_whatsapp_media.py) are a
    person's burst, not a flood. Each is handled and answered, none dropped, no notice."""
    await wa.onboard(DILNOZA)
    before, seen = len(wa.sent_to(DILNOZA)), await wa.count(InboundMessage)
    burst = [inbound(DILNOZA, f"Xabar {n}: ish beruvchi pasportni bermayapti") for n in range(12)]
    statuses = await asyncio.gather(*(wa.post(form) for form in burst))
    assert {status for status, _, _ in statuses} == {200}
    await wa.settle()

    assert await wa.count(InboundMessage) - seen == 12
    bodies = [sent.get("Body", "") for sent in wa.sent_to(DILNOZA)[before:]]
    assert len(bodies) == 12
    assert not [body for body in bodies if "juda tez" in body]  # no flood notice
    assert (len(wa.webhook._people), len(wa.webhook._waiting)) == (0, 0)
    assert 12 < TEXT_QUEUE < 100  # a script's 100 at once still is a flood
    assert MEDIA_QUEUE > 12


async def test_a_new_number_flooding_is_told_in_every_language(wa: WhatsAppHarness) -> None:
    """WhatsApp tells no language and a new chat has chosen none: the notice goes in all
    three, the default first, as the outage notice does."""
    newcomer = "+998905550000"
    await asyncio.gather(*(wa.post(inbound(newcomer, f"salom {n}")) for n in range(60)))
    await wa.settle()

    msgid = (
        "You are sending messages very fast. Please wait a moment and send one message at a time."
    )
    texts = [wa.app.catalogs.translator(locale).gettext(msgid) for locale in LOCALES]
    [notice] = [sent["Body"] for sent in wa.sent_to(newcomer) if texts[0] in sent["Body"]]
    assert [notice.index(text) for text in texts] == sorted(notice.index(t) for t in texts)
    assert len(set(texts)) == 3


def inbound_sid(wa: WhatsAppHarness, index: int) -> str:
    return wa.posted[index]["MessageSid"]


@pytest.mark.parametrize(
    ("signed_url", "token", "tamper"),
    [
        pytest.param("http://wa.example.org/whatsapp/webhook", AUTH_TOKEN, False, id="http"),
        pytest.param("https://evil.example.org/whatsapp/webhook", AUTH_TOKEN, False, id="host"),
        pytest.param(f"{PUBLIC}/whatsapp/status", AUTH_TOKEN, False, id="path"),
        pytest.param(f"{WEBHOOK_URL}?x=1", AUTH_TOKEN, False, id="query"),
        pytest.param("http://127.0.0.1/whatsapp/webhook", AUTH_TOKEN, False, id="local-address"),
        pytest.param(WEBHOOK_URL, "0" * 32, False, id="other-token"),
        pytest.param(WEBHOOK_URL, AUTH_TOKEN, True, id="tampered-body"),
    ],
)
async def test_a_request_not_signed_for_the_public_url_is_refused_and_ignored(
    wa: WhatsAppHarness, signed_url: str, token: str, tamper: bool
) -> None:
    form = inbound(DILNOZA, "Salom")
    signature = sign(signed_url, form, token)
    if tamper:
        form["Body"] = "STOP"
    status, _, _ = await wa.post(form, signature=signature)
    assert status == 403
    await wa.settle()
    assert wa.twilio.sent == []
    assert await wa.count(Person) == 0
    assert await wa.count(InboundMessage) == 0


async def test_the_signature_is_checked_against_the_public_url_behind_a_proxy(
    make_whatsapp: Harness,
) -> None:
    """Twilio calls https://example.org/vatandosh/whatsapp/webhook?src=tw; a proxy forwards
    it to http://127.0.0.1:PORT/whatsapp/webhook?src=tw."""
    wa = await make_whatsapp(public_base_url="https://example.org/vatandosh")
    path = "/whatsapp/webhook?src=tw"
    public = f"https://example.org/vatandosh{path}"
    assert (await wa.post(inbound(DILNOZA, "Salom"), path=path, signed_url=public))[0] == 200
    local = f"{wa.local_url}{path}"  # what the app itself sees: not what Twilio signed
    assert (await wa.post(inbound(DILNOZA, "Salom"), path=path, signed_url=local))[0] == 403
    await wa.settle()
    assert len(wa.sent_to(DILNOZA)) == 1
    assert wa.sent_to(DILNOZA)[0]["StatusCallback"] == (
        "https://example.org/vatandosh/whatsapp/status"
    )


async def test_a_request_without_signature_or_not_a_form_is_refused(wa: WhatsAppHarness) -> None:
    form = inbound(DILNOZA, "Salom")
    assert (await wa.post(form, signature=None))[0] == 403
    assert (await wa.post(form, signature="   "))[0] == 403
    signature = sign(WEBHOOK_URL, {})
    async with wa.http.post(
        f"{wa.local_url}/whatsapp/webhook",
        data=json.dumps(form),
        headers={"Content-Type": "application/json", "X-Twilio-Signature": signature},
    ) as response:
        assert response.status == 403  # the signature would not cover a JSON body
    await wa.settle()
    assert wa.twilio.sent == []
    assert await wa.count(Person) == 0


async def test_signed_requests_that_are_not_whatsapp_messages_are_acknowledged_and_ignored(
    wa: WhatsAppHarness,
) -> None:
    sms = inbound(DILNOZA, "Salom")
    sms["From"] = DILNOZA  # an SMS to the same Twilio number
    no_sid = inbound(DILNOZA, "Salom")
    no_sid["MessageSid"] = ""
    for form in (sms, no_sid):
        status, content_type, _ = await wa.post(form)
        assert (status, content_type) == (200, "text/xml")
    await wa.settle()
    assert wa.twilio.sent == []
    assert await wa.count(Person) == 0


async def test_the_profile_name_is_never_stored(wa: WhatsAppHarness) -> None:
    await wa.say(DILNOZA, "Salom", ProfileName="Dilnoza Karimova")
    async with wa.app.db.sessions() as session:
        for model in (Person, ChannelAccount, InboundMessage):
            for row in await session.scalars(select(model)):
                values = [str(getattr(row, c.key)) for c in model.__table__.columns]
                assert not any("Karimova" in value for value in values)


async def test_a_retried_message_sid_is_handled_once(wa: WhatsAppHarness) -> None:
    form = inbound(DILNOZA, "Salom")
    for _ in range(3):  # Twilio retries when it did not see our answer in time
        assert (await wa.post(form))[0] == 200
    await wa.settle()
    assert len(wa.sent_to(DILNOZA)) == 1
    assert await wa.count(InboundMessage) == 1
    await wa.say(DILNOZA, "3")  # Русский
    assert wa.last_body(DILNOZA).startswith("О Ваших персональных данных:")
    assert (await wa.post(form))[0] == 200  # a very late retry of the first message
    await wa.settle()
    assert len(wa.sent_to(DILNOZA)) == 2
    assert (await wa.person(DILNOZA)).locale == "ru"


# -- a whole conversation -------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


async def test_onboarding_and_an_appeal_with_a_photo_by_numbers_and_words(
    wa: WhatsAppHarness,
) -> None:
    assert labels(await wa.say(DILNOZA, "Здравствуйте")) == [
        "✓ Oʻzbekcha (lotin)",
        "Ўзбекча (кирилл)",
        "Русский",
    ]
    consent = await wa.say(DILNOZA, "русский")  # the words of a choice pick it
    assert consent.startswith("О Ваших персональных данных:")
    assert labels(consent) == ["Даю согласие", "Прочитать полностью", "Не даю согласия"]

    full = await wa.say(DILNOZA, "2")
    assert full.startswith("Уведомление о конфиденциальности")
    assert len(full) <= 1600
    assert labels(full) == ["Даю согласие", "Прочитать полностью", "Не даю согласия"]

    menu = await wa.say(DILNOZA, "даю согласие")
    assert labels(menu)[:2] == ["Консульский учёт", "Обращения"]
    assert (await wa.person(DILNOZA)).consented_at is not None

    assert labels(await wa.say(DILNOZA, "Обращения"))[0] == "Новое обращение"
    assert "О чём Ваше обращение?" in await wa.say(DILNOZA, "1")
    assert labels(await wa.say(DILNOZA, "2"))[0] == "За себя"  # unpaid wages
    assert "В какой стране Вы сейчас?" in await wa.say(DILNOZA, "за себя")
    assert "опишите ситуацию" in await wa.say(DILNOZA, "Россия")
    files = await wa.say(DILNOZA, "Работодатель три месяца не платит зарплату.")
    assert "Добавлено файлов: 0 из 10." in files

    url = wa.twilio.add_media(JPEG, "image/jpeg")
    await wa.send(media_message(DILNOZA, [(url, "image/jpeg")]))
    assert "Добавлено файлов: 1 из 10." in wa.last_body(DILNOZA)
    summary = await wa.say(DILNOZA, "Готово")
    assert "Файлы: 1" in summary
    assert labels(summary)[0] == "Отправить"
    sent = await wa.say(DILNOZA, "1")
    assert "Ваше обращение сохранено" in sent  # no staff group: not «sent to the consulate»
    assert "AP-2026-000001" in sent

    [appeal] = await wa.rows(Appeal)
    assert (appeal.reference, appeal.category) == ("AP-2026-000001", "unpaid_wages")
    [attachment] = await wa.rows(Attachment)
    assert attachment.appeal_id == appeal.id
    assert (attachment.channel, attachment.kind) == ("whatsapp", "photo")
    assert (attachment.file_ref, attachment.mime_type, attachment.size) == (
        url,
        "image/jpeg",
        len(JPEG),
    )
    # the file was looked at with the account's credentials; Twilio's storage never got them
    assert [(method, auth) for method, path, auth in wa.twilio.media_requests] == [
        ("HEAD", True),
        ("HEAD", False),
    ]

    for message in wa.twilio.sent:
        assert (message["From"], message["To"]) == (SENDER, f"whatsapp:{DILNOZA}")
        assert message["StatusCallback"] == STATUS_URL
        assert 0 < len(message["Body"]) <= 1600
    rows = await wa.rows(OutboxMessage)
    assert {row.status for row in rows} == {"sent"}
    assert [row.provider_id for row in rows] == [m["Sid"] for m in wa.twilio.sent]
    assert await wa.count(InboundMessage) == 13


async def test_keep_it_by_its_number_keeps_the_description_written_before(
    wa: WhatsAppHarness,
) -> None:
    """Help: a story written before the reason was chosen is offered back with «1 — Keep
    it» on a question that takes free text; the number keeps it, it does not become it."""
    await wa.onboard(DILNOZA, "1")  # uz_Latn
    await wa.say(DILNOZA, "menu")
    await wa.say(DILNOZA, "4")  # Help: talk to an operator
    story = "Ish beruvchi pasportimni olib qoʻydi va uch oydan beri maosh bermayapti."
    await wa.say(DILNOZA, story)
    describe = await wa.say(DILNOZA, "2")  # the passport was taken
    assert story in describe
    assert labels(describe) == ["Shunday qolsin"]
    await wa.say(DILNOZA, "1")  # keep it
    await wa.say(DILNOZA, "1")  # no place
    await wa.say(DILNOZA, "1")  # send without photos
    [case] = await wa.rows(HelpCase)
    assert wa.app.cipher.decrypt_text(case.description) == story


async def test_a_long_text_is_split_under_1600_characters_with_the_list_on_the_last_part(
    wa: WhatsAppHarness,
) -> None:
    paragraph = "Ishchi " * 120  # 840 characters
    choices = (Choice("a", "Birinchi"), Choice("b", "Ikkinchi"))
    message = OutgoingMessage("\n\n".join([paragraph.strip()] * 5), choices)
    transport = wa.app.whatsapp.transport if wa.app.whatsapp else None
    assert transport is not None
    sid = await transport.send(DILNOZA, message)
    bodies = [m["Body"] for m in wa.sent_to(DILNOZA)]
    assert sid == wa.twilio.sent[-1]["Sid"]
    assert len(bodies) == 3
    assert all(len(body) <= 1600 for body in bodies)
    assert numbered_lines(bodies[-1]) == ["1 — Birinchi", "2 — Ikkinchi"]
    assert all(numbered_lines(body) == [] for body in bodies[:-1])
    assert " ".join(" ".join(bodies).split()).count("Ishchi") == 600  # nothing lost


def test_rendering_numbered_lists_and_template_lines() -> None:
    choices = (Choice("a", "Ha"), Choice("b", "Yoʻq"))
    assert render(OutgoingMessage("Savol?", choices)) == ["Savol?\n\n1 — Ha\n2 — Yoʻq"]
    assert render(OutgoingMessage("Faqat matn")) == ["Faqat matn"]
    assert render(OutgoingMessage("")) == []
    long_list = tuple(Choice(str(n), "Variant " * 20) for n in range(20))
    parts = render(OutgoingMessage("Qisqa savol", long_list))
    assert all(len(part) <= 1600 for part in parts)
    assert parts[0].startswith("Qisqa savol\n\n1 — ")
    assert sum(len(numbered_lines(part)) for part in parts) == 20
    line = one_line(OutgoingMessage("Birinchi qator.\n\n  Ikkinchi\tqator.\n• band", choices))
    assert line == "Birinchi qator. Ikkinchi qator. • band (1 — Ha; 2 — Yoʻq)"


async def test_an_appeal_summary_never_splits_its_list_between_messages(
    wa: WhatsAppHarness,
) -> None:
    """A description that brings the summary just past 1,600 characters: the list went with
    its last lines cut off ("3 —" at the end of one message, "Bekor qilish" alone in the
    next). Now the list is whole, under the question or in a message of its own."""
    await wa.onboard(DILNOZA)
    for answer in ("2", "1", "2", "1", "1", "Ish beruvchi uch oydan beri maosh bermayapti."):
        await wa.say(DILNOZA, answer)
    await wa.say(DILNOZA, "Tayyor")  # no files: the summary, to confirm
    expected = ["1 — Yuborish", "2 — Matnni oʻzgartirish", "3 — Bekor qilish"]
    for repeats in (83, 84, 85):
        await wa.say(DILNOZA, "2")  # change the text
        before = len(wa.sent_to(DILNOZA))
        await wa.say(DILNOZA, ("Maosh berilmadi. " * repeats).strip())
        bodies = [sent["Body"] for sent in wa.sent_to(DILNOZA)[before:]]
        assert len(bodies) == 2, repeats
        assert all(len(body) <= 1600 for body in bodies)
        assert numbered_lines(bodies[0]) == []
        assert bodies[1] == "\n".join(expected)  # the list on its own, whole
        assert bodies[0].endswith("Konsullikka yuboraymi?")
    assert "Murojaatingiz saqlandi" in await wa.say(DILNOZA, "1")


WORD_BREAKS = st.sampled_from([" ", " ", " ", " ", "\n", "\n\n"])


@given(
    words=st.lists(st.tuples(st.integers(1, 30), WORD_BREAKS), max_size=220),
    label_sizes=st.lists(st.integers(1, 110), min_size=1, max_size=30),
    limit=st.sampled_from([1600, 400, 120]),
)
@example(  # the appeal summary above, rendered at 1,600 characters
    words=[(5, " "), (9, " ")] * 99 + [(11, "\n\n"), (22, "")],
    label_sizes=[8, 20, 12],
    limit=1600,
)
def test_a_rendered_list_line_is_never_split_and_no_body_is_too_long(
    words: list[tuple[int, str]], label_sizes: list[int], limit: int
) -> None:
    text = "".join("t" * size + gap for size, gap in words)
    choices = tuple(
        Choice(str(n), ("ab " * size)[:size].strip() or "z") for n, size in enumerate(label_sizes)
    )
    expected = [f"{n} — {choice.label}" for n, choice in enumerate(choices, 1)]
    parts = render(OutgoingMessage(text, choices), limit)
    assert all(0 < len(part) <= limit for part in parts)
    shown = [line for part in parts for line in part.split("\n") if " — " in line]
    assert shown == expected  # every option whole, in order, once
    with_list = [part for part in parts if " — " in part]
    if len("\n".join(expected)) <= limit:
        assert len(with_list) == 1  # a list that fits in a message comes in one
    assert " ".join(parts).split()[: len(text.split())] == text.split()  # the text, all of it


@given(
    words=st.lists(
        st.tuples(st.sampled_from(["Salom", "👋", "🙏🏽", "Ўзбек", "a"]), WORD_BREAKS), max_size=600
    ),
    label_sizes=st.lists(st.integers(1, 60), max_size=8),
    limit=st.sampled_from([1600, 400, 120]),
)
def test_no_body_or_template_piece_is_longer_than_twilio_counts(
    words: list[tuple[str, str]], label_sizes: list[int], limit: int
) -> None:
    """Twilio counts UTF-16 code units: an emoji is two (with a skin tone, four)."""
    text = "".join(word + gap for word, gap in words)
    choices = tuple(Choice(str(n), "😀 " * size) for n, size in enumerate(label_sizes))
    parts = parts_of(OutgoingMessage(text, choices), limit)
    assert all(0 < utf16(part.body) <= limit for part in parts)
    pieces = [piece for part in parts for piece in part.pieces]
    assert all(0 < utf16(piece) <= TEMPLATE_VARIABLE_LIMIT for piece in pieces)
    assert " ".join(part.body for part in parts).split()[: len(text.split())] == text.split()
    assert " ".join(pieces).split()[: len(text.split())] == text.split()


# -- pushes and the 24-hour window ----------------------------------------------------------


async def operator_writes(wa: WhatsAppHarness, message: str = "Qayerdasiz?") -> None:
    """A consulate operator moves the person's appeal on (filed first if there is none);
    the notice is pushed and the outbox delivered."""
    app = wa.app
    now = app.clock.now()
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        appeal = await session.scalar(select(Appeal))
        if appeal is None:
            appeal = await appeals.file_appeal(
                session, app.cipher, app.desk, person=person, category=AppealCategory.OTHER,
                text="Savol", now=now,
            )  # fmt: skip
        status = AppealStatus.NEEDS_INFO if appeal.status == "in_review" else AppealStatus.IN_REVIEW
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal, status, actor="operator:1", now=now,
            message=message,
        )  # fmt: skip
    await app.sender.deliver_due()


async def test_a_push_inside_the_window_is_free_text_split_under_1600_characters(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await wa.onboard(DILNOZA, "3")
    clock.advance(timedelta(hours=23))
    answer = "Пожалуйста, пришлите копию договора. " * 70  # an operator's long answer
    before = len(wa.sent_to(DILNOZA))
    await operator_writes(wa, answer)
    pushed = wa.sent_to(DILNOZA)[before:]
    assert len(pushed) == 2
    assert all("ContentSid" not in m and 0 < len(m["Body"]) <= 1600 for m in pushed)
    assert pushed[0]["Body"].startswith("Ваше обращение AP-2026-000001")
    [row] = [r for r in await wa.rows(OutboxMessage) if r.kind == OutboxKind.PUSH]
    assert (row.status, row.provider_id) == ("sent", pushed[-1]["Sid"])


async def test_outside_the_window_a_push_goes_as_the_locale_template_never_as_free_text(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await wa.onboard(DILNOZA, "2")  # Ўзбекча (кирилл)
    clock.advance(timedelta(hours=24, minutes=1))
    before = len(wa.sent_to(DILNOZA))
    await operator_writes(wa, "Қаердасиз?\nЖавоб беринг.")
    [pushed] = wa.sent_to(DILNOZA)[before:]
    assert "Body" not in pushed
    assert pushed["ContentSid"] == TEMPLATES["uz_Cyrl"]
    assert (pushed["From"], pushed["StatusCallback"]) == (SENDER, STATUS_URL)
    variables = json.loads(pushed["ContentVariables"])
    assert list(variables) == ["1"]
    assert variables["1"].startswith("Мурожаатингиз AP-2026-000001")
    assert "Қаердасиз? Жавоб беринг." in variables["1"]
    assert "\n" not in variables["1"]
    assert "    " not in variables["1"]
    [row] = [r for r in await wa.rows(OutboxMessage) if r.kind == OutboxKind.PUSH]
    assert (row.status, row.provider_id) == ("sent", pushed["Sid"])

    # a long one: several template messages, each variable within WhatsApp's limits
    before = len(wa.sent_to(DILNOZA))
    await operator_writes(wa, "Шартнома нусхасини юборинг. " * 60)
    pushed_parts = wa.sent_to(DILNOZA)[before:]
    assert len(pushed_parts) >= 2
    texts = [json.loads(part["ContentVariables"])["1"] for part in pushed_parts]
    assert all(0 < len(text) <= 900 and "\n" not in text for text in texts)
    assert all("Body" not in part for part in pushed_parts)
    assert " ".join(texts).count("Шартнома нусхасини юборинг.") == 60  # nothing lost

    # the person writes: the window is open again, replies are free text
    menu = await wa.say(DILNOZA, "меню")
    assert labels(menu)[0] == "Консуллик ҳисоби"
    assert "ContentSid" not in wa.sent_to(DILNOZA)[-1]


async def test_outside_the_window_without_a_template_the_message_is_recorded_as_not_sent(
    make_whatsapp: Harness, clock: ManualClock
) -> None:
    wa = await make_whatsapp(twilio_template_ru=None)
    await wa.onboard(DILNOZA, "3")
    clock.advance(timedelta(days=2))
    before = len(wa.twilio.sent)
    await operator_writes(wa)
    assert len(wa.twilio.sent) == before  # nothing reached Twilio
    [row] = [r for r in await wa.rows(OutboxMessage) if r.kind == OutboxKind.PUSH]
    assert row.status == "failed"
    assert row.last_error == (
        "rejected: outside the 24-hour window and no template for ru (TWILIO_TEMPLATE_RU)"
    )
    assert (await wa.account(DILNOZA)).reachable  # nothing wrong with the person


# -- Twilio's refusals ----------------------------------------------------------------------


async def test_a_429_and_a_server_error_are_survived_and_the_order_is_kept(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    wa.twilio.fail_next(429, 20429)
    await wa.say_nothing_yet(DILNOZA, "Salom")
    [row] = await wa.rows(OutboxMessage)
    assert (row.status, row.last_error) == ("pending", "twilio 20429")
    await wa.send(inbound(DILNOZA, "1"))  # arrives while the channel waits
    assert wa.twilio.sent == []

    clock.advance(timedelta(seconds=2))
    wa.twilio.fail_next(503, None)
    await wa.app.sender.deliver_due()
    assert wa.twilio.sent == []
    first, _second = await wa.rows(OutboxMessage)
    assert (first.status, first.last_error, first.attempts) == ("pending", "twilio 503", 2)

    clock.advance(timedelta(seconds=10))
    await wa.app.sender.deliver_due()
    bodies = [m["Body"] for m in wa.sent_to(DILNOZA)]
    assert len(bodies) == 2
    assert "Iltimos, tilni tanlang." in bodies[0]  # the first reply first
    assert bodies[1].startswith("Shaxsiy maʼlumotlaringiz haqida")
    assert wa.twilio.attempts == 4
    assert {row.status for row in await wa.rows(OutboxMessage)} == {"sent"}


async def queue(
    wa: WhatsAppHarness, message: OutgoingMessage, kind: OutboxKind = OutboxKind.REPLY
) -> None:
    async with wa.app.db.transaction() as session:
        outbox.enqueue(
            session, wa.app.cipher, person_id=None, channel="whatsapp", address=DILNOZA,
            messages=[message], now=wa.app.clock.now(), kind=kind,
        )  # fmt: skip


def variables(sent: list[dict[str, str]]) -> list[str]:
    return [json.loads(m["ContentVariables"])["1"] for m in sent]


LONG = OutgoingMessage("\n\n".join([("Ishchi " * 140).strip()] * 2), (Choice("a", "Ha"),))


@pytest.mark.parametrize(("status", "code"), [(503, None), (429, 20429)])
async def test_a_long_message_refused_midway_goes_on_from_the_part_not_yet_accepted(
    wa: WhatsAppHarness, clock: ManualClock, status: int, code: int | None
) -> None:
    """Twilio took the first part and refused the second: the retry sends the second only
    (the first again was a paid duplicate on the person's phone). The count is the row's:
    the same message queued again goes whole."""
    await wa.onboard(DILNOZA)
    parts = render(LONG)
    assert len(parts) == 2
    before = len(wa.sent_to(DILNOZA))
    wa.twilio.fail_next(status, code, after=1)
    await queue(wa, LONG)
    await wa.app.sender.deliver_due()
    clock.advance(timedelta(seconds=10))
    await wa.app.sender.deliver_due()
    await queue(wa, LONG)
    await wa.app.sender.deliver_due()

    sent = wa.sent_to(DILNOZA)[before:]
    assert [m["Body"] for m in sent] == parts + parts
    rows = (await wa.rows(OutboxMessage))[-2:]
    assert [(r.status, r.parts_sent, r.provider_id) for r in rows] == [
        ("sent", 0, sent[1]["Sid"]),
        ("sent", 0, sent[3]["Sid"]),
    ]


async def test_a_long_template_refused_midway_goes_on_from_the_part_not_yet_accepted(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """Outside the window a long message goes as several templates (paid each): one refused
    after the first was taken sends the rest only."""
    await wa.onboard(DILNOZA, "2")
    clock.advance(timedelta(hours=25))
    message = OutgoingMessage("Шартнома нусхасини юборинг. " * 60)
    before = len(wa.sent_to(DILNOZA))
    wa.twilio.fail_next(503, after=1)
    await queue(wa, message, OutboxKind.PUSH)
    await wa.app.sender.deliver_due()
    clock.advance(timedelta(seconds=10))
    await wa.app.sender.deliver_due()

    texts = variables(wa.sent_to(DILNOZA)[before:])
    assert len(texts) == 2
    assert " ".join(texts).count("Шартнома нусхасини юборинг.") == 60  # each sentence once
    assert (await wa.rows(OutboxMessage))[-1].status == "sent"


async def test_a_message_that_goes_on_after_the_window_closed_goes_on_as_the_template(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """The first part went as free text, the second was refused, and the window closed
    before the retry: the rest goes as the template, without the first part again."""
    await wa.onboard(DILNOZA)
    first, second = render(LONG)
    before = len(wa.sent_to(DILNOZA))
    wa.twilio.fail_next(503, after=1)
    await queue(wa, LONG, OutboxKind.PUSH)
    await wa.app.sender.deliver_due()
    clock.advance(timedelta(hours=25))
    await wa.app.sender.deliver_due()

    sent = wa.sent_to(DILNOZA)[before:]
    assert sent[0]["Body"] == first
    text, listing = second.split("\n\n")
    assert variables(sent[1:]) == [f"{' '.join(text.split())} ({listing})"]


async def test_a_message_that_goes_on_after_the_window_opened_skips_nothing(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """The first template went, the second was refused, and the person wrote before the
    retry: the rest goes as free text, and nothing of the message is left out (the free
    part the first template carried a piece of goes whole)."""
    await wa.onboard(DILNOZA, "3")
    clock.advance(timedelta(hours=25))
    message = OutgoingMessage("Пришлите копию договора. " * 80)
    before = len(wa.sent_to(DILNOZA))
    wa.twilio.fail_next(503, after=1)
    await queue(wa, message, OutboxKind.PUSH)
    await wa.app.sender.deliver_due()
    [template] = wa.sent_to(DILNOZA)[before:]
    await wa.say(DILNOZA, "меню")  # waits behind the message being retried
    clock.advance(timedelta(seconds=10))
    await wa.app.sender.deliver_due()

    sent = wa.sent_to(DILNOZA)[before:]
    assert sent[0] == template
    bodies = [m["Body"] for m in sent[1:-1]]
    assert bodies == render(message)
    assert sent[-1]["Body"].startswith("Главное меню")


async def test_a_body_is_measured_as_twilio_measures_it_an_emoji_counts_two(
    wa: WhatsAppHarness,
) -> None:
    """1,599 characters, but 1,799 for Twilio (UTF-16: an emoji outside the basic plane
    is two): one body was refused for good (21617) and the message lost."""
    await wa.onboard(DILNOZA)
    message = OutgoingMessage(("Salom 👋 " * 200).strip())
    assert len(message.text) <= 1600 < utf16(message.text)
    assert wa.app.whatsapp is not None
    await wa.app.whatsapp.transport.send(DILNOZA, message)
    bodies = [m["Body"] for m in wa.sent_to(DILNOZA)[-2:]]
    assert all(utf16(body) <= 1600 for body in bodies)
    assert " ".join(bodies).split() == message.text.split()


async def test_a_timeout_is_a_temporary_failure(wa: WhatsAppHarness) -> None:
    assert wa.app.whatsapp is not None
    transport = TwilioTransport(
        wa.app.whatsapp.config, wa.app.db, wa.app.clock, wa.app.catalogs, timeout=0.2
    )
    wa.twilio.delay_next(1.0)
    try:
        with pytest.raises(TemporaryFailure, match="TimeoutError"):
            await transport.send(DILNOZA, OutgoingMessage("Salom"))
    finally:
        await transport.close()


@pytest.mark.parametrize("code", [63014, 63003, 63024, 21610])
async def test_a_blocked_or_unknown_number_makes_the_account_unreachable(
    wa: WhatsAppHarness, code: int
) -> None:
    await wa.onboard(DILNOZA)
    wa.twilio.fail_next(400, code)
    await wa.send(inbound(DILNOZA, "menyu"))
    row = (await wa.rows(OutboxMessage))[-1]
    assert (row.status, row.last_error) == ("failed", f"unreachable: twilio {code}")
    account = await wa.account(DILNOZA)
    assert not account.reachable
    assert account.unreachable_since is not None
    await wa.say(DILNOZA, "menyu")  # writing again makes them reachable
    assert (await wa.account(DILNOZA)).reachable


async def test_another_refusal_is_kept_as_rejected_with_the_code_only(wa: WhatsAppHarness) -> None:
    wa.twilio.fail_next(400, 21211)
    await wa.say_nothing_yet(DILNOZA, "Salom")
    [row] = await wa.rows(OutboxMessage)
    assert (row.status, row.last_error) == ("failed", "rejected: twilio 21211")
    assert (await wa.account(DILNOZA)).reachable


async def test_63016_at_send_time_is_retried_once_as_the_template(wa: WhatsAppHarness) -> None:
    await wa.onboard(DILNOZA, "3")
    wa.twilio.fail_next(400, 63016)  # Twilio thinks the window is closed
    before = len(wa.twilio.sent)
    await wa.send(inbound(DILNOZA, "меню"))
    [sent] = wa.twilio.sent[before:]
    assert sent["ContentSid"] == TEMPLATES["ru"]
    assert "Body" not in sent
    assert json.loads(sent["ContentVariables"])["1"].startswith("Главное меню.")
    row = (await wa.rows(OutboxMessage))[-1]
    assert (row.status, row.provider_id) == ("sent", sent["Sid"])


async def test_63016_at_send_time_without_a_template_is_recorded_as_not_sent(
    make_whatsapp: Harness,
) -> None:
    wa = await make_whatsapp(twilio_template_uz_latn=None)
    wa.twilio.fail_next(400, 63016)
    await wa.say_nothing_yet(DILNOZA, "Salom")
    [row] = await wa.rows(OutboxMessage)
    assert row.status == "failed"
    assert row.last_error == (
        "rejected: outside the 24-hour window and no template for uz_Latn (TWILIO_TEMPLATE_UZ_LATN)"
    )
    assert wa.twilio.sent == []


def test_webhook_fields_become_incoming_messages() -> None:
    def one(**fields: str) -> Incoming:
        message = parse_inbound(inbound(DILNOZA, **fields))
        assert message is not None
        [incoming] = incoming_messages(message, [])
        assert (incoming.channel, incoming.external_id) == ("whatsapp", DILNOZA)
        assert incoming.ref == message.sid
        return incoming

    assert one(body="Salom").kind is Kind.TEXT
    status = one(body="/status AP-2026-000001")
    assert (status.kind, status.command, status.command_args) == (
        Kind.COMMAND,
        "status",
        "AP-2026-000001",
    )
    button = one(body="Ha", ButtonPayload="yes")
    assert (button.kind, button.button) == (Kind.BUTTON, "yes")
    place = one(Latitude="41.3111", Longitude="69.2797", MessageType="location")
    assert place.kind is Kind.LOCATION
    assert place.location == Location(41.3111, 69.2797)
    assert one(Latitude="541", Longitude="69").kind is Kind.UNSUPPORTED  # not a place
    assert one(body="  ", MessageType="reaction").kind is Kind.UNSUPPORTED

    # several files in one message: one Incoming each, the caption with the first
    form = media_message(DILNOZA, [("u0", "image/jpeg"), ("u1", "video/mp4")], "Hujjatlar")
    message = parse_inbound(form)
    assert message is not None
    photo = Media("photo", "u0", "image/jpeg", 10)
    refused = MediaRefusal(RefusalReason.SIZE, 5)
    first, second = incoming_messages(message, [photo, refused])
    assert (first.kind, first.text, first.media, first.ref) == (
        Kind.MEDIA,
        "Hujjatlar",
        photo,
        message.sid,
    )
    assert (second.kind, second.refusal, second.ref) == (
        Kind.MEDIA_REFUSED,
        refused,
        f"{message.sid}:1",
    )

    for broken in ({"From": DILNOZA}, {"From": "whatsapp:998901"}, {"MessageSid": "SM1"}):
        assert parse_inbound({**inbound(DILNOZA, "Salom"), **broken}) is None


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param("ж" * 10_000, id="10000-characters"),
        pytest.param("😀🙏🏽👍", id="emoji"),
        pytest.param("\u200b\u200c\u200d\ufeff", id="zero-width"),
        pytest.param("1'; DROP TABLE person; --", id="sql"),
    ],
)
async def test_hostile_input_over_whatsapp_gets_a_hint_and_the_same_question(
    wa: WhatsAppHarness, hostile: str
) -> None:
    await wa.onboard(DILNOZA, "3")
    menu = wa.last_body(DILNOZA)
    reply = await wa.say(DILNOZA, hostile)
    assert reply != menu
    assert reply.endswith(menu.split("\n\n", 1)[1])  # the menu again, after a hint
    assert numbered_lines(reply) == numbered_lines(menu)
    assert len(reply) <= 1600
    sticker = wa.twilio.add_media(b"RIFF....WEBP", "image/webp")
    await wa.send(media_message(DILNOZA, [(sticker, "image/webp")]))
    assert numbered_lines(wa.last_body(DILNOZA)) == numbered_lines(menu)
    assert await wa.count(Person) == 1


# -- a family invitation, forwarded as people do -----------------------------------------------


@pytest.mark.parametrize("sent", ["the forwarded message", "the forwarded line", "the code alone"])
async def test_a_family_invitation_forwarded_whole_or_its_code_alone_joins(
    wa: WhatsAppHarness, sent: str
) -> None:
    """The migrant gets the invitation as a message of its own («… send: FAMILY 12345678»,
    no menu under it: WhatsApp forwards whole messages); her mother forwards it, or copies
    its line, or sends the code alone. Each was once a greeting and the language question:
    the invitation was never used and nobody was told."""
    mother = "+998935550011"
    await wa.onboard(DILNOZA, "1")
    for answer in ("menu", "5", "3", "1"):  # family → my family → invite
        await wa.say(DILNOZA, answer)
    await wa.say(DILNOZA, "Onam")
    invitation = wa.sent_to(DILNOZA)[-2]["Body"]  # a message of its own, to forward
    line = next(line for line in invitation.splitlines() if "FAMILY" in line)
    found = re.search(r"FAMILY (\d+)", line)
    assert found is not None
    forwarded = {"the forwarded message": invitation, "the forwarded line": line}
    await wa.say(mother, forwarded.get(sent, found[1]))
    await wa.say(mother, "1")  # Oʻzbekcha (lotin)
    await wa.say(mother, "1")  # I agree: she joins
    told = [m["Body"] for m in wa.sent_to(DILNOZA)][-1]
    assert "oila taklifnomangiz (Onam) bilan" in told
