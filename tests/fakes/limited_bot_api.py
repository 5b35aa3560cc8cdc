"""A local Bot API over real HTTP that enforces Telegram's sending limits.

It is the recording FakeBotAPI (tests/fakes/telegram_server.py) with Telegram's flood control
in front of every message-sending method:

- overall: at most `per_second` messages in any one-second window (a sliding window, strict:
  a token bucket that starts full would let twice as many through in the first second);
- per chat: at most `per_chat_per_second` messages a second to one chat, with no burst
  (FACTS.md and STACK_NOTES.md name no per-chat burst, so none is allowed).

Beyond either limit it answers as Telegram does, HTTP 429 with
{"ok": false, "error_code": 429, "parameters": {"retry_after": N}}. `tolerance` seconds of
clock slack are allowed on both windows: the sender's limiter takes its token a few
milliseconds before the request reaches us, and those milliseconds vary from request to
request (Telegram too sees our requests through a network).

Only what was accepted is delivered: `delivered` counts messages per chat, so a test can
prove each arrived exactly once. 5xx and 429 answers can be injected on demand.
"""

import asyncio
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.telegram_results import result_for
from tests.fakes.telegram_server import FakeBotAPI

# The methods that put a message into a chat (each counts against the limits).
SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVoice",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVideoNote",
        "sendSticker",
        "sendLocation",
    }
)


@dataclass(frozen=True)
class Injected:
    status: int
    description: str
    retry_after: int | None = None


class LimitedBotAPI(FakeBotAPI):
    def __init__(
        self,
        *,
        per_second: float = 30.0,
        per_chat_per_second: float = 1.0,
        tolerance: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.per_second = per_second
        self.per_chat_per_second = per_chat_per_second
        self.tolerance = tolerance
        self._monotonic = monotonic
        self._accepted: deque[float] = deque()  # acceptance times within the last second
        self._last_to_chat: dict[int, float] = {}
        self._injected: deque[Injected] = deque()
        self._lock = asyncio.Lock()
        self.delivered: Counter[int] = Counter()  # accepted messages per chat
        self.delivered_texts: list[tuple[int, str]] = []  # (chat, text) in acceptance order
        self.refused: list[tuple[int, str]] = []  # (chat, why) for every 429 from the limits
        self.injected_answers = 0
        self.first_accepted_at: float | None = None
        self.last_accepted_at: float | None = None

    # -- scripting ------------------------------------------------------------------------

    def fail_next(
        self, status: int, description: str, *, retry_after: int | None = None, times: int = 1
    ) -> None:
        """The next `times` message sends are answered with this error, whatever the limits
        say (a 5xx, or a 429 of Telegram's own making)."""
        for _ in range(times):
            self._injected.append(Injected(status, description, retry_after))

    @property
    def limit_refusals(self) -> int:
        return len(self.refused)

    def elapsed(self) -> float:
        """Seconds from the first to the last accepted message."""
        if self.first_accepted_at is None or self.last_accepted_at is None:
            return 0.0
        return self.last_accepted_at - self.first_accepted_at

    # -- serving --------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    def _over_limit(self, chat_id: int, now: float) -> tuple[str, float] | None:
        """Why this message may not go now, and for how long, or None when it may."""
        window = 1.0 - self.tolerance
        while self._accepted and now - self._accepted[0] >= window:
            self._accepted.popleft()
        if len(self._accepted) >= self.per_second:
            return "overall", window - (now - self._accepted[0])
        last = self._last_to_chat.get(chat_id)
        spacing = 1.0 / self.per_chat_per_second - self.tolerance
        if last is not None and now - last < spacing:
            return "per chat", spacing - (now - last)
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method not in SENDING_METHODS:
            return await super()._handle(request)
        params = await self._params(request)
        chat_id = int(params["chat_id"])
        async with self._lock:  # one decision at a time, in arrival order
            now = self._monotonic()
            if self._injected:
                injected = self._injected.popleft()
                self.injected_answers += 1
                self.requests.append(method)
                return self._error(injected.status, injected.description, injected.retry_after)
            refusal = self._over_limit(chat_id, now)
            if refusal is not None:
                why, wait = refusal
                self.refused.append((chat_id, why))
                self.requests.append(method)
                return self._error(
                    429,
                    f"Too Many Requests: retry after {math.ceil(wait)}",
                    max(1, math.ceil(wait)),
                )
            self._accepted.append(now)
            self._last_to_chat[chat_id] = now
            self.delivered[chat_id] += 1
            if method == "sendMessage":
                self.delivered_texts.append((chat_id, str(params.get("text", ""))))
            if self.first_accepted_at is None:
                self.first_accepted_at = now
            self.last_accepted_at = now
        return await self._record_and_answer(method, params)

    async def _record_and_answer(self, method: str, params: dict[str, Any]) -> web.Response:
        self.requests.append(method)
        self.calls.append((method, params))
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"ok": True, "result": result_for(method, params)})
