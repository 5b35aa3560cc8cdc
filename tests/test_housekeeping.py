"""Periodic housekeeping jobs, run with a controlled clock."""

from datetime import timedelta

from bot.app import Application
from models import InboundMessage
from scheduler.jobs import forget_old_inbound_ids
from services.clock import ManualClock
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness


async def test_old_redelivery_ids_are_forgotten_recent_ones_kept(
    app: Application, telegram: TelegramHarness, clock: ManualClock
) -> None:
    old = tg.message(1, "/start")
    await telegram.feed(old)
    clock.advance(timedelta(days=8))
    await telegram.feed(tg.message(2, "/start"))

    assert await forget_old_inbound_ids(app.db, clock) == 1
    assert await telegram.count(InboundMessage) == 1
