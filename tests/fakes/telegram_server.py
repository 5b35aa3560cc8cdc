"""A local Bot API server over real HTTP: getUpdates long polling, recorded method calls.

aiogram's real AiohttpSession talks to it (TELEGRAM_API_BASE), so the bot's HTTP client,
serialisation and polling loop are all exercised.
"""

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.fakes.telegram_results import result_for


class FakeBotAPI:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[str] = []  # every method in arrival order, getUpdates included
        self._updates: list[dict[str, Any]] = []
        self._failure: tuple[int, str] | None = None
        self._method_failures: dict[str, tuple[int, str]] = {}
        self.webhook_url = ""  # as setWebhook left it, for getWebhookInfo
        self._new_update = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._new_update.set()  # a pending long poll answers now instead of at its timeout
        if self._runner is not None:
            await self._runner.cleanup()

    def push_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)
        self._new_update.set()

    def fail_every_call(self, status: int, description: str) -> None:
        """From now on every method is answered with this Bot API error (and still recorded),
        as Telegram answers a revoked token: 401 Unauthorized."""
        self._failure = (status, description)

    def fail_method(self, method: str, status: int, description: str) -> None:
        """This method (only) is answered with this Bot API error from now on."""
        self._method_failures[method] = (status, description)

    def recover(self) -> None:
        """Answer normally again after fail_every_call."""
        self._failure = None

    def unconfirmed(self) -> list[int]:
        """The ids of the updates no getUpdates has confirmed yet (its offset past them)."""
        return [update["update_id"] for update in self._updates]

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def sent_messages(self) -> list[dict[str, Any]]:
        return self.calls_to("sendMessage")

    async def wait_for_messages(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.sent_messages()) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.sent_messages()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else ""
            try:
                params[key] = json.loads(text)
            except ValueError:
                params[key] = text
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.requests.append(method)
        params = await self._params(request)
        if method != "getUpdates":
            self.calls.append((method, params))
            async with self._changed:
                self._changed.notify_all()
        if (failure := self._failure or self._method_failures.get(method)) is not None:
            status, description = failure
            body = {"ok": False, "error_code": status, "description": description}
            return web.json_response(body, status=status)
        if method == "setWebhook":
            self.webhook_url = str(params.get("url", ""))
        elif method == "deleteWebhook":
            self.webhook_url = ""
        elif method == "getWebhookInfo":
            info = {"url": self.webhook_url, "has_custom_certificate": False}
            return web.json_response({"ok": True, "result": {**info, "pending_update_count": 0}})
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        return web.json_response({"ok": True, "result": result_for(method, params)})

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)  # as Telegram's: 1…100
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), float(params.get("timeout") or 0))
            except TimeoutError:
                return []
        return self._updates[:limit]
