"""A Bot API session that records every call instead of using the network.

The production Bot and Dispatcher run unchanged on top of it; a test scripts failures by
queueing (status, description, retry_after) answers per method.
"""

import json
from collections import defaultdict, deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from tests.fakes.telegram_results import result_for


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        # None: answer as usual
        self._failures: dict[str, deque[tuple[int, str, int | None] | None]] = defaultdict(deque)

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        *,
        after: int = 0,
    ) -> None:
        """The next call of `method` fails, once `after` more have been answered as usual (a
        long text's second part, say)."""
        self._failures[method].extend([None] * after)
        self._failures[method].append((status, description, retry_after))

    def sent_messages(self) -> list[Call]:
        return [call for call in self.calls if call.method == "sendMessage"]

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = method.__api_method__
        params = self._as_sent(bot, method)
        self.calls.append(Call(name, params))
        failure = self._failures[name].popleft() if self._failures[name] else None
        if failure is not None:
            status, description, retry_after = failure
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if retry_after is not None:
                body["parameters"] = {"retry_after": retry_after}
            self.check_response(bot, method, status, json.dumps(body))
        response = self.check_response(
            bot, method, 200, json.dumps({"ok": True, "result": result_for(name, params)})
        )
        return response.result  # type: ignore[return-value]

    def _as_sent(self, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any]:
        """The fields as the real session would put them on the wire, nested ones decoded."""
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files={})
            if not prepared:
                continue
            params[key] = json.loads(prepared) if prepared[0] in "[{" else prepared
        return params

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""

    async def close(self) -> None:
        pass
