"""A DATA_KEY rotation done as the README says (`DATA_KEY=new,old`) breaks nothing that is
kept only as a keyed hash: the code word (the covert danger signal), a family invitation,
a link code. Each still works after the rotation, and its stored hash is then re-made with
the new key, so the old key can go; `vatandosh db reencrypt` says what still needs it."""

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from bot import cli
from bot.app import Application, build_application
from models import CheckinPlan, FamilyLink, LinkCode
from services import checkins, family
from services.clock import ManualClock
from services.crypto import DataCipher, generate_data_key
from services.data_keys import hashes_under_older_keys
from services.text import match_key
from tests.conftest import TEST_DATA_KEY, SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness
from tests.test_checkins import ALICE, STAFF_CHAT, alice_with_the_code_word_limon, cases
from tests.test_family import AZIZA, DOES_NOT_WORK, MOTHER, invite
from tests.test_linking import code_in

pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT)

NEW_KEY = Fernet.generate_key().decode()
ROTATED = f"{NEW_KEY},{TEST_DATA_KEY}"
BOB = 7770002


@asynccontextmanager
async def rotated_app(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[Application]:
    """The same database, restarted with DATA_KEY=new,old."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT, data_key=ROTATED),
        clock=clock,
        telegram_session=RecordingSession(),
    )
    try:
        yield app
    finally:
        await app.close()


async def stored_code_word(app: Application, person_id: int) -> str | None:
    async with app.db.sessions() as session:
        return await session.scalar(
            select(CheckinPlan.code_word_hash).where(CheckinPlan.person_id == person_id)
        )


async def test_the_code_word_still_opens_a_covert_case_after_a_rotation(
    telegram: TelegramHarness, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    pid = await alice_with_the_code_word_limon(telegram)
    before = await stored_code_word(telegram.app, pid)

    async with rotated_app(make_settings, clock) as app:
        harness = TelegramHarness(app)
        await harness.say(ALICE, "menu")
        await harness.say(ALICE, "Лимон")
        found = await cases(app)
        assert [(case.covert, case.urgent) for case in found] == [(True, True)]
        # Re-made with the new key: the old one is no longer needed for it.
        after = await stored_code_word(app, pid)
        assert after is not None
        assert after != before
        async with app.db.sessions() as session:  # the new key alone recognises it
            assert await checkins.is_code_word(session, DataCipher(NEW_KEY), pid, "Лимон")
        assert await hashes_under_older_keys(app.db, app.cipher, clock.now()) == {
            "code words": 0,
            "family invitations": 0,
            "link codes": 0,
        }
        async with app.db.sessions() as session:
            assert await checkins.is_code_word(session, app.cipher, pid, "лимон")
            assert not await checkins.is_code_word(session, app.cipher, pid, "Апельсин")

    # With the old key alone it no longer matches: it really moved.
    async with telegram.app.db.sessions() as session:
        assert not await checkins.is_code_word(session, telegram.app.cipher, pid, "Лимон")


async def test_a_code_word_stored_before_hashes_named_their_key_still_works(
    telegram: TelegramHarness, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """A hash of the earlier release: 64 hex characters of the HMAC under the old key."""
    import base64
    import hmac

    pid = await alice_with_the_code_word_limon(telegram)
    secret = hmac.digest(
        base64.urlsafe_b64decode(TEST_DATA_KEY), b"vatandosh keyed hash v1", "sha256"
    )
    word = f"checkin-code:{pid}:{match_key('Лимон')}"
    legacy = hmac.digest(secret, word.encode(), "sha256").hex()
    async with telegram.app.db.transaction() as session:
        await session.execute(
            update(CheckinPlan).where(CheckinPlan.person_id == pid).values(code_word_hash=legacy)
        )

    async with rotated_app(make_settings, clock) as app:
        counted = await hashes_under_older_keys(app.db, app.cipher, clock.now())
        assert counted["code words"] == 1
        harness = TelegramHarness(app)
        await harness.say(ALICE, "menu")
        await harness.say(ALICE, "лимон")
        assert [(case.covert, case.urgent) for case in await cases(app)] == [(True, True)]
        assert (await hashes_under_older_keys(app.db, app.cipher, clock.now()))["code words"] == 0


async def test_a_family_invitation_made_before_a_rotation_works_after_it(
    telegram: TelegramHarness, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    await telegram.onboard(AZIZA, "uz_Latn")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    code = await invite(telegram, AZIZA, "father")

    async with rotated_app(make_settings, clock) as app:
        assert (await hashes_under_older_keys(app.db, app.cipher, clock.now()))[
            "family invitations"
        ] == 1
        harness = TelegramHarness(app)
        joined = await harness.say(MOTHER, f"ОИЛА {code}")
        assert DOES_NOT_WORK not in joined["text"], joined["text"]
        assert "Раҳмат. Қариндошингиздан сизни оила аъзоси" in joined["text"]
        mother = await harness.person(MOTHER)
        async with app.db.sessions() as session:
            (link,) = await session.scalars(select(FamilyLink))
            assert link.member_id == mother.id
            assert link.code_hash == DataCipher(NEW_KEY).keyed_hash(f"family|{code}")
        # Sent again, the code is recognised as hers (under the new key now).
        again = await harness.say(MOTHER, f"ОИЛА {code}")
        assert DOES_NOT_WORK not in again["text"]
        assert (await hashes_under_older_keys(app.db, app.cipher, clock.now()))[
            "family invitations"
        ] == 0


async def test_no_new_invitation_gets_the_code_of_one_under_the_old_key(
    telegram: TelegramHarness, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """A code drawn after the rotation is checked against the old key's hashes too, so two
    live invitations never share a code."""
    await telegram.onboard(AZIZA, "uz_Latn")
    code = await invite(telegram, AZIZA, "father")
    drawn = iter([int(code), int(code), 12345678])

    async with rotated_app(make_settings, clock) as app:
        pid = (await TelegramHarness(app).person(AZIZA)).id
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("services.family.secrets.randbelow", lambda _bound: next(drawn))
            async with app.db.transaction() as session:
                new_code = await family.create_invitation(
                    session, app.cipher, pid, "mother", clock.now()
                )
    assert new_code == "12345678"


async def test_a_link_code_shown_before_a_rotation_links_after_it(
    telegram: TelegramHarness, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "settings")
    code = code_in((await telegram.tap(ALICE, "link_chat"))["text"])

    async with rotated_app(make_settings, clock) as app:
        assert (await hashes_under_older_keys(app.db, app.cipher, clock.now()))["link codes"] == 1
        harness = TelegramHarness(app)
        linked = await harness.say(BOB, f"LINK {code}", language_code="ru")
        assert linked["text"].startswith("Готово"), linked["text"]
        assert (await harness.person(BOB)).id == (await harness.person(ALICE)).id
        async with app.db.sessions() as session:
            (row,) = await session.scalars(select(LinkCode))
            assert row.code_hash == DataCipher(NEW_KEY).keyed_hash(code)


async def test_reencrypt_says_which_hashes_still_need_the_old_key(
    telegram: TelegramHarness,
    make_settings: SettingsFactory,
    clock: ManualClock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid = await alice_with_the_code_word_limon(telegram)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", ROTATED)
    monkeypatch.setattr(cli, "_require_existing_database", lambda _url: None)

    await cli._db_reencrypt(argparse.Namespace())
    out = capsys.readouterr().out
    assert "older keys can be dropped" not in out
    assert "1 code words" in out
    assert "Keep the older keys in DATA_KEY" in out

    # Once she has used it, the old key is no longer needed.
    async with rotated_app(make_settings, clock) as app, app.db.transaction() as session:
        assert await checkins.is_code_word(session, app.cipher, pid, "Лимон")
    await cli._db_reencrypt(argparse.Namespace())
    assert "older keys can be dropped" in capsys.readouterr().out


def test_keyed_hashes_cover_every_key_the_first_first() -> None:
    first, second = generate_data_key(), generate_data_key()
    rotated = DataCipher(f"{first},{second}")
    candidates = rotated.keyed_hashes("042917")
    assert candidates[0] == rotated.keyed_hash("042917") == DataCipher(first).keyed_hash("042917")
    assert DataCipher(second).keyed_hash("042917") in candidates
    assert all(len(candidate) == 64 and int(candidate, 16) >= 0 for candidate in candidates)
    assert all("042917" not in candidate for candidate in candidates)
    old = DataCipher(second).keyed_hash("042917")
    assert rotated.matching_hash(old, "042917") == old
    assert rotated.matching_hash(old, "042918") is None
    assert rotated.matching_hash(None, "042917") is None
    assert not rotated.is_current_hash(old)
    assert rotated.is_current_hash(rotated.keyed_hash("042917"))
