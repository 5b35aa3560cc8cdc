"""The weekly family messages: every TICK, the confirmed family links whose `next_message_at`
(indexed) has come are taken one by one with a conditional UPDATE that moves it a week on
(so several processes never send one week twice), and the member gets what the person chose
(services.family.weekly_messages), in the member's language and never in their quiet hours.
A link whose person or member deleted their data is ended instead."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from models import FamilyLink, Person
from models.db import Database
from scheduler.jobs import PeriodicJob
from services import family
from services.clock import Clock
from services.crypto import DataCipher
from services.i18n import Catalogs
from services.log_safety import failure_summary

log = logging.getLogger(__name__)

TICK = timedelta(minutes=5)
BATCH = 200


@dataclass
class FamilyMessagesJob:
    db: Database
    cipher: DataCipher
    catalogs: Catalogs
    clock: Clock
    default_locale: str = "uz_Latn"

    def periodic(self) -> PeriodicJob:
        return PeriodicJob("family-messages", TICK, self.run)

    async def run(self) -> int:
        """Send what is due; returns how many members got a message."""
        now = self.clock.now()
        async with self.db.reads() as session:
            due = [
                (row.id, row.next_message_at)
                for row in await session.execute(
                    select(FamilyLink.id, FamilyLink.next_message_at)
                    .where(
                        FamilyLink.next_message_at.is_not(None),
                        FamilyLink.next_message_at <= now,
                        FamilyLink.confirmed_at.is_not(None),
                        FamilyLink.ended_at.is_(None),
                    )
                    .order_by(FamilyLink.next_message_at)
                    .limit(BATCH)
                )
            ]
        sent = 0
        for link_id, due_at in due:
            try:
                sent += await self._one(link_id, due_at, now)
            except Exception as error:  # one bad row must not stop the others
                log.error("family message failed link=%s: %s", link_id, failure_summary(error))
        if due:
            log.info("family messages: %d due, %d sent", len(due), sent)
        return sent

    async def _one(self, link_id: int, due_at: datetime | None, now: datetime) -> int:
        async with self.db.transaction() as session:
            link = await session.get(FamilyLink, link_id)
            if link is None or link.member_id is None or due_at is None:
                return 0
            member = await session.get(Person, link.member_id)
            person = await session.get(Person, link.person_id)
            if member is None or person is None or member.deleted_at or person.deleted_at:
                ended = await session.execute(
                    update(FamilyLink)
                    .where(FamilyLink.id == link_id, FamilyLink.next_message_at == due_at)
                    .values(ended_at=now, next_message_at=None)
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
