"""Token buckets: how fast a channel may send overall and to one chat."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

# Telegram's overall limit when paid broadcasts are enabled (TELEGRAM_PAID_BROADCASTS).
PAID_BROADCASTS_PER_SECOND = 1000.0


@dataclass(frozen=True)
class ChannelLimits:
    per_second: float  # the whole bot on this channel
    per_chat_per_second: float  # one recipient
    # No burst by default: Telegram's documented limits (FACTS.md) name none, and a message
    # beyond them is refused with a 429 that pauses the whole channel.
    per_chat_burst: int = 1


class TokenBucket:
    def __init__(
        self, rate: float, burst: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._monotonic = monotonic
        self._updated = monotonic()

    def _refill(self) -> float:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return now

    def delay(self) -> float:
        """Seconds until a token is available (0 when one is available now)."""
        self._refill()
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self._tokens -= 1

    @property
    def is_idle(self) -> bool:
        self._refill()
        return self._tokens >= self.burst


class ChannelRateLimiter:
    """Waits so that sends stay within a channel's overall and per-chat limits.

    Sends are spaced evenly: the overall bucket holds one token and OVERALL_SLACK_SECONDS
    worth more (1.3 at 30/s, 11 at 1,000/s) and refills that much slower, so that no
    window of one second sees more than `per_second` + 1 of them (a bucket of a whole
    second's tokens lets twice the rate through, which Telegram answers with 429). The
    slack absorbs the event loop's lateness, which a bucket of one token would lose at
    every send. Waiters for the overall token queue behind a lock, in order, instead of
    all waking at every token."""

    MAX_IDLE_BUCKETS = 10_000
    OVERALL_SLACK_SECONDS = 0.01

    def __init__(self, limits: ChannelLimits) -> None:
        self.limits = limits
        slack = limits.per_second * self.OVERALL_SLACK_SECONDS
        self.overall = TokenBucket(limits.per_second - slack, 1 + slack)
        self._overall_turn = asyncio.Lock()
        self._chats: dict[str, TokenBucket] = {}

    def _chat(self, address: str) -> TokenBucket:
        bucket = self._chats.get(address)
        if bucket is None:
            if len(self._chats) >= self.MAX_IDLE_BUCKETS:
                self._chats = {key: b for key, b in self._chats.items() if not b.is_idle}
            bucket = TokenBucket(self.limits.per_chat_per_second, self.limits.per_chat_burst)
            self._chats[address] = bucket
        return bucket

    async def acquire(self, address: str) -> None:
        """Both tokens are taken at the same moment, right before the send: a chat's token
        taken early, before a long wait for the overall one, would let its next message
        follow too closely."""
        chat = self._chat(address)
        while True:
            while (wait := chat.delay()) > 0:  # noqa: ASYNC110 (tokens refill with time)
                await asyncio.sleep(wait)
            async with self._overall_turn:
                while (wait := self.overall.delay()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(wait)
                if chat.delay() == 0:  # still free (another send to the chat may have come)
                    chat.take()
                    self.overall.take()
                    return
