"""Personal data at rest is encrypted with DATA_KEY, and the key can be rotated."""

import pytest
from sqlalchemy import select

from bot.app import build_application
from models import AppealCategory, AppealStatus, Base, Conversation, Person
from models.base import is_encrypted
from services import appeals
from services.clock import ManualClock
from services.conversation import read_state
from services.crypto import DataCipher, DataKeyError, generate_data_key
from services.data_keys import encrypted_columns, reencrypt_all
from tests.conftest import TEST_DATA_KEY, SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness

ALICE = 4440001


async def test_rotation_re_encrypts_everything_with_the_new_key(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    old_app = build_application(make_settings(), clock=clock, telegram_session=RecordingSession())
    try:
        telegram = TelegramHarness(old_app)
        await telegram.say(ALICE, "/start")
        await telegram.tap(ALICE, "uz_Latn")
        await telegram.tap(ALICE, "read_full")  # something in the encrypted answers
        async with old_app.db.transaction() as session:  # and in the other tables
            person = await session.get(Person, (await telegram.person(ALICE)).id)
            assert person is not None
            appeal = await appeals.file_appeal(
                session, old_app.cipher, old_app.desk, person=person, category=AppealCategory.OTHER,
                text="Pasportim yoʻqoldi", now=clock.now(),
            )  # fmt: skip
            await appeals.change_appeal_status(
                session, old_app.cipher, old_app.catalogs, appeal, AppealStatus.NEEDS_INFO,
                actor="operator:1", now=clock.now(), message="Qayerda?",
            )  # fmt: skip
    finally:
        await old_app.close()

    new_key = generate_data_key()
    during = build_application(make_settings(data_key=f"{new_key},{TEST_DATA_KEY}"), clock=clock)
    try:
        rotated = await reencrypt_all(during.db, during.cipher)
    finally:
        await during.close()
    # the state and its pending question (the consulate asks: the answer screen); 3 replies
    # and 1 notice; the appeal's text; its status event's message
    assert rotated == 2 + 4 + 1 + 1

    only_new, only_old = DataCipher(new_key), DataCipher(TEST_DATA_KEY)
    after = build_application(make_settings(data_key=new_key), clock=clock)
    try:
        async with after.db.sessions() as session:
            conversation = await session.scalar(select(Conversation))
            assert conversation is not None
            assert read_state(conversation, only_new).answers == {"onboarding": {"read_full": True}}
            for _table, column in encrypted_columns():
                tokens = await session.scalars(
                    select(column).where(column.is_not(None), column != "")
                )
                for token in tokens:
                    only_new.decrypt_text(token)
                    with pytest.raises(DataKeyError):
                        only_old.decrypt_text(token)
    finally:
        await after.close()


def test_data_key_accepts_several_keys_and_encrypts_with_the_first() -> None:
    first, second = generate_data_key(), generate_data_key()
    token = DataCipher(second).encrypt_text("AA1234567")

    both = DataCipher(f"{first}, {second}")
    assert both.decrypt_text(token) == "AA1234567"
    assert DataCipher(first).decrypt_text(both.rotate(token)) == "AA1234567"
    assert "AA1234567" not in both.encrypt_text("AA1234567")


def test_keyed_hash_depends_on_the_first_key_only_and_hides_the_value() -> None:
    first, second = generate_data_key(), generate_data_key()
    cipher = DataCipher(f"{first},{second}")

    digest = cipher.keyed_hash("042917")
    assert len(digest) == 64
    assert int(digest, 16) >= 0  # hex
    assert "042917" not in digest
    assert digest == cipher.keyed_hash("042917")  # the same value is recognised again
    assert digest != cipher.keyed_hash("042918")
    assert digest == DataCipher(first).keyed_hash("042917")  # only the first key counts
    assert digest != DataCipher(second).keyed_hash("042917")
    assert digest != DataCipher(f"{second},{first}").keyed_hash("042917")  # rotation


def test_every_text_column_is_encrypted_personal_data() -> None:
    """Free text may hold anything a person wrote: a new Text column must be marked with
    encrypted_column (or this test changed on purpose, with the reason)."""
    plain_text = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.type.__class__.__name__ == "Text" and not is_encrypted(column)
    ]
    assert plain_text == []
    assert len(encrypted_columns()) == 14
