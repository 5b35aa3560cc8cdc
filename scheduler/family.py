"""The weekly family messages: every TICK, the confirmed family links whose `next_message_at`
(indexed) has come, all of them (batch after batch, within RUN_BUDGET), are taken one by one
with a conditional UPDATE that moves it a week on (so several processes never send one week
twice), and the member gets what the person chose (services.family.weekly_messages), in the
member's language and never in their quiet hours (nothing while the member has withdrawn her
own consent: the week is moved on all the same). A link whose person or member deleted
their data is ended instead."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from models import FamilyLink, Person
from models.db import Database
from scheduler.due_rows import each_due
from scheduler.jobs import PeriodicJob
from services import family
from services.clock import Clock
from services.crypto import DataCipher
from services.i18n import Catalogs

log = logging.getLogger(__name__)

TICK = timedelta(minutes=5)
BATCH = 200
# A run takes batch after batch until nothing is due: links fall due together (10:00 in
# Tashkent), and one batch a tick sent at most 57,600 a day. It stops in time for the next tick.
RUN_BUDGET = TICK - timedelta(minutes=1)


@dataclass
class FamilyMessagesJob:
    db: Database
    cipher: DataCipher
    catalogs: Catalogs
    clock: Clock
    default_locale: str = "uz_Latn"
    budget: timedelta = RUN_BUDGET

    def periodic(self) -> PeriodicJob:
        return PeriodicJob("family-messages", TICK, self.run)

    async def run(self) -> int:
        """Send what is due; returns how many members got a message."""
        now = self.clock.now()

        async def send(session: AsyncSession, link_id: int, due_at: datetime) -> int:
            return await self._one(session, link_id, due_at, now)

        report = await each_due(
            self.db,
            FamilyLink.next_message_at,
            FamilyLink.id,
            now,
            "family messages",
            send,
            where=[FamilyLink.confirmed_at.is_not(None), FamilyLink.ended_at.is_(None)],
            batch=BATCH,
            budget=self.budget,
        )
        return report.sent

    async def _one(
        self, session: AsyncSession, link_id: int, due_at: datetime, now: datetime
    ) -> int:
        link = await session.get(FamilyLink, link_id)
        if link is None or link.member_id is None:
            return 0
        member = await session.get(Person, link.member_id)
        person = await session.get(Person, link.person_id)
        if member is None or person is None or member.deleted_at or person.deleted_at:
            ended = await session.execute(
                update(FamilyLink)
                .where(FamilyLink.id == link_id, FamilyLink.next_message_at == due_at)
                .values(ended_at=now, next_message_at=None, known_as=None)
                .execution_options(synchronize_session=False)
            )
            if ended.rowcount == 1:  # type: ignore[attr-defined]
                log.info("family link ended (data deleted) link=%s", link_id)
            return 0
        taken = await session.execute(
            update(FamilyLink)
            .where(
                FamilyLink.id == link_id,
                FamilyLink.next_message_at == due_at,
                FamilyLink.ended_at.is_(None),
            )
            .values(next_message_at=family.next_weekly(max(now, due_at), member))
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return 0  # another process took it, or it ended meanwhile
        queued = await family.send_weekly(
            session, self.cipher, self.catalogs, link, member, now, self.default_locale
        )
        log.info("family message link=%s queued=%s", link_id, queued)
        return int(queued)
