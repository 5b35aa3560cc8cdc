"""Raw Telegram updates through the production dispatcher, with recorded Bot API calls."""

from bot.channels.telegram import keyboard, publish_command_menu
from models import ChannelAccount, Conversation, InboundMessage, OutboxMessage, Person
from models.outbox import OutboxStatus
from services.messages import Choice, OutgoingMessage
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids, button_labels

ALICE = 5550001


async def test_start_with_deep_link_asks_for_language_and_remembers_the_payload(
    telegram: TelegramHarness,
) -> None:
    sent = await telegram.say(ALICE, "/start fam_AB12CD", language_code="ru")

    assert button_ids(sent) == ["uz_Latn", "uz_Cyrl", "ru"]
    assert "✓ Русский" in button_labels(sent)  # pre-selected from language_code
    assert "Пожалуйста, выберите язык." in sent["text"]
    assert "Здравствуйте!" in sent["text"]  # the greeting is in the guessed language
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("onboarding", "language")
    assert state.answers["start"] == {"payload": "fam_AB12CD"}
    assert await telegram.count(Person) == 1
    assert await telegram.count(ChannelAccount) == 1


async def test_buttons_walk_through_language_and_consent_to_the_main_menu(
    telegram: TelegramHarness,
) -> None:
    await telegram.say(ALICE, "/start")
    consent = await telegram.tap(ALICE, "uz_Cyrl")
    assert button_ids(consent) == ["agree", "read_full", "decline"]
    assert "Шахсий маълумотларингиз ҳақида" in consent["text"]

    menu = await telegram.tap(ALICE, "agree")
    assert button_ids(menu) == ["registration", "appeals", "guidance", "help", "family", "settings"]
    assert button_labels(menu)[0] == "Консуллик ҳисоби"
    assert len(telegram.calls("answerCallbackQuery")) == 2  # every tap is answered

    person = await telegram.person(ALICE)
    assert person.locale == "uz_Cyrl"
    assert person.consented_at is not None
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("menu", "main")


async def test_callback_query_is_answered_even_when_the_button_is_stale(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE)
    sent = await telegram.tap(ALICE, "read_full")  # a consent button, pressed again later

    assert len(telegram.calls("answerCallbackQuery")) == 3
    assert sent["text"].startswith("Bu tugma oldingi xabarga tegishli.")
    assert button_ids(sent)[0] == "registration"  # the current question again


async def test_edited_message_gets_a_hint_and_the_question_again(telegram: TelegramHarness) -> None:
    await telegram.say(ALICE, "/start")
    await telegram.feed(tg.edited_message(ALICE, "2"))

    sent = telegram.last_message(ALICE)
    assert "Tahrirlangan xabarlarni oʻqiy olmayman" in sent["text"]
    assert button_ids(sent) == ["uz_Latn", "uz_Cyrl", "ru"]
    assert (await telegram.person(ALICE)).locale is None  # the edit picked nothing


async def test_sticker_photo_and_location_are_answered_without_losing_the_place(
    telegram: TelegramHarness,
) -> None:
    await telegram.say(ALICE, "/start")
    await telegram.tap(ALICE, "ru")
    for update in (tg.sticker(ALICE), tg.photo(ALICE, caption="паспорт"), tg.location(ALICE)):
        await telegram.feed(update)
        sent = telegram.last_message(ALICE)
        assert sent["text"].startswith("Не понимаю.")
        assert button_ids(sent) == ["agree", "read_full", "decline"]

    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("onboarding", "consent")
    assert (await telegram.person(ALICE)).locale == "ru"


async def test_message_in_a_group_is_ignored(telegram: TelegramHarness) -> None:
    await telegram.feed(tg.group_message(ALICE, -1001234567890, "/start"))

    assert telegram.session.calls == []
    assert await telegram.count(Person) == 0
    assert await telegram.count(OutboxMessage) == 0


async def test_typed_number_and_words_pick_the_same_choice_as_the_button(
    telegram: TelegramHarness,
) -> None:
    await telegram.say(ALICE, "/start")
    assert button_ids(await telegram.say(ALICE, "3"))[0] == "agree"  # 3 = Русский
    assert (await telegram.person(ALICE)).locale == "ru"

    await telegram.say(ALICE, "язык")
    await telegram.say(ALICE, "ўзбекча кирилл")
    assert (await telegram.person(ALICE)).locale == "uz_Cyrl"


async def test_a_redelivered_update_is_handled_once(telegram: TelegramHarness) -> None:
    update = tg.message(ALICE, "/start")
    await telegram.feed(update)
    await telegram.feed(update)

    assert len(telegram.messages_to(ALICE)) == 1
    assert await telegram.count(InboundMessage) == 1


async def test_replies_go_through_the_outbox_and_are_marked_sent(telegram: TelegramHarness) -> None:
    await telegram.say(ALICE, "/start")

    rows = await telegram.outbox_rows()
    assert [row.status for row in rows] == [OutboxStatus.SENT]
    assert rows[0].address == str(ALICE)
    assert "Iltimos" not in rows[0].payload  # the text is encrypted at rest
    assert await telegram.count(Conversation) == 1


async def test_command_menu_is_published_in_each_language(telegram: TelegramHarness) -> None:
    await publish_command_menu(telegram.bot, telegram.app.catalogs, "uz_Latn")

    published = {c.params.get("language_code"): c.params for c in telegram.calls("setMyCommands")}
    assert set(published) == {None, "uz", "ru"}
    russian = {c["command"]: c["description"] for c in published["ru"]["commands"]}
    assert russian == {
        "menu": "Главное меню",
        "back": "Предыдущий вопрос",
        "cancel": "Отменить и вернуться в главное меню",
        "language": "Сменить язык",
        "help": "Как пользоваться чатом",
    }
    assert published[None]["commands"][0]["description"] == "Asosiy menyu"


def test_very_short_choices_share_a_keyboard_row() -> None:
    choices = (*(Choice(f"rate:{n}", str(n)) for n in range(1, 6)), Choice("u:back", "Orqaga"))
    markup = keyboard(OutgoingMessage("Baholang", choices))

    assert markup is not None
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [
        ["rate:1", "rate:2", "rate:3", "rate:4", "rate:5"],
        ["u:back"],
    ]


async def test_status_without_a_number_says_how_to_use_it(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "ru")
    sent = await telegram.say(ALICE, "/status")

    assert sent["text"].startswith(
        "Отправьте номер вместе с командой, например: /status AP-2026-000123"
    )
    assert button_ids(sent)[0] == "registration"  # and the question again


async def test_what_telegram_would_refuse_again_is_given_up_at_once(
    telegram: TelegramHarness,
) -> None:
    """Only a 429, a network error or a 5xx may pass: a request too large (aiogram counts
    it a network error) or any other refusal is not retried, so the chat's later messages
    do not wait behind it."""
    await telegram.say(ALICE, "/start")
    for status, description in [(413, "Request Entity Too Large"), (401, "Unauthorized")]:
        telegram.session.fail_next("sendMessage", status, description)
        await telegram.say(ALICE, "/start")
        row = (await telegram.outbox_rows())[-1]
        assert (row.status, row.attempts) == (OutboxStatus.FAILED, 1)
        assert (row.last_error or "").startswith("rejected")
