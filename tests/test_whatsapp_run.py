"""`vatandosh run` serving WhatsApp as a real process: Twilio's signed requests reach it over
HTTP, its replies reach a local fake Twilio through the real twilio client; WhatsApp alone,
or with Telegram. And start-up refused with one line when the Twilio settings do not fit."""

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.cli import main
from bot.settings import Settings
from models import OutboxMessage
from models.db import Database
from tests.conftest import TEST_DATA_KEY, TEST_TOKEN
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeBotAPI
from tests.fakes.twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SENDER,
    FakeTwilio,
    inbound,
    post_signed,
    status_callback,
)
from tests.test_run_over_http import Vatandosh, assert_clean_exit
from tests.test_whatsapp import labels, numbered_lines

PUBLIC = "https://wa.example.org"  # what Twilio calls; the proxy in front forwards it here
DILNOZA = "+998901234567"
TEMPLATE_RU = "HX" + "3" * 32
STARTUP_TIMEOUT = 30.0
STEP_TIMEOUT = 10.0
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _clean_environment() -> dict[str, str]:
    ours = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in os.environ.items() if key.upper() not in ours}


def whatsapp_settings(database_url: str, twilio: FakeTwilio) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DATA_KEY": TEST_DATA_KEY,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": SENDER,
        "TWILIO_API_BASE": twilio.base_url,
        "TWILIO_TEMPLATE_RU": TEMPLATE_RU,
        "PUBLIC_BASE_URL": PUBLIC,
        "HTTP_HOST": "127.0.0.1",
        "WHATSAPP_MAX_PER_SECOND": "100",
        "OUTBOX_POLL_SECONDS": "0.2",
    }


@asynccontextmanager
async def vatandosh_run(tmp_path: Path, settings: dict[str, str]) -> AsyncIterator[Vatandosh]:
    port = _free_port()
    environment = {**_clean_environment(), **settings, "HTTP_PORT": str(port)}
    stderr_path = tmp_path / "vatandosh.stderr"
    script = Path(sys.executable).parent / "vatandosh"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    with (tmp_path / "vatandosh.stdout").open("wb") as out, stderr_path.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            *command, "run", cwd=tmp_path, env=environment,
            stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err,
        )  # fmt: skip
    try:
        yield Vatandosh(process, port, stderr_path)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    server = FakeTwilio()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT)) as session:
        yield session


async def say(
    vatandosh: Vatandosh,
    http: aiohttp.ClientSession,
    twilio: FakeTwilio,
    text: str,
) -> str:
    """Post a signed message as Dilnoza; the body of the next message Twilio gets for her."""
    seen = len(twilio.sent_to(DILNOZA))
    status, content_type, body = await post_signed(
        http,
        f"{vatandosh.base_url}/whatsapp/webhook",
        inbound(DILNOZA, text),
        signed_url=f"{PUBLIC}/whatsapp/webhook",
    )
    assert (status, content_type, body) == (200, "text/xml", EMPTY_TWIML)
    await vatandosh.wait_until(lambda: len(twilio.sent_to(DILNOZA)) > seen, f"reply to {text!r}")
    return twilio.sent_to(DILNOZA)[seen].get("Body", "")


async def test_run_serves_whatsapp_alone(
    database_url: str, tmp_path: Path, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    async with vatandosh_run(tmp_path, whatsapp_settings(database_url, twilio)) as vatandosh:
        assert (await vatandosh.wait_healthy(http))["status"] == "ok"
        assert twilio.account_fetches == 1  # the credentials were checked at start-up

        language = await say(vatandosh, http, twilio, "Assalomu alaykum")
        assert numbered_lines(language) == [
            "1 — ✓ Oʻzbekcha (lotin)",
            "2 — Ўзбекча (кирилл)",
            "3 — Русский",
        ]
        first = twilio.sent[0]
        assert (first["From"], first["To"]) == (SENDER, f"whatsapp:{DILNOZA}")
        assert first["StatusCallback"] == f"{PUBLIC}/whatsapp/status"
        consent = await say(vatandosh, http, twilio, "3")
        assert consent.startswith("О Ваших персональных данных:")
        menu = await say(vatandosh, http, twilio, "Даю согласие")
        assert labels(menu)[:2] == ["Консульский учёт", "Обращения"]

        # a request signed for another address is refused and changes nothing
        status, _, _ = await post_signed(
            http,
            f"{vatandosh.base_url}/whatsapp/webhook",
            inbound(DILNOZA, "меню"),
            signed_url=f"{vatandosh.base_url}/whatsapp/webhook",
        )
        assert status == 403

        # Twilio reports the delivery: stored on the message
        sid = twilio.sent[-1]["Sid"]
        status, _, _ = await post_signed(
            http,
            f"{vatandosh.base_url}/whatsapp/status",
            status_callback(sid, "delivered"),
            signed_url=f"{PUBLIC}/whatsapp/status",
        )
        assert status == 200
        database = Database(database_url)
        try:

            async def delivered() -> bool:
                async with database.sessions() as session:
                    row = await session.scalar(
                        select(OutboxMessage).where(OutboxMessage.provider_id == sid)
                    )
                    return row is not None and row.delivery_status == "delivered"

            deadline = asyncio.get_running_loop().time() + STEP_TIMEOUT
            while not await delivered():
                assert asyncio.get_running_loop().time() < deadline, vatandosh.describe()
                await asyncio.sleep(0.05)
        finally:
            await database.close()

        assert len(twilio.sent) == 3
        assert_clean_exit(await vatandosh.stop(), vatandosh)
    log = vatandosh.stderr()
    assert "telegram=False whatsapp=True" in log
    assert "update channel=whatsapp" in log
    # no number, no profile name, no text in the logs (the twilio client's are restrained)
    for personal in ("998901234567", "Dilnoza", "Assalomu", "Даю согласие", "Body"):
        assert personal not in log


async def test_run_serves_telegram_and_whatsapp_together(
    database_url: str, tmp_path: Path, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    bot_api = FakeBotAPI()
    await bot_api.start()
    settings = {
        **whatsapp_settings(database_url, twilio),
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE": bot_api.base_url,
        "TELEGRAM_MAX_PER_CHAT_PER_SECOND": "100",
    }
    try:
        async with vatandosh_run(tmp_path, settings) as vatandosh:
            await vatandosh.wait_healthy(http)
            await vatandosh.wait_until(lambda: "getUpdates" in bot_api.requests, "getUpdates")
            bot_api.push_update(tg.command(5550001, "/start"))
            answer = await say(vatandosh, http, twilio, "Salom")
            assert "Iltimos, tilni tanlang." in answer
            await vatandosh.wait_until(lambda: bool(bot_api.sent_messages()), "Telegram reply")
            assert "Iltimos, tilni tanlang." in bot_api.sent_messages()[0]["text"]
            assert_clean_exit(await vatandosh.stop(), vatandosh)
    finally:
        await bot_api.stop()
    assert "telegram=True whatsapp=True" in vatandosh.stderr()


async def test_run_refuses_to_start_when_twilio_rejects_the_credentials(
    database_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    twilio.reject_credentials = True
    async with vatandosh_run(tmp_path, whatsapp_settings(database_url, twilio)) as vatandosh:
        try:
            code = await asyncio.wait_for(vatandosh.process.wait(), STARTUP_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"vatandosh did not refuse to start; {vatandosh.describe()}")
    stderr = vatandosh.stderr()
    assert code == 2, stderr
    assert "Traceback" not in stderr
    [line] = [line for line in stderr.splitlines() if line.startswith("vatandosh: ")]
    assert line.startswith("vatandosh: TWILIO_AUTH_TOKEN: Twilio rejected"), stderr
    assert twilio.account_fetches == 1


# -- settings that do not fit: one line, in process ------------------------------------------

COMPLETE = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_WHATSAPP_FROM": SENDER,
    "PUBLIC_BASE_URL": PUBLIC,
}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        pytest.param({"TWILIO_AUTH_TOKEN": None}, "TWILIO_AUTH_TOKEN", id="no-token"),
        pytest.param({"TWILIO_ACCOUNT_SID": None}, "TWILIO_ACCOUNT_SID", id="no-sid"),
        pytest.param({"TWILIO_WHATSAPP_FROM": None}, "TWILIO_WHATSAPP_FROM", id="no-sender"),
        pytest.param(
            {"TWILIO_AUTH_TOKEN": "", "TWILIO_WHATSAPP_FROM": None},
            "TWILIO_AUTH_TOKEN",
            id="only-the-sid",
        ),
        pytest.param({"PUBLIC_BASE_URL": None}, "PUBLIC_BASE_URL", id="no-public-url"),
        pytest.param({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_ACCOUNT_SID", id="bad-sid"),
        pytest.param({"TWILIO_WHATSAPP_FROM": "+1 415"}, "TWILIO_WHATSAPP_FROM", id="bad-from"),
        pytest.param({"TWILIO_TEMPLATE_RU": "HX1"}, "TWILIO_TEMPLATE_RU", id="bad-template"),
        pytest.param({"TWILIO_API_BASE": "api.twilio.com"}, "TWILIO_API_BASE", id="bad-api-base"),
        pytest.param(
            {name: None for name in COMPLETE},
            "TELEGRAM_BOT_TOKEN nor TWILIO_ACCOUNT_SID",
            id="nothing-to-serve",
        ),
    ],
)
def test_run_refuses_settings_that_do_not_fit_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    changes: dict[str, str | None],
    named: str,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    for name, value in {**COMPLETE, **changes}.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    assert main(["run"]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("vatandosh: ")
    assert named in line
    assert captured.out == ""
    assert not (tmp_path / "var").exists()  # refused before anything was made


def test_complete_twilio_settings_and_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    complete: dict[str, Any] = {name.lower(): value for name, value in COMPLETE.items()}
    settings = Settings(_env_file=None, **complete)
    assert settings.twilio_configured
    assert settings.twilio_api_base == "https://api.twilio.com"
    assert settings.whatsapp_status_callback_url == f"{PUBLIC}/whatsapp/status"
    assert settings.whatsapp_max_per_second == 10
    assert settings.whatsapp_templates == {}
    changed = Settings(
        _env_file=None,
        **{
            **complete,
            "twilio_whatsapp_from": "+14155238886",
            "twilio_status_callback_url": "https://hooks.example.org/twilio/status?x=1",
            "twilio_template_uz_cyrl": "HX" + "a" * 32,
            "twilio_template_ru": "",
        },
    )
    assert changed.twilio_whatsapp_from == SENDER
    assert changed.whatsapp_status_callback_url == "https://hooks.example.org/twilio/status?x=1"
    assert changed.whatsapp_templates == {"uz_Cyrl": "HX" + "a" * 32}
    assert not Settings(_env_file=None).twilio_configured
