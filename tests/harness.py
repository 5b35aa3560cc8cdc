"""Driving the production application through its Telegram adapter in tests."""

from typing import Any

from sqlalchemy import func, select

from bot.app import Application
from models import ChannelAccount, Conversation, OutboxMessage, Person
from services.conversation import ConversationState, read_state
from services.i18n import Catalogs
from tests.fakes.telegram_session import Call, RecordingSession
from tests.fakes.telegram_updates import button, message


class TelegramHarness:
    def __init__(self, app: Application) -> None:
        assert app.telegram is not None, "the test settings carry a Telegram token"
        self.app = app
        self.bot = app.telegram.bot
        self.dispatcher = app.telegram.dispatcher
        session = self.bot.session
        assert isinstance(session, RecordingSession)
        self.session = session

    async def feed(self, update: dict[str, Any]) -> None:
        """One raw update through the production dispatcher, then the outbox delivered."""
        await self.dispatcher.feed_raw_update(self.bot, update)
        await self.app.sender.deliver_due()

    async def say(self, user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        await self.feed(message(user_id, text, **kwargs))
        return self.last_message(user_id)

    async def tap(self, user_id: int, data: str, **kwargs: Any) -> dict[str, Any]:
        await self.feed(button(user_id, data, **kwargs))
        return self.last_message(user_id)

    def messages_to(self, user_id: int) -> list[dict[str, Any]]:
        return [
            c.params for c in self.session.sent_messages() if int(c.params["chat_id"]) == user_id
        ]

    def last_message(self, user_id: int) -> dict[str, Any]:
        sent = self.messages_to(user_id)
        assert sent, f"nothing was sent to {user_id}"
        return sent[-1]

    def calls(self, method: str) -> list[Call]:
        return [call for call in self.session.calls if call.method == method]

    async def onboard(self, user_id: int, locale: str = "uz_Latn", *, consent: bool = True) -> None:
        await self.say(user_id, "/start")
        await self.tap(user_id, locale)
        await self.tap(user_id, "agree" if consent else "decline")

    async def state(self, user_id: int) -> ConversationState:
        async with self.app.db.sessions() as session:
            conversation = await session.scalar(
                select(Conversation)
                .join(ChannelAccount, ChannelAccount.person_id == Conversation.person_id)
                .where(
                    ChannelAccount.channel == "telegram", ChannelAccount.external_id == str(user_id)
                )
            )
            assert conversation is not None
            return read_state(conversation, self.app.cipher)

    async def person(self, user_id: int) -> Person:
        async with self.app.db.sessions() as session:
            person = await session.scalar(
                select(Person)
                .join(ChannelAccount, ChannelAccount.person_id == Person.id)
                .where(
                    ChannelAccount.channel == "telegram", ChannelAccount.external_id == str(user_id)
                )
            )
            assert person is not None
            return person

    async def count(self, model: type[Any]) -> int:
        async with self.app.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def outbox_rows(self) -> list[OutboxMessage]:
        async with self.app.db.sessions() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def button_ids(sent: dict[str, Any]) -> list[str]:
    markup = sent.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def button_labels(sent: dict[str, Any]) -> list[str]:
    markup = sent.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def not_understood(catalogs: Catalogs, locale: str, *, buttons: bool = True) -> str:
    """«I did not understand» with how to choose: tap a button (Telegram) or send a number."""
    translate = catalogs.translator(locale).gettext
    how = (
        "Please tap one of the buttons below."
        if buttons
        else "Please send the number of one of the options."
    )
    return f"{translate('I did not understand.')} {translate(how)}"
