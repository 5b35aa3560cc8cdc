"""`vatandosh run` started while Twilio or Telegram is away (a network blip during a restart,
the provider's own outage): it serves what it can and warns; only a provider's answer that
the settings are wrong stops start-up (tests/test_whatsapp_run.py, test_run_over_http.py)."""

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]

from bot import server
from bot.errors import StartupError
from tests.conftest import TEST_TOKEN
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeBotAPI
from tests.fakes.twilio_server import AUTH_TOKEN, FakeTwilio
from tests.test_run_over_http import Vatandosh, assert_clean_exit, next_message_to
from tests.test_whatsapp_run import (
    DILNOZA,
    STEP_TIMEOUT,
    _free_port,
    say,
    vatandosh_run,
    whatsapp_settings,
)

ALICE = 5550001


class TwilioFailingTheAccountCheck(FakeTwilio):
    """Twilio with its account resource failing (503), messages accepted as usual."""

    async def _fetch_account(self, request: web.Request) -> web.Response:
        self.account_fetches += 1
        return self._error(503, 20500, "Service Unavailable")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT)) as session:
        yield session


def with_telegram(settings: dict[str, str], api_base: str) -> dict[str, str]:
    return {**settings, "TELEGRAM_BOT_TOKEN": TEST_TOKEN, "TELEGRAM_API_BASE": api_base}


def assert_no_secrets(vatandosh: Vatandosh) -> None:
    log = vatandosh.stderr()
    assert AUTH_TOKEN not in log
    assert TEST_TOKEN not in log


async def test_telegram_is_served_while_twilio_cannot_be_reached(
    database_url: str, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    twilio = FakeTwilio(base_url=f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    bot_api = FakeBotAPI()
    await bot_api.start()
    settings = with_telegram(whatsapp_settings(database_url, twilio), bot_api.base_url)
    try:
        async with vatandosh_run(tmp_path, settings) as vatandosh:
            assert (await vatandosh.wait_healthy(http))["status"] == "ok"
            bot_api.push_update(tg.command(ALICE, "/start"))
            language = await next_message_to(vatandosh, bot_api, ALICE, 0)
            assert "Iltimos, tilni tanlang." in language["text"]
            assert_clean_exit(await vatandosh.stop(), vatandosh)
    finally:
        await bot_api.stop()
    warnings = [line for line in vatandosh.stderr().splitlines() if "Twilio did not" in line]
    assert len(warnings) == 1, vatandosh.stderr()
    assert "(ClientConnectorError)" in warnings[0]
    assert "telegram=True whatsapp=True" in vatandosh.stderr()
    assert_no_secrets(vatandosh)


async def test_whatsapp_is_served_when_twilio_fails_the_account_check(
    database_url: str, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """A 5xx from Twilio says nothing about the settings: WhatsApp is served, and the
    replies go through once Twilio takes messages."""
    twilio = TwilioFailingTheAccountCheck()
    await twilio.start()
    try:
        async with vatandosh_run(tmp_path, whatsapp_settings(database_url, twilio)) as vatandosh:
            assert (await vatandosh.wait_healthy(http))["status"] == "ok"
            assert twilio.account_fetches == 1
            reply = await say(vatandosh, http, twilio, "Assalomu alaykum")
            assert "Oʻzbekcha (lotin)" in reply
            assert_clean_exit(await vatandosh.stop(), vatandosh)
    finally:
        await twilio.stop()
    assert "Twilio answered HTTP 503 at start-up" in vatandosh.stderr()
    assert_no_secrets(vatandosh)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    server = FakeTwilio()
    await server.start()
    yield server
    await server.stop()


async def test_whatsapp_is_served_while_telegram_cannot_be_reached(
    database_url: str, tmp_path: Path, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    nowhere = f"http://127.0.0.1:{_free_port()}"
    settings = with_telegram(whatsapp_settings(database_url, twilio), nowhere)
    async with vatandosh_run(tmp_path, settings) as vatandosh:
        assert (await vatandosh.wait_healthy(http))["status"] == "ok"
        assert "Oʻzbekcha (lotin)" in await say(vatandosh, http, twilio, "Assalomu alaykum")
        assert_clean_exit(await vatandosh.stop(), vatandosh)
    log = vatandosh.stderr()
    assert "telegram: the Bot API did not answer at start-up (TelegramNetworkError)" in log
    assert_no_secrets(vatandosh)


async def test_telegram_is_served_once_the_bot_api_answers_again(
    database_url: str, tmp_path: Path, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Telegram failing (502) at start-up: WhatsApp is served meanwhile, and Telegram's
    start-up is tried again until it answers."""
    bot_api = FakeBotAPI()
    await bot_api.start()
    bot_api.fail_every_call(502, "Bad Gateway")
    settings = with_telegram(whatsapp_settings(database_url, twilio), bot_api.base_url)
    try:
        async with vatandosh_run(tmp_path, settings) as vatandosh:
            assert (await vatandosh.wait_healthy(http))["status"] == "ok"
            assert "Oʻzbekcha (lotin)" in await say(vatandosh, http, twilio, "Assalomu alaykum")
            assert "getUpdates" not in bot_api.requests

            bot_api.recover()
            await vatandosh.wait_until(lambda: "getUpdates" in bot_api.requests, "getUpdates")
            assert "getWebhookInfo" in bot_api.requests  # checked before polling, as at start
            bot_api.push_update(tg.command(ALICE, "/start"))
            language = await next_message_to(vatandosh, bot_api, ALICE, 0)
            assert "Iltimos, tilni tanlang." in language["text"]
            assert_clean_exit(await vatandosh.stop(), vatandosh)
    finally:
        await bot_api.stop()
    log = vatandosh.stderr()
    assert "telegram: the Bot API did not answer at start-up (TelegramServerError)" in log
    assert "telegram: the Bot API answers; serving Telegram" in log
    assert_no_secrets(vatandosh)


async def test_a_token_refused_once_the_bot_api_answers_leaves_the_rest_served(
    database_url: str, tmp_path: Path, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    bot_api = FakeBotAPI()
    await bot_api.start()
    bot_api.fail_every_call(502, "Bad Gateway")
    settings = with_telegram(whatsapp_settings(database_url, twilio), bot_api.base_url)
    try:
        async with vatandosh_run(tmp_path, settings) as vatandosh:
            await vatandosh.wait_healthy(http)
            await vatandosh.wait_until(
                lambda: "did not answer at start-up" in vatandosh.stderr(), "the warning"
            )
            bot_api.fail_every_call(401, "Unauthorized")
            await vatandosh.wait_until(
                lambda: "telegram not served" in vatandosh.stderr(), "the refusal logged"
            )
            assert "Oʻzbekcha (lotin)" in await say(vatandosh, http, twilio, "Assalomu alaykum")
            assert await vatandosh.stop() == 0, vatandosh.describe()
    finally:
        await bot_api.stop()
    log = vatandosh.stderr()
    [refusal] = [line for line in log.splitlines() if "telegram not served" in line]
    assert refusal.endswith("telegram not served: TELEGRAM_BOT_TOKEN: Telegram rejected the token")
    assert "getUpdates" not in bot_api.requests
    assert "Traceback" not in log
    assert DILNOZA[1:] not in log
    assert_no_secrets(vatandosh)


@pytest.mark.parametrize(("status", "stops"), [(401, True), (403, False), (404, False)])
async def test_only_refused_credentials_stop_start_up_not_a_suspended_account(
    status: int, stops: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """401: the SID or token is wrong — one line, start-up stops. 403/404: the account is
    suspended or closed (a bill unpaid): an error in the log, and Telegram, the scheduler
    and the health check are served; WhatsApp's messages wait (the sender pauses it)."""

    async def check_account() -> None:
        raise TwilioRestException(status, "https://api.twilio.com/x", "refused", code=20003)

    whatsapp = SimpleNamespace(transport=SimpleNamespace(check_account=check_account))
    if stops:
        with pytest.raises(StartupError, match="TWILIO_AUTH_TOKEN"):
            await server._check_twilio(whatsapp)  # type: ignore[arg-type]
        return
    await server._check_twilio(whatsapp)  # type: ignore[arg-type]
    assert any("Twilio refuses the account" in record.getMessage() for record in caplog.records)
