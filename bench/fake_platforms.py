"""The limit-enforcing platform fakes of benchmark 2, each in a process of its own.

In the sender's process the fake would take its share of the one event loop and the one
core of Python, and the benchmark would measure the two together; Telegram and Twilio do
not run in our process either. The child prints its API base URL and the URL of a stats
page on stdout, serves until stdin closes, and the parent reads the stats over HTTP:

    async with platform_process("telegram", per_second=1000) as fake:
        ... (send to fake.base_url) ...
        stats = await fake.stats()
"""

import argparse
import asyncio
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

from tests.fakes.limited_bot_api import LimitedBotAPI
from tests.fakes.twilio_server import FakeTwilio

Platform = Literal["telegram", "whatsapp"]


@dataclass
class LimitedTwilio(FakeTwilio):
    """The fake Twilio, refusing (429, code 20429) a message beyond `per_second` in any
    one-second window, with `tolerance` seconds of slack as in LimitedBotAPI."""

    per_second: float = 10.0
    tolerance: float = 0.1
    refused: int = 0
    first_accepted_at: float | None = None
    last_accepted_at: float | None = None
    _accepted: deque[float] = field(default_factory=deque)

    async def _create_message(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        window = 1.0 - self.tolerance
        while self._accepted and now - self._accepted[0] >= window:
            self._accepted.popleft()
        if len(self._accepted) >= self.per_second:
            self.refused += 1
            self.attempts += 1
            return self._error(429, 20429, "Too Many Requests")
        self._accepted.append(now)
        response = await super()._create_message(request)
        if response.status == 201:
            self.first_accepted_at = self.first_accepted_at or now
            self.last_accepted_at = now
        return response

    def elapsed(self) -> float:
        first, last = self.first_accepted_at, self.last_accepted_at
        return (last - first) if first is not None and last is not None else 0.0


@dataclass(frozen=True)
class PlatformStats:
    delivered: Counter[str]  # accepted messages per recipient address
    refused: int  # 429 answers for going beyond the limits
    elapsed: float  # seconds from the first to the last accepted message

    @property
    def rate(self) -> float:
        accepted = sum(self.delivered.values())
        return (accepted - 1) / self.elapsed if self.elapsed else float("nan")


def _stats_of(fake: LimitedBotAPI | LimitedTwilio) -> dict[str, Any]:
    if isinstance(fake, LimitedBotAPI):
        delivered = {str(chat): count for chat, count in fake.delivered.items()}
        return {"delivered": delivered, "refused": fake.limit_refusals, "elapsed": fake.elapsed()}
    received = Counter(sent["To"].removeprefix("whatsapp:") for sent in fake.sent)
    return {"delivered": dict(received), "refused": fake.refused, "elapsed": fake.elapsed()}


async def _serve(platform: Platform, per_second: float) -> None:
    fake: LimitedBotAPI | LimitedTwilio
    if platform == "telegram":
        fake = LimitedBotAPI(per_second=per_second, per_chat_per_second=1.0)
    else:
        fake = LimitedTwilio(per_second=per_second)
    await fake.start()

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(_stats_of(fake))

    app = web.Application()
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(fake.base_url, flush=True)
    print(f"http://127.0.0.1:{port}/stats", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
    await runner.cleanup()
    await fake.stop()


@dataclass
class FakePlatform:
    base_url: str
    stats_url: str

    async def stats(self) -> PlatformStats:
        async with aiohttp.ClientSession() as http, http.get(self.stats_url) as response:
            body = await response.json()
        return PlatformStats(Counter(body["delivered"]), body["refused"], body["elapsed"])


@asynccontextmanager
async def platform_process(platform: Platform, *, per_second: float) -> AsyncIterator[FakePlatform]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fake_platforms",
        platform,
        str(per_second),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        async with asyncio.timeout(60):
            base_url = (await child.stdout.readline()).decode().strip()
            stats_url = (await child.stdout.readline()).decode().strip()
        if not base_url or not stats_url:
            raise RuntimeError(f"the fake {platform} did not start")
        yield FakePlatform(base_url, stats_url)
    finally:
        child.stdin.close()
        try:
            async with asyncio.timeout(10):
                await child.wait()
        except TimeoutError:
            child.kill()
            await child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("platform", choices=["telegram", "whatsapp"])
    parser.add_argument("per_second", type=float)
    args = parser.parse_args()
    asyncio.run(_serve(args.platform, args.per_second))


if __name__ == "__main__":
    main()
