"""`vatandosh run` as a real process, over real sockets: the Bot API is a local fake server,
the webhook and the health check are reached over HTTP, and the process is stopped by signal."""

import asyncio
import gc
import io
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import Application
from bot.server import YOUNG_COLLECTION_THRESHOLD, settle_heap
from bot.settings import Settings
from bot.web import TelegramWebhook, build_web_app
from models import OutboxMessage
from tests.conftest import TEST_DATA_KEY, TEST_TOKEN
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeBotAPI
from tests.harness import button_ids, button_labels

ALICE = 5550001
BOB = 5550002
WEBHOOK_SECRET = "s3cret-Webhook_token-0123456789a"  # 32 characters of the allowed alphabet
PUBLIC_BASE_URL = "https://bot.example.org"
STARTUP_TIMEOUT = 120.0  # a cold interpreter imports aiogram, SQLAlchemy, Alembic; under load
STEP_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0

LANGUAGES = ["uz_Latn", "uz_Cyrl", "ru"]
CONSENT = ["agree", "read_full", "decline"]
MAIN_MENU = ["registration", "appeals", "guidance", "help", "family", "settings"]


def _vatandosh() -> list[str]:
    """The installed console script beside this interpreter, else the module."""
    script = Path(sys.executable).parent / "vatandosh"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _clean_environment() -> dict[str, str]:
    """This process's environment without any of the bot's settings, so only what a test
    passes reaches the child (pydantic-settings reads names case-insensitively)."""
    ours = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in os.environ.items() if key.upper() not in ours}


@dataclass
class Vatandosh:
    """A running `vatandosh run` child process; its output goes to files in tmp_path."""

    process: asyncio.subprocess.Process
    port: int
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/telegram/webhook"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        return f"exit code {self.process.returncode}; stderr:\n{self.stderr()}"

    async def wait_until(
        self, condition: Callable[[], bool], what: str, *, every: float = 0.02
    ) -> None:
        """Poll `condition` until it holds; fail with the child's stderr on a timeout, or at
        once if the child has exited meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while not condition():
            if self.process.returncode is not None:
                pytest.fail(f"vatandosh exited while waiting for {what}; {self.describe()}")
            if loop.time() > deadline:
                pytest.fail(
                    f"timed out after {STEP_TIMEOUT}s waiting for {what}; {self.describe()}"
                )
            await asyncio.sleep(every)

    async def wait_healthy(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """Poll /healthz until it answers 200, and return its JSON body."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT
        while True:
            if self.process.returncode is not None:
                pytest.fail(f"vatandosh exited during start-up; {self.describe()}")
            try:
                async with http.get(f"{self.base_url}/healthz") as response:
                    if response.status == 200:
                        body: dict[str, Any] = await response.json()
                        return body
            except aiohttp.ClientConnectionError:
                pass  # not listening yet
            if loop.time() > deadline:
                pytest.fail(f"/healthz did not answer 200 in {STARTUP_TIMEOUT}s; {self.describe()}")
            await asyncio.sleep(0.05)

    async def stop(self) -> int:
        """SIGTERM, then the exit code; fail if it takes more than EXIT_TIMEOUT."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), EXIT_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"vatandosh did not exit {EXIT_TIMEOUT}s after SIGTERM; {self.describe()}")


@contextmanager
def _output_files(*paths: Path) -> Iterator[list[BinaryIO]]:
    with ExitStack() as stack:
        yield [stack.enter_context(path.open("wb")) for path in paths]


@asynccontextmanager
async def vatandosh_run(tmp_path: Path, settings: dict[str, str]) -> AsyncIterator[Vatandosh]:
    """`vatandosh run` with these settings in its environment, in tmp_path (so no `.env` is
    read); killed on the way out if the test has not stopped it."""
    port = _free_port()
    environment = {**_clean_environment(), "HTTP_PORT": str(port), **settings}
    stderr_path = tmp_path / "vatandosh.stderr"
    with _output_files(tmp_path / "vatandosh.stdout", stderr_path) as (stdout, stderr):
        process = await asyncio.create_subprocess_exec(
            *_vatandosh(),
            "run",
            cwd=tmp_path,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        yield Vatandosh(process, port, stderr_path)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def base_settings(database_url: str, api_base: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DATA_KEY": TEST_DATA_KEY,
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE": api_base,
        "TELEGRAM_MODE": "polling",
        "HTTP_HOST": "127.0.0.1",
        "TELEGRAM_MAX_PER_CHAT_PER_SECOND": "100",
        "OUTBOX_POLL_SECONDS": "0.2",
    }


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT)) as session:
        yield session


def messages_to(bot_api: FakeBotAPI, user_id: int) -> list[dict[str, Any]]:
    return [m for m in bot_api.sent_messages() if int(m["chat_id"]) == user_id]


async def next_message_to(
    vatandosh: Vatandosh, bot_api: FakeBotAPI, user_id: int, after: int
) -> dict[str, Any]:
    """The first message to `user_id` beyond the `after` already seen."""
    await vatandosh.wait_until(
        lambda: len(messages_to(bot_api, user_id)) > after, f"message #{after + 1} to {user_id}"
    )
    return messages_to(bot_api, user_id)[after]


def assert_clean_exit(code: int, vatandosh: Vatandosh) -> None:
    assert code == 0, vatandosh.describe()
    assert "Traceback" not in vatandosh.stderr(), vatandosh.stderr()
    assert " ERROR " not in vatandosh.stderr(), vatandosh.stderr()


# -- polling ------------------------------------------------------------------------------


async def test_polling_walks_a_citizen_to_the_main_menu_and_stops_on_sigterm(
    database_url: str,
    tmp_path: Path,
    bot_api: FakeBotAPI,
    http: aiohttp.ClientSession,
) -> None:
    settings = base_settings(database_url, bot_api.base_url)
    async with vatandosh_run(tmp_path, settings) as vatandosh:
        health = await vatandosh.wait_healthy(http)
        assert health["status"] == "ok"
        assert health["database"] == "ok"
        assert "version" in health

        await vatandosh.wait_until(lambda: "getUpdates" in bot_api.requests, "getUpdates")
        assert "getWebhookInfo" in bot_api.requests  # no webhook set: nothing to take over
        assert "deleteWebhook" not in bot_api.requests
        assert "setWebhook" not in bot_api.requests

        bot_api.push_update(tg.command(ALICE, "/start"))
        language = await next_message_to(vatandosh, bot_api, ALICE, 0)
        assert button_ids(language) == LANGUAGES
        assert "Iltimos, tilni tanlang." in language["text"]
        assert "Пожалуйста, выберите язык." in language["text"]

        first_tap = tg.button(ALICE, "ru")
        bot_api.push_update(first_tap)
        consent = await next_message_to(vatandosh, bot_api, ALICE, 1)
        assert button_ids(consent) == CONSENT
        assert button_labels(consent)[0] == "Даю согласие"

        second_tap = tg.button(ALICE, "agree")
        bot_api.push_update(second_tap)
        menu = await next_message_to(vatandosh, bot_api, ALICE, 2)
        assert button_ids(menu) == MAIN_MENU
        assert button_labels(menu)[0] == "Консульский учёт"

        # (the fake decodes form fields as JSON where it can, so a numeric id comes back an int)
        answered = [str(c["callback_query_id"]) for c in bot_api.calls_to("answerCallbackQuery")]
        assert answered == [
            first_tap["callback_query"]["id"],
            second_tap["callback_query"]["id"],
        ]
        assert len(messages_to(bot_api, ALICE)) == 3

        async with http.get(f"{vatandosh.base_url}/healthz") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"

        assert_clean_exit(await vatandosh.stop(), vatandosh)


# -- webhook ------------------------------------------------------------------------------


async def test_webhook_registers_itself_refuses_bad_requests_and_keeps_serving(
    database_url: str,
    tmp_path: Path,
    bot_api: FakeBotAPI,
    http: aiohttp.ClientSession,
) -> None:
    settings = {
        **base_settings(database_url, bot_api.base_url),
        "TELEGRAM_MODE": "webhook",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    assert len(WEBHOOK_SECRET) == 32
    async with vatandosh_run(tmp_path, settings) as vatandosh:
        health = await vatandosh.wait_healthy(http)
        assert (health["status"], health["database"]) == ("ok", "ok")
        await vatandosh.wait_until(lambda: bool(bot_api.calls_to("setWebhook")), "setWebhook")
        [registration] = bot_api.calls_to("setWebhook")
        assert registration["url"] == f"{PUBLIC_BASE_URL}/telegram/webhook"
        assert registration["secret_token"] == WEBHOOK_SECRET
        assert "getUpdates" not in bot_api.requests
        assert "deleteWebhook" not in bot_api.requests

        async def post(
            body: bytes | str | io.BytesIO,
            *,
            secret: str | None = WEBHOOK_SECRET,
            content_type: str = "application/json",
        ) -> int:
            headers = {"Content-Type": content_type}
            if secret is not None:
                headers["X-Telegram-Bot-Api-Secret-Token"] = secret
            data = body.encode() if isinstance(body, str) else body
            async with http.post(vatandosh.webhook_url, data=data, headers=headers) as response:
                await response.read()
                return response.status

        # (a) a valid update is accepted once handled and answered through the Bot API
        assert await post(json.dumps(tg.command(ALICE, "/start"))) == 200
        language = await next_message_to(vatandosh, bot_api, ALICE, 0)
        assert button_ids(language) == LANGUAGES
        assert "Iltimos, tilni tanlang." in language["text"]

        # (b) the secret is checked before anything else
        start_bob = json.dumps(tg.command(BOB, "/start"))
        assert await post(start_bob, secret="x" * 32) == 401
        assert await post(start_bob, secret=WEBHOOK_SECRET[:-1]) == 401
        assert await post(start_bob, secret=None) == 401
        assert await post("{not json", secret=None) == 401
        # (c) malformed JSON, (d) JSON that is not an Update
        assert await post("{not json") == 400
        assert await post(b"\xff\xfe{}") == 400
        assert await post(json.dumps({"foo": 1})) == 400
        assert await post(json.dumps([1, 2])) == 400
        # (e) not JSON at all
        assert await post(start_bob, content_type="text/plain") == 415
        # (f) more than 1 MiB
        huge = json.dumps({"update_id": 1, "padding": "x" * (1024 * 1024)}).encode()
        assert await post(io.BytesIO(huge)) == 413

        # still serving: the next valid update gets its reply, nothing refused was handled
        tap = tg.button(ALICE, "ru")
        assert await post(json.dumps(tap)) == 200
        consent = await next_message_to(vatandosh, bot_api, ALICE, 1)
        assert button_ids(consent) == CONSENT
        await vatandosh.wait_until(
            lambda: bool(bot_api.calls_to("answerCallbackQuery")), "answerCallbackQuery"
        )
        [answer] = bot_api.calls_to("answerCallbackQuery")
        assert str(answer["callback_query_id"]) == tap["callback_query"]["id"]
        assert messages_to(bot_api, BOB) == []
        assert len(bot_api.sent_messages()) == 2

        async with http.get(f"{vatandosh.base_url}/healthz") as response:
            assert response.status == 200

        assert_clean_exit(await vatandosh.stop(), vatandosh)


# -- start-up failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        pytest.param(
            {"TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET},
            "PUBLIC_BASE_URL",
            id="webhook-without-public-base-url",
        ),
        pytest.param(
            {"TELEGRAM_MODE": "webhook", "PUBLIC_BASE_URL": PUBLIC_BASE_URL},
            "TELEGRAM_WEBHOOK_SECRET",
            id="webhook-without-secret",
        ),
        pytest.param(
            {"TELEGRAM_BOT_TOKEN": "not-a-token"},
            "TELEGRAM_BOT_TOKEN",
            id="malformed-token",
        ),
        pytest.param(
            {"TELEGRAM_BOT_TOKEN": None},
            "TELEGRAM_BOT_TOKEN",
            id="no-token",
        ),
    ],
)
async def test_run_refuses_to_start_with_one_line_naming_the_setting(
    database_url: str,
    tmp_path: Path,
    changes: dict[str, str | None],
    named: str,
) -> None:
    settings = base_settings(database_url, "http://127.0.0.1:9")  # never reached
    for name, value in changes.items():
        if value is None:
            del settings[name]
        else:
            settings[name] = value
    async with vatandosh_run(tmp_path, settings) as vatandosh:
        try:
            code = await asyncio.wait_for(vatandosh.process.wait(), STARTUP_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"vatandosh did not refuse to start; {vatandosh.describe()}")
        stderr = vatandosh.stderr()
        assert code == 2, vatandosh.describe()
        lines = stderr.splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith("vatandosh: "), stderr
        assert named in lines[0], stderr
        assert "Traceback" not in stderr
        assert (tmp_path / "vatandosh.stdout").read_bytes() == b""


async def test_run_refuses_to_start_when_telegram_rejects_the_token(
    database_url: str,
    tmp_path: Path,
    bot_api: FakeBotAPI,
) -> None:
    bot_api.fail_every_call(401, "Unauthorized")  # a revoked token
    settings = base_settings(database_url, bot_api.base_url)
    async with vatandosh_run(tmp_path, settings) as vatandosh:
        line = await refused_in_one_line(vatandosh)
    assert bot_api.calls, "the Bot API was never asked"
    assert "TELEGRAM_BOT_TOKEN" in line


# -- the webhook endpoint in process, over a real socket ----------------------------------


@asynccontextmanager
async def webhook_in_process(
    app: Application, http: aiohttp.ClientSession
) -> AsyncIterator[Callable[[bytes], Any]]:
    """The Telegram webhook of `app` served in this process; yields post(body) → status."""
    assert app.telegram is not None
    webhook = TelegramWebhook(app.telegram.dispatcher, app.telegram.bot, WEBHOOK_SECRET)
    runner = web.AppRunner(build_web_app(app.db, webhook), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]

    async def post(body: bytes) -> int:
        async with http.post(
            f"http://{host}:{port}/telegram/webhook",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
            },
        ) as response:
            return response.status

    try:
        yield post
    finally:
        await runner.cleanup()


async def test_webhook_answers_400_to_json_nested_too_deep(
    app: Application, http: aiohttp.ClientSession
) -> None:
    depth = 100_000  # 200 kB: well inside the 1 MiB limit
    async with webhook_in_process(app, http) as post:
        assert await post(("[" * depth + "]" * depth).encode()) == 400


async def test_webhook_answers_only_once_the_update_is_handled(
    app: Application, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram never redelivers an update it got a 200 for: the 200 must come after the
    update's work is committed (its reply in the outbox). An update that failed is logged
    and answered too, and the next one is served."""
    async with webhook_in_process(app, http) as post:
        assert await post(json.dumps(tg.command(ALICE, "/start")).encode()) == 200
        assert [row.address for row in await outbox_rows(app)] == [str(ALICE)]

        async def failing(*args: Any) -> None:
            raise RuntimeError("the adapter failed")

        monkeypatch.setattr("bot.channels.telegram.handle_and_answer", failing)
        assert await post(json.dumps(tg.button(ALICE, "uz_Latn")).encode()) == 200
        monkeypatch.undo()
        assert await post(json.dumps(tg.button(ALICE, "ru")).encode()) == 200
        assert [row.address for row in await outbox_rows(app)] == [str(ALICE)] * 2


async def outbox_rows(app: Application) -> list[OutboxMessage]:
    async with app.db.reads() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_settle_heap_freezes_start_up_and_collects_the_young_less_often() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def refused_in_one_line(vatandosh: Vatandosh) -> str:
    """The one line `vatandosh run` refused to start with (exit code 2, no traceback)."""
    try:
        code = await asyncio.wait_for(vatandosh.process.wait(), STARTUP_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"vatandosh did not refuse to start; {vatandosh.describe()}")
    stderr = vatandosh.stderr()
    assert code == 2, vatandosh.describe()
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("vatandosh: ")]
    assert len(errors) == 1, stderr
    return errors[0]


async def test_polling_does_not_take_the_updates_of_a_webhook_deployment(
    database_url: str, tmp_path: Path, bot_api: FakeBotAPI
) -> None:
    """Started with the production token in polling mode (a laptop, a shell without the
    .env), deleting the webhook silently left the production processes with no updates."""
    bot_api.webhook_url = "https://bot.consulate.example/telegram/webhook"
    async with vatandosh_run(tmp_path, base_settings(database_url, bot_api.base_url)) as vatandosh:
        line = await refused_in_one_line(vatandosh)
    assert line.startswith("vatandosh: TELEGRAM_MODE: polling, but this bot's updates go to")
    assert "deleteWebhook" not in bot_api.requests
    assert "getUpdates" not in bot_api.requests
    assert bot_api.webhook_url == "https://bot.consulate.example/telegram/webhook"


@pytest.mark.parametrize(
    ("method", "status", "description", "named"),
    [
        ("getMe", 404, "Not Found", "TELEGRAM_BOT_TOKEN"),
        ("getMe", 400, "Bad Request: something odd", "TELEGRAM_BOT_TOKEN"),
    ],
)
async def test_run_names_the_setting_when_the_bot_api_refuses(
    database_url: str,
    tmp_path: Path,
    bot_api: FakeBotAPI,
    method: str,
    status: int,
    description: str,
    named: str,
) -> None:
    bot_api.fail_method(method, status, description)
    async with vatandosh_run(tmp_path, base_settings(database_url, bot_api.base_url)) as vatandosh:
        line = await refused_in_one_line(vatandosh)
    assert line.startswith(f"vatandosh: {named}: "), line
    assert TEST_TOKEN not in line


async def test_a_webhook_telegram_refuses_is_named_in_one_line(
    database_url: str, tmp_path: Path, bot_api: FakeBotAPI
) -> None:
    bot_api.fail_method(
        "setWebhook", 400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, "
        "88, 443 or 8443",
    )  # fmt: skip
    settings = {
        **base_settings(database_url, bot_api.base_url),
        "TELEGRAM_MODE": "webhook",
        "PUBLIC_BASE_URL": "https://bot.consulate.example:8080",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    async with vatandosh_run(tmp_path, settings) as vatandosh:
        line = await refused_in_one_line(vatandosh)
    assert line.startswith("vatandosh: PUBLIC_BASE_URL: Telegram refused the webhook: "), line
    assert "8443" in line


async def test_a_port_already_taken_is_named_in_one_line(
    database_url: str, tmp_path: Path, bot_api: FakeBotAPI
) -> None:
    """Two processes on one host with the same HTTP_PORT: the second says so."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    settings = {**base_settings(database_url, bot_api.base_url), "HTTP_PORT": str(port)}
    try:
        async with vatandosh_run(tmp_path, settings) as vatandosh:
            line = await refused_in_one_line(vatandosh)
    finally:
        taken.close()
    assert line.startswith(f"vatandosh: HTTP_PORT: cannot listen on 127.0.0.1:{port} "), line


async def test_the_webhook_is_deleted_by_command_and_polling_then_starts(
    database_url: str, tmp_path: Path, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    """Moving a bot from webhook to polling: `vatandosh telegram delete-webhook` (the refusal
    to poll says to delete it), then `vatandosh run` polls."""
    bot_api.webhook_url = "https://bot.consulate.example/telegram/webhook"
    settings = base_settings(database_url, bot_api.base_url)
    process = await asyncio.create_subprocess_exec(
        *_vatandosh(), "telegram", "delete-webhook",
        cwd=tmp_path, env={**_clean_environment(), **settings},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), STARTUP_TIMEOUT)

    assert process.returncode == 0, stderr.decode()
    assert stdout.decode() == (
        "webhook https://bot.consulate.example/telegram/webhook deleted: `vatandosh run` can "
        "poll now\n"
    )
    assert bot_api.webhook_url == ""
    assert TEST_TOKEN not in stdout.decode() + stderr.decode()
    async with vatandosh_run(tmp_path, settings) as vatandosh:
        await vatandosh.wait_healthy(http)
        await vatandosh.wait_until(lambda: "getUpdates" in bot_api.requests, "getUpdates")
