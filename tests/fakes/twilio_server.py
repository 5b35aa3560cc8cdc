"""A local Twilio over real HTTP: the Messages REST resource, the account, and media files.

The real twilio client (TWILIO_API_BASE pointing here) creates messages on it, so the client,
its form encoding, its authentication and its error parsing are all exercised. Scripted
failures answer as Twilio does (a JSON body with `code`, `message`, `status`). Media URLs
need the account's credentials and redirect to an unauthenticated "CDN" path, as Twilio's
redirect to its storage does.

Also here: what Twilio sends *to* the bot — form fields signed with the twilio library's own
RequestValidator against the public URL.
"""

import asyncio
import base64
import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 8 + "0123456789abcdef" + "e" * 8
SENDER = "whatsapp:+14155238886"
API_VERSION = "2010-04-01"


@dataclass
class Failure:
    status: int
    code: int | None
    delay: float = 0.0  # answer this late (a timeout, from the client's side)


@dataclass
class MediaFile:
    content: bytes
    content_type: str
    # What HEAD answers as Content-Length; None: no length (the client must count).
    declared_length: int | None = None
    head_allowed: bool = True


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    # Every message accepted (its form fields, plus "Sid"); refused attempts are not here.
    sent: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0  # every POST to Messages.json, accepted or not
    account_fetches: int = 0
    media_requests: list[tuple[str, str, bool]] = field(default_factory=list)  # method, path, auth
    reject_credentials: bool = False
    base_url: str = ""
    _failures: list[Failure | None] = field(default_factory=list)  # None: answer as usual
    _media: dict[str, MediaFile] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _counter: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application()
        prefix = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(f"{prefix}/Messages.json", self._create_message)
        app.router.add_get(f"{prefix}.json", self._fetch_account)
        # (add_get also answers HEAD)
        app.router.add_get(f"{prefix}/Messages/{{message}}/Media/{{media}}", self._media_resource)
        app.router.add_get("/cdn/{media}", self._cdn)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scripting --------------------------------------------------------------------------

    def fail_next(
        self, status: int, code: int | None = None, *, times: int = 1, after: int = 0
    ) -> None:
        """The next `times` message creations are refused with this HTTP status and code,
        once `after` more have been accepted (a long text's second part, say)."""
        self._failures += [None] * after + [Failure(status, code) for _ in range(times)]

    def delay_next(self, seconds: float) -> None:
        """The next creation answers only after `seconds` (and then with a 503)."""
        self._failures.append(Failure(503, None, delay=seconds))

    def add_media(
        self,
        content: bytes,
        content_type: str,
        *,
        declared_length: int | None = -1,
        head_allowed: bool = True,
    ) -> str:
        """A file a person sent; returns its MediaUrl. `declared_length` -1: the real one."""
        media_id = f"ME{secrets.token_hex(16)}"
        length = len(content) if declared_length == -1 else declared_length
        self._media[media_id] = MediaFile(content, content_type, length, head_allowed)
        message_id = f"MM{secrets.token_hex(16)}"
        return (
            f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}"
            f"/Messages/{message_id}/Media/{media_id}"
        )

    def sent_to(self, number: str) -> list[dict[str, str]]:
        return [m for m in self.sent if m.get("To") == f"whatsapp:{number}"]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:
        """Wait until at least `count` messages were accepted."""
        assert self._changed is not None

        async def enough() -> None:
            assert self._changed is not None
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.sent) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.sent

    # -- the REST API -----------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        given = request.headers.get("Authorization", "")
        return (
            not self.reject_credentials
            and request.match_info.get("account") == self.account_sid
            and secrets.compare_digest(given, f"Basic {expected}")
        )

    @staticmethod
    def _error(status: int, code: int | None, message: str) -> web.Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return web.json_response(body, status=status)

    async def _fetch_account(self, request: web.Request) -> web.Response:
        self.account_fetches += 1
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        return web.json_response(
            {"sid": self.account_sid, "status": "active", "friendly_name": "Fake account"}
        )

    async def _create_message(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        form = {key: str(value) for key, value in (await request.post()).items()}
        failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            if failure.delay:
                await asyncio.sleep(failure.delay)
            return self._error(failure.status, failure.code, "Scripted failure")
        if not form.get("To", "").startswith("whatsapp:") or not form.get("From"):
            return self._error(400, 21211, "Invalid 'To' Phone Number")
        if not form.get("Body") and not form.get("ContentSid"):
            return self._error(400, 21619, "A text message body or media urls must be specified")
        # Twilio counts UTF-16 code units (UCS-2, as its SMS encoding): an emoji is two.
        if len(form.get("Body", "").encode("utf-16-le")) // 2 > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds 1600 characters")
        sid = f"SM{next(self._counter):032x}"
        self.sent.append({**form, "Sid": sid})
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": form["To"],
                "from": form["From"],
                "body": form.get("Body", ""),
                "status": "queued",
                "num_segments": "1",
                "num_media": "0",
                "direction": "outbound-api",
                "api_version": API_VERSION,
                "date_created": "Sun, 29 Nov 2026 09:00:00 +0000",
                "date_updated": "Sun, 29 Nov 2026 09:00:00 +0000",
                "date_sent": None,
                "error_code": None,
                "error_message": None,
                "price": None,
                "price_unit": "USD",
                "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
                "subresource_uris": {},
            },
            status=201,
        )

    async def _media_resource(self, request: web.Request) -> web.Response:
        authorised = self._authorised(request)
        self.media_requests.append((request.method, request.path, authorised))
        if not authorised:
            return self._error(401, 20003, "Authenticate")
        media_id = request.match_info["media"]
        if media_id not in self._media:
            return self._error(404, 20404, "The requested resource was not found")
        raise web.HTTPTemporaryRedirect(f"/cdn/{media_id}")

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        with_auth = "Authorization" in request.headers
        self.media_requests.append((request.method, request.path, with_auth))
        if with_auth:  # storage refuses requests that carry someone else's credentials
            return web.Response(status=400, text="credentials must not be forwarded")
        media = self._media.get(request.match_info["media"])
        if media is None:
            return web.Response(status=404)
        if request.method == "HEAD":
            if not media.head_allowed:
                return web.Response(status=403)
            response = web.StreamResponse(status=200)
            response.content_type = media.content_type
            if media.declared_length is not None:
                response.headers["Content-Length"] = str(media.declared_length)
            await response.prepare(request)
            return response
        response = web.StreamResponse(status=200)  # chunked: no length told in advance
        response.content_type = media.content_type
        await response.prepare(request)
        for start in range(0, len(media.content), 64 * 1024):
            await response.write(media.content[start : start + 64 * 1024])
        await response.write_eof()
        return response


# -- what Twilio sends to the bot ------------------------------------------------------------


def sign(url: str, params: Mapping[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for a POST of `params` to `url`, as Twilio computes it."""
    signature: str = RequestValidator(token).compute_signature(url, dict(params))
    return signature


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{secrets.token_hex(16)}"


def inbound(number: str, body: str = "", *, sid: str | None = None, **extra: str) -> dict[str, str]:
    """The form fields of a WhatsApp message from `number` ("+998901234567")."""
    sid = sid or new_sid()
    return {
        "SmsMessageSid": sid,
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{number}",
        "To": SENDER,
        "WaId": number.removeprefix("+"),
        "ProfileName": "Dilnoza",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "MessageType": "text",
        "ApiVersion": API_VERSION,
        **extra,
    }


def media_message(
    number: str, urls_and_types: list[tuple[str, str]], caption: str = ""
) -> dict[str, str]:
    extra: dict[str, str] = {"NumMedia": str(len(urls_and_types)), "MessageType": "image"}
    for index, (url, content_type) in enumerate(urls_and_types):
        extra[f"MediaUrl{index}"] = url
        extra[f"MediaContentType{index}"] = content_type
    return inbound(number, caption, **extra)


def status_callback(
    sid: str, status: str, error_code: str | None = None, *, to: str = "+998901234567"
) -> dict[str, str]:
    form = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": SENDER,
        "To": f"whatsapp:{to}",
        "ApiVersion": API_VERSION,
        "ChannelPrefix": "whatsapp",
    }
    if error_code is not None:
        form["ErrorCode"] = error_code
    return form


async def post_signed(
    http: aiohttp.ClientSession,
    local_url: str,
    form: Mapping[str, str],
    *,
    signed_url: str,
    token: str = AUTH_TOKEN,
    signature: str | None = "",
) -> tuple[int, str, str]:
    """POST `form` to `local_url` (where the bot listens) signed for `signed_url` (what
    Twilio believes it called). signature "": compute it; None: leave the header out.
    Returns the status, the content type and the body."""
    headers: dict[str, Any] = {}
    if signature == "":
        signature = sign(signed_url, form, token)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    async with http.post(local_url, data=dict(form), headers=headers) as response:
        return response.status, response.content_type, await response.text()
