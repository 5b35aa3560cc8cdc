"""Settings from the environment or `.env`; every one is documented in `.env.example`."""

import os
import re
from pathlib import Path
from typing import Annotated, Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as UnreadableSetting
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from services.crypto import DataKeyError, generate_data_key, parse_data_key
from services.staff import DEFAULT_TARGET_MINUTES

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/vatandosh.db"
# The form many providers give, postgres://, is PostgreSQL too.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
_TWILIO_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_TWILIO_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_WHATSAPP_SENDER = re.compile(r"^(?:whatsapp:)?(\+[1-9][0-9]{6,14})$")
# The Twilio settings that only make sense together: all of them or none.
TWILIO_REQUIRED = ("twilio_account_sid", "twilio_auth_token", "twilio_whatsapp_from")


_S = TypeVar("_S", bound=BaseSettings)

# libpq's sslmode (what providers add to their URLs), which asyncpg takes as `ssl`.
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# What SQLAlchemy's asyncpg dialect reads from the URL itself: a Unix socket's folder
# (`?host=/var/run/postgresql`), several hosts, the statement cache.
_DIALECT_PARAMETERS = frozenset({"host", "port", "prepared_statement_cache_size"})


def _asyncpg_query(
    query: dict[str, str | tuple[str, ...]],
) -> dict[str, str | tuple[str, ...]]:
    """A PostgreSQL URL's parameters as asyncpg takes them: libpq's `sslmode=X` becomes
    `ssl=X` (SQLAlchemy passes the URL's parameters to asyncpg.connect as they are), those
    the dialect reads itself (_DIALECT_PARAMETERS) stay; any other is refused, as asyncpg
    would refuse it with a traceback."""
    unknown = sorted(set(query) - {"sslmode", "ssl"} - _DIALECT_PARAMETERS)
    if unknown:
        raise ValueError(
            f"the parameter {unknown[0]} is not understood: only sslmode (or ssl), host, port "
            "and prepared_statement_cache_size may follow the database name"
        )
    if "sslmode" in query and "ssl" in query:
        raise ValueError("sslmode and ssl say the same: give one")
    kept = {key: value for key, value in query.items() if key in _DIALECT_PARAMETERS}
    given = query.get("sslmode", query.get("ssl"))
    if given is None:
        return kept
    if not isinstance(given, str) or given not in _SSL_MODES:
        raise ValueError(f"sslmode must be one of {', '.join(_SSL_MODES)}")
    return {**kept, "ssl": given}


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


class DatabaseSettings(BaseSettings):
    """Just the database: all that migrations need."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as error:
            raise ValueError("not a database URL") from error
        backend = url.get_backend_name()
        if backend not in _ASYNC_DRIVERS:
            raise ValueError("only sqlite and postgresql databases are supported")
        url = url.set(drivername=_ASYNC_DRIVERS[backend])
        if backend != "sqlite":
            url = url.set(query=_asyncpg_query(dict(url.query)))
        return url.render_as_string(hide_password=False)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class Settings(DatabaseSettings):
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    # The bot's @username without "@", for t.me links in texts (family invitations);
    # `vatandosh run` asks Telegram for it when it is not set.
    telegram_bot_username: str | None = Field(default=None, pattern=r"^@?[A-Za-z0-9_]{5,32}$")
    telegram_webhook_secret: SecretStr | None = None
    public_base_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    data_key: SecretStr | None = None
    default_locale: Literal["uz_Latn", "uz_Cyrl", "ru"] = "uz_Latn"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    telegram_max_per_second: float = Field(default=30.0, gt=0)
    telegram_max_per_chat_per_second: float = Field(default=1.0, gt=0)
    # Telegram's paid broadcasts: up to 1,000 messages/s for the whole bot
    # instead of TELEGRAM_MAX_PER_SECOND.
    telegram_paid_broadcasts: bool = False
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    # How long a message that fails for a passing reason (a network error, a server error)
    # is tried again, counted from when it was queued; refusals that cannot change give up
    # at once, and a 429 is waited out however long it lasts.
    outbox_retry_hours: float = Field(default=24.0, gt=0)
    # How long a sender holds the messages it claimed; a crashed process's claims are
    # picked up by another sender (or itself after a restart) once this has passed.
    outbox_lease_seconds: float = Field(default=60.0, ge=5)
    appeal_reopen_days: int = Field(default=30, ge=0)
    consulates_file: Path | None = None
    # WhatsApp through Twilio: served when the account SID, auth token and sender are set.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    twilio_status_callback_url: str | None = None
    # Approved WhatsApp templates (Content SIDs "HX…") for messages outside the 24-hour
    # window, one per locale; their single variable {{1}} carries the message.
    twilio_template_uz_latn: str | None = None
    twilio_template_uz_cyrl: str | None = None
    twilio_template_ru: str | None = None
    whatsapp_max_per_second: float = Field(default=10.0, gt=0)
    # A WhatsApp number silent this many days may have a new owner: its next message is asked
    # first whether the writer has used Vatandosh from it before (0: never asked).
    whatsapp_owner_check_days: int = Field(default=90, ge=0)
    # Consulate operators: the staff group (a Telegram supergroup with topics) and the rules
    # of the queue.
    operator_chat_id: int | None = None
    # Telegram lets a bot post about 20 messages a minute into one group.
    staff_group_max_per_minute: int = Field(default=20, ge=1)
    staff_locale: Literal["uz_Latn", "uz_Cyrl", "ru"] = "uz_Latn"
    operator_names_shown: bool = False
    case_reopen_days: int = Field(default=14, ge=0)
    # Minutes a person may wait for an answer before the case is red: "urgent", per help
    # reason or appeal category, per kind ("help", "appeal"), "*" for the rest. Amber from
    # half of it. JSON in the environment: SLA_TARGETS='{"urgent": 30, "*": 1440}'.
    sla_targets: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_TARGET_MINUTES))
    ping_urgent_minutes: int = Field(default=5, gt=0)
    ping_normal_minutes: int = Field(default=60, gt=0)
    escalation_chain: list[str] = Field(
        default_factory=lambda: ["supervisor", "consul", "head_of_mission"]
    )
    escalate_after_red_minutes: int = Field(default=60, gt=0)
    # Safety check-ins: waking hours (22:00–08:00 local do not count) a person has to answer
    # «Are you safe?» before their family and the operators are alerted.
    checkin_grace_hours: int = Field(default=6, ge=1, le=48)
    # Document reminders: days before the date (JSON list), and the local hour they are
    # sent at; the daily appeal digest's local hour. Hours outside 22:00–08:00 only.
    reminder_offsets_days: list[Annotated[int, Field(ge=1, le=366)]] = Field(
        default_factory=lambda: [30, 7, 1], min_length=1, max_length=10
    )
    reminder_local_hour: int = Field(default=10, ge=8, le=21)
    digest_local_hour: int = Field(default=9, ge=8, le=21)

    @property
    def twilio_configured(self) -> bool:
        return all(getattr(self, name) is not None for name in TWILIO_REQUIRED)

    @property
    def whatsapp_templates(self) -> dict[str, str]:
        """The configured template per locale (locales without one are left out)."""
        templates = {
            "uz_Latn": self.twilio_template_uz_latn,
            "uz_Cyrl": self.twilio_template_uz_cyrl,
            "ru": self.twilio_template_ru,
        }
        return {locale: sid for locale, sid in templates.items() if sid}

    @property
    def whatsapp_status_callback_url(self) -> str | None:
        if self.twilio_status_callback_url is not None:
            return self.twilio_status_callback_url
        if self.public_base_url is None:
            return None
        return f"{self.public_base_url}/whatsapp/status"

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        if value is not None and not _TOKEN.match(value.get_secret_value()):
            raise ValueError("must look like 123456:ABC-def… (from @BotFather)")
        return value

    @field_validator("telegram_bot_username")
    @classmethod
    def _no_at_sign(cls, value: str | None) -> str | None:
        return value.removeprefix("@") if value else value

    @field_validator("operator_chat_id")
    @classmethod
    def _group_id_shape(cls, value: int | None) -> int | None:
        if value is not None and value >= 0:
            raise ValueError("must be the staff group's id, a negative number like -1001234567890")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator(
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_whatsapp_from",
        "twilio_status_callback_url",
        "twilio_template_uz_latn",
        "twilio_template_uz_cyrl",
        "twilio_template_ru",
        "operator_chat_id",
        "telegram_bot_username",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`TWILIO_AUTH_TOKEN=` (or `OPERATOR_CHAT_ID=`) in .env means not set."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid_shape(cls, value: str | None) -> str | None:
        if value is not None and not _TWILIO_ACCOUNT_SID.match(value):
            raise ValueError("must look like AC followed by 32 hexadecimal digits (Twilio Console)")
        return value

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _sender_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        number = _WHATSAPP_SENDER.match(value.strip())
        if number is None:
            raise ValueError("must look like whatsapp:+14155238886 (the sender's number)")
        return f"whatsapp:{number.group(1)}"

    @field_validator("twilio_template_uz_latn", "twilio_template_uz_cyrl", "twilio_template_ru")
    @classmethod
    def _content_sid_shape(cls, value: str | None) -> str | None:
        if value is not None and not _TWILIO_CONTENT_SID.match(value):
            raise ValueError("must be a Content SID: HX followed by 32 hexadecimal digits")
        return value

    @field_validator(
        "telegram_api_base", "public_base_url", "twilio_api_base", "twilio_status_callback_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("data_key")
    @classmethod
    def _data_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_data_key(value.get_secret_value())
            except DataKeyError as error:
                raise ValueError(str(error)) from error
        return value

    @model_validator(mode="after")
    def _settings_that_go_together(self) -> Self:
        if self.telegram_mode == "webhook":
            if self.public_base_url is None:
                raise ValueError("PUBLIC_BASE_URL is required when TELEGRAM_MODE=webhook")
            if self.telegram_webhook_secret is None:
                raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_MODE=webhook")
        if self.operator_chat_id is not None and self.telegram_bot_token is None:
            raise ValueError(
                "OPERATOR_CHAT_ID needs TELEGRAM_BOT_TOKEN: the staff group is a Telegram group"
            )
        given = [name for name in TWILIO_REQUIRED if getattr(self, name) is not None]
        if given and len(given) < len(TWILIO_REQUIRED):
            missing = next(name for name in TWILIO_REQUIRED if name not in given)
            raise ValueError(
                f"{missing.upper()} is required for WhatsApp: TWILIO_ACCOUNT_SID, "
                "TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM go together"
            )
        if given and self.public_base_url is None:
            raise ValueError(
                "PUBLIC_BASE_URL is required for WhatsApp: Twilio posts to "
                "PUBLIC_BASE_URL/whatsapp/webhook"
            )
        if self.data_key is None and not self.database_url.startswith("sqlite"):
            raise ValueError("DATA_KEY is required with a PostgreSQL database (see .env.example)")
        return self


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, `.env` and `overrides`, or a SettingsError."""
    return _load(Settings, overrides)


def load_database_settings() -> DatabaseSettings:
    return _load(DatabaseSettings, {})


def _load(kind: type[_S], overrides: dict[str, object]) -> _S:
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except UnreadableSetting as error:  # a JSON setting that is not JSON: «{bad», «30, 7»
        found = re.search(r'field "(\w+)"', str(error))
        name = found.group(1).upper() if found else "A setting"
        raise SettingsError(f"{name}: not valid JSON (see .env.example for its form)") from None
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else ""
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}" if name else message) from None


def data_key_file(settings: DatabaseSettings) -> Path | None:
    """Where the key of an SQLite database is kept when DATA_KEY is not set: `data.key`
    beside the database file (None for PostgreSQL and an in-memory database)."""
    if not settings.is_sqlite:
        return None
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        return None
    return Path(database).parent / "data.key"


def resolve_data_key(settings: Settings) -> str:
    """DATA_KEY, or for an SQLite database without one, a key kept beside the database file
    (created on first use), so the embedded default runs with no set-up. A database that
    already holds data never gets a new key: it was written with one (a backup restored
    without its key), and a new key would read none of it."""
    if settings.data_key is not None:
        return settings.data_key.get_secret_value()
    key_file = data_key_file(settings)
    if key_file is None:
        return generate_data_key()
    if not key_file.exists():
        from services.data_keys import sqlite_holds_data  # loads the models: only here

        database = make_url(settings.database_url).database
        assert database is not None
        if sqlite_holds_data(Path(database)):
            raise SettingsError(
                f"DATA_KEY is not set and there is no key file at {key_file.resolve()}, but "
                f"the database {Path(database).resolve()} holds data written with a key: "
                "restore the key kept with your backups (that file, or DATA_KEY)"
            )
        key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(generate_data_key())
    key = key_file.read_text().strip()
    try:
        parse_data_key(key)
    except DataKeyError as error:
        raise SettingsError(f"{key_file.resolve()}: not a data key ({error})") from None
    return key
