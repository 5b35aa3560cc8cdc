"""Personal data at rest is encrypted with DATA_KEY, and the key can be rotated."""

import pytest
from sqlalchemy import select

from bot.app import build_application
from models import Conversation, OutboxMessage
from services.clock import ManualClock
from services.conversation import read_state
from services.crypto import DataCipher, DataKeyError, generate_data_key
from services.data_keys import reencrypt_all
from services.messages import OutgoingMessage
from tests.conftest import TEST_DATA_KEY, SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness

ALICE = 4440001


async def test_rotation_re_encrypts_everything_with_the_new_key(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    old_app = build_application(make_settings(), clock=clock, telegram_session=RecordingSession())
    telegram = TelegramHarness(old_app)
    await telegram.say(ALICE, "/start")
    await telegram.tap(ALICE, "uz_Latn")
    await telegram.tap(ALICE, "read_full")  # something in the encrypted answers
    await old_app.close()

    new_key = generate_data_key()
    during = build_application(
        make_settings(data_key=f"{new_key},{TEST_DATA_KEY}"), clock=clock,
        telegram_session=RecordingSession(),
    )  # fmt: skip
    try:
        assert await reencrypt_all(during.db.sessions, during.cipher) == 1 + 3  # state + replies
    finally:
        await during.close()

    only_new = DataCipher(new_key)
    only_old = DataCipher(TEST_DATA_KEY)
    after = build_application(make_settings(data_key=new_key), clock=clock)
    try:
        async with after.db.sessions() as session:
            conversation = await session.scalar(select(Conversation))
            assert conversation is not None
            assert read_state(conversation, only_new).answers == {"onboarding": {"read_full": True}}
            with pytest.raises(DataKeyError):
                read_state(conversation, only_old)
            for row in await session.scalars(select(OutboxMessage)):
                assert OutgoingMessage.from_payload(only_new.decrypt_json(row.payload)).text
    finally:
        await after.close()


def test_data_key_accepts_several_keys_and_encrypts_with_the_first() -> None:
    first, second = generate_data_key(), generate_data_key()
    token = DataCipher(second).encrypt_text("AA1234567")

    both = DataCipher(f"{first}, {second}")
    assert both.decrypt_text(token) == "AA1234567"
    assert DataCipher(first).decrypt_text(both.rotate(token)) == "AA1234567"
    assert "AA1234567" not in both.encrypt_text("AA1234567")
