"""A database is opened only with a key that reads it: a wrong or missing DATA_KEY (a backup
restored without its key, DATA_KEY put in .env after a first run) stops start-up in one line,
instead of leaving everyone who was in the middle of a form with «something went wrong» —
even for «SOS» — and `vatandosh db reencrypt` names the values it cannot read."""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Application, build_application
from bot.errors import StartupError
from models import Conversation, OutboxMessage
from services.clock import ManualClock
from services.crypto import DataCipher, DataKeyError, generate_data_key
from tests.conftest import TEST_DATA_KEY, SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness
from tests.test_cli import environment, vatandosh

AZIZ, BOBUR = 5550001, 5550002
WRONG_KEY_REFUSAL = (
    "vatandosh: DATA_KEY: the database was written with another key (none of the keys given "
    "reads it). Restore the key kept with your backups."
)


def _app(make_settings: SettingsFactory, clock: ManualClock, data_key: str) -> Application:
    return build_application(
        make_settings(data_key=data_key), clock=clock, telegram_session=RecordingSession()
    )


async def _mid_form(app: Application, user_id: int) -> None:
    """Someone who chose a language and is half-way through onboarding: their answers are
    encrypted in their conversation, the bot's replies in the outbox."""
    telegram = TelegramHarness(app)
    await telegram.say(user_id, "/start")
    await telegram.tap(user_id, "uz_Latn")
    await telegram.tap(user_id, "read_full")


async def _start(app: Application) -> None:
    try:
        await app.prepare_database()
    finally:
        await app.close()


async def test_a_wrong_key_stops_start_up_in_one_line_without_the_key(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    written = _app(make_settings, clock, TEST_DATA_KEY)
    try:
        await _mid_form(written, AZIZ)
    finally:
        await written.close()

    wrong = generate_data_key()
    with pytest.raises(StartupError) as refused:
        await _start(_app(make_settings, clock, wrong))
    assert f"vatandosh: {refused.value}" == WRONG_KEY_REFUSAL
    assert wrong not in str(refused.value)
    assert TEST_DATA_KEY not in str(refused.value)


async def test_the_right_key_a_rotation_and_an_empty_database_start(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    await _start(_app(make_settings, clock, generate_data_key()))  # empty: any key
    written = _app(make_settings, clock, TEST_DATA_KEY)
    try:
        await _mid_form(written, AZIZ)
    finally:
        await written.close()

    await _start(_app(make_settings, clock, TEST_DATA_KEY))
    new = generate_data_key()
    await _start(_app(make_settings, clock, f"{new},{TEST_DATA_KEY}"))  # rotating: new first

    # Data written during the rotation, under the new key: still fine with both keys.
    rotating = _app(make_settings, clock, f"{new},{TEST_DATA_KEY}")
    try:
        await _mid_form(rotating, BOBUR)
    finally:
        await rotating.close()
    await _start(_app(make_settings, clock, f"{new},{TEST_DATA_KEY}"))


async def test_data_under_a_key_left_out_of_data_key_is_named_in_the_log_and_the_bot_starts(
    make_settings: SettingsFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The old key dropped before `vatandosh db reencrypt`, or lost for good: part of the data
    is unreadable. Start-up names where, never what — and starts: refusing kept the bot, «SOS»
    included, down until someone edited the data by hand."""
    old_app = _app(make_settings, clock, TEST_DATA_KEY)
    try:
        await _mid_form(old_app, AZIZ)
    finally:
        await old_app.close()
    new = generate_data_key()
    new_app = _app(make_settings, clock, f"{new},{TEST_DATA_KEY}")
    try:
        await _mid_form(new_app, BOBUR)
        async with new_app.db.sessions() as session:
            first_outbox = await session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id))
    finally:
        await new_app.close()

    await _start(_app(make_settings, clock, new))

    [logged] = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert logged.startswith("some data no key in DATA_KEY reads (")
    assert f"outbox.payload rows {first_outbox}, " in logged
    assert "Siz" not in logged


def test_a_restored_sqlite_backup_without_its_key_file_is_refused_no_key_made(
    tmp_path: Path,
) -> None:
    """The README's restore: the backup put in place on a new machine, the key kept apart.
    No new key is made for it (that key would read none of the data): one line says where
    the key file belongs."""
    first = tmp_path / "first"
    first.mkdir()
    env = environment(f"sqlite+aiosqlite:///{first}/v.db")
    made = vatandosh("chat", "--as", "aziz", cwd=first, env=env, stdin="1\n1\n")
    assert made.returncode == 0, made.stderr
    assert (first / "data.key").exists()  # beside the database, not in ./var
    backup = vatandosh("db", "backup", str(tmp_path / "backup.db"), cwd=first, env=env)
    assert backup.returncode == 0, backup.stderr

    second = tmp_path / "second"
    second.mkdir()
    shutil.copyfile(tmp_path / "backup.db", second / "v.db")
    env = environment(f"sqlite+aiosqlite:///{second}/v.db")
    restored = vatandosh("chat", "--as", "aziz", cwd=second, env=env, stdin="SOS\n")
    assert restored.returncode == 2
    assert restored.stdout == ""
    assert restored.stderr == (
        f"vatandosh: DATA_KEY is not set and there is no key file at {second}/data.key, but the "
        f"database {second}/v.db holds data written with a key: restore the key kept with your "
        "backups (that file, or DATA_KEY)\n"
    )
    assert not (second / "data.key").exists()

    shutil.copyfile(first / "data.key", second / "data.key")  # the key restored too
    again = vatandosh("chat", "--as", "aziz", cwd=second, env=env, stdin="menyu\n")
    assert again.returncode == 0, again.stderr
    assert "(continuing as aziz" in again.stdout


def test_a_data_key_put_in_env_after_a_first_run_is_refused(tmp_path: Path) -> None:
    env = environment("sqlite+aiosqlite:///./var/v.db")
    made = vatandosh("chat", "--as", "aziz", cwd=tmp_path, env=env, stdin="1\n1\n")
    assert made.returncode == 0, made.stderr

    env["DATA_KEY"] = generate_data_key()
    for command in (["chat", "--as", "aziz"], ["db", "reencrypt"]):
        result = vatandosh(*command, cwd=tmp_path, env=env, stdin="SOS\n")
        assert result.returncode == 2, command
        assert result.stderr == (
            f"{WRONG_KEY_REFUSAL[:-1]} ({tmp_path}/var/data.key is not used while DATA_KEY is "
            "set).\n"
        )
        assert env["DATA_KEY"] not in result.stderr


async def test_reencrypt_names_the_values_no_key_reads_and_rewrites_the_rest(
    make_settings: SettingsFactory, clock: ManualClock, database_url: str, tmp_path: Path
) -> None:
    old_app = _app(make_settings, clock, TEST_DATA_KEY)
    try:
        await _mid_form(old_app, AZIZ)
    finally:
        await old_app.close()
    stray = generate_data_key()  # a key used for a while, then lost
    stray_app = _app(make_settings, clock, f"{stray},{TEST_DATA_KEY}")
    try:
        await _mid_form(stray_app, BOBUR)
        async with stray_app.db.sessions() as session:
            bobur = (await TelegramHarness(stray_app).person(BOBUR)).id
            strays = list(
                await session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.person_id == bobur)
                    .order_by(OutboxMessage.id)
                )
            )
    finally:
        await stray_app.close()

    new = generate_data_key()
    env = environment(database_url, DATA_KEY=f"{new},{TEST_DATA_KEY}")
    result = vatandosh("db", "reencrypt", cwd=tmp_path, env=env)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "InvalidToken" not in result.stderr
    assert result.stderr.count("\n") == 1
    rows = ", ".join(str(row) for row in strays)
    assert result.stderr.startswith(
        "vatandosh: re-encrypted 4 values with the first DATA_KEY key, but 4 value(s) no key in "
        f"DATA_KEY reads were left as they are (conversation.answers row {bobur}; "
        f"outbox.payload rows {rows}): put the key they were written with after the first "
        "one in DATA_KEY and run this again; drop no older key\n"
    ), result.stderr

    only_new = DataCipher(new)
    check = build_application(make_settings(), clock=clock)
    try:
        async with check.db.sessions() as session:
            for conversation in await session.scalars(select(Conversation)):
                if conversation.person_id == bobur:  # left as it was
                    DataCipher(stray).decrypt_text(conversation.answers)
                else:
                    only_new.decrypt_text(conversation.answers)
            for message in await session.scalars(select(OutboxMessage)):
                if message.id in strays:
                    with pytest.raises(DataKeyError):
                        only_new.decrypt_text(message.payload)
                else:
                    only_new.decrypt_text(message.payload)
    finally:
        await check.close()
