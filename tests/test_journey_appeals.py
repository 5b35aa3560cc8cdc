"""The appeals journey end to end through the real Telegram adapter: filing for oneself and on
a relative's behalf, files, the text limit, the list and the history, the consulate's
question answered, an operator's message in the appeal's topic answered, additions,
withdrawal, rating, reopening inside and outside the window, a typed number from anywhere,
and nobody reaching someone else's appeal."""

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import Application
from models import (
    Appeal,
    AppealEvent,
    AppealStatus,
    Attachment,
    CaseMessage,
    HelpCase,
    HelpReason,
    Person,
)
from services import appeals, help_cases
from services.clock import ManualClock
from services.text import clean_text
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids, button_labels
from tests.test_staff_group import (
    OPERATOR,
    add_operator,
    desk_app,
    post,
    posted,
    texts_in,
    thread_of,
    threads,
    to_person,
)

__all__ = ["desk_app"]  # a fixture, re-used from the staff group tests

ALICE, BOB = 4440001, 4440002
FIRST = "AP-2026-000001"
WAGES_TEXT = "Работодатель три месяца не платит зарплату. Прошу помочь получить деньги."
VIEW_OPEN = ["add", "withdraw", "mine", "u:menu"]
RATINGS = ["r:1", "r:2", "r:3", "r:4", "r:5"]


# -- updates the shared fakes do not build ---------------------------------------------------


def document(user: int, size: int = 52_000, caption: str | None = None) -> dict[str, Any]:
    extra = {"caption": caption} if caption else {}
    return tg.message(
        user,
        document={
            "file_id": "BQACAgIAAxkBAAdoc",
            "file_unique_id": "d1",
            "file_name": "contract.pdf",
            "mime_type": "application/pdf",
            "file_size": size,
        },
        **extra,
    )


def voice(user: int) -> dict[str, Any]:
    return tg.message(
        user,
        voice={
            "file_id": "AwACAgIAAxkBAAvoice",
            "file_unique_id": "v1",
            "duration": 14,
            "mime_type": "audio/ogg",
            "file_size": 30_000,
        },
    )


# -- helpers ---------------------------------------------------------------------------------


async def open_appeals(telegram: TelegramHarness, user: int, locale: str = "ru") -> dict[str, Any]:
    await telegram.onboard(user, locale)
    return await telegram.tap(user, "appeals")


async def file_for_myself(
    telegram: TelegramHarness, user: int, text: str = WAGES_TEXT, *, onboard: bool = True
) -> str:
    """A wages appeal from Türkiye without files, through the buttons; its number."""
    if onboard:
        await open_appeals(telegram, user)
    else:
        await telegram.say(user, "/menu")
        await telegram.tap(user, "appeals")
    await telegram.tap(user, "new")
    await telegram.tap(user, "c:unpaid_wages")
    await telegram.tap(user, "self")
    await telegram.tap(user, "country:TR")
    await telegram.say(user, text)
    await telegram.tap(user, "done")
    sent = await telegram.tap(user, "send")
    found = re.search(r"AP-\d{4}-\d{6}", sent["text"])
    assert found, sent["text"]
    return found.group()


async def appeal_row(app: Application, reference: str) -> Appeal:
    async with app.db.sessions() as session:
        appeal = await session.scalar(select(Appeal).where(Appeal.reference == reference))
        assert appeal is not None
        return appeal


async def events_of(app: Application, reference: str) -> list[tuple[str, str | None, str]]:
    appeal = await appeal_row(app, reference)
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(AppealEvent).where(AppealEvent.appeal_id == appeal.id).order_by(AppealEvent.id)
        )
        return [(e.kind, e.status, e.actor) for e in rows]


async def operator_sets(
    app: Application, reference: str, status: AppealStatus, message: str | None = None
) -> None:
    """What an operator's tool does: the one status-change action, as "operator:1"."""
    async with app.db.transaction() as session:
        appeal = await session.scalar(select(Appeal).where(Appeal.reference == reference))
        assert appeal is not None
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal, status, actor="operator:1",
            now=app.clock.now(), message=message,
        )  # fmt: skip
    await app.sender.deliver_due()


# -- the menu --------------------------------------------------------------------------------


async def test_the_appeals_item_offers_a_new_appeal_my_appeals_and_the_main_menu(
    telegram: TelegramHarness,
) -> None:
    sent = await open_appeals(telegram, ALICE)

    assert button_ids(sent) == ["new", "mine", "u:menu"]
    assert button_labels(sent) == ["Новое обращение", "Мои обращения", "Главное меню"]
    assert sent["text"].startswith("Обращения в консульство. Что Вы хотите сделать?")
    assert (await telegram.state(ALICE)).step == "main"

    categories = await telegram.tap(ALICE, "new")
    ids = button_ids(categories)
    assert len(ids) == 13
    assert ids[-1] == "u:back"
    assert "c:id_card_abroad" not in ids
    assert "c:return_birth_certificate" not in ids
    assert "Торговля людьми, принудительный труд или сексуальное насилие" in button_labels(
        categories
    )
    mine = await telegram.say(ALICE, "назад")
    assert button_ids(mine) == ["new", "mine", "u:menu"]
    empty = await telegram.tap(ALICE, "mine")
    assert empty["text"] == "У Вас пока нет обращений."
    assert button_ids(empty) == ["new", "u:menu"]


# -- filing ----------------------------------------------------------------------------------


async def test_filing_for_oneself_with_a_photo_a_document_and_a_voice_message(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await open_appeals(telegram, ALICE)
    await telegram.tap(ALICE, "new")
    whom = await telegram.say(ALICE, "2")  # typed number: labour rights and unpaid wages
    assert button_ids(whom) == ["self", "other", "u:back"]
    country = await telegram.say(ALICE, "за себя")  # typed words pick the choice too
    assert country["text"].startswith("В какой стране Вы сейчас?")
    text_question = await telegram.say(ALICE, "Туркия")
    assert "Не больше 3000 символов" in text_question["text"]
    files = await telegram.say(ALICE, WAGES_TEXT)
    assert "Добавлено файлов: 0 из 10." in files["text"]
    assert button_labels(files) == ["Без файлов", "Назад"]

    for update in (tg.photo(ALICE), document(ALICE), voice(ALICE)):
        await telegram.feed(update)
    sent = telegram.last_message(ALICE)
    assert "Добавлено файлов: 3 из 10." in sent["text"]
    assert button_labels(sent) == ["Готово", "Удалить файлы", "Назад"]
    await telegram.feed(tg.sticker(ALICE))
    assert telegram.last_message(ALICE)["text"].startswith("Это нельзя приложить.")

    summary = await telegram.tap(ALICE, "done")
    assert summary["text"].startswith("Пожалуйста, проверьте обращение:")
    assert "Тема: Трудовые права и невыплаченная зарплата" in summary["text"]
    assert "Страна: Турция" in summary["text"]
    assert "Файлы: 3" in summary["text"]
    assert WAGES_TEXT in summary["text"]
    assert button_ids(summary) == ["send", "edit_text", "remove_files", "u:cancel"]

    filed = await telegram.tap(ALICE, "send")

    assert filed["text"].startswith(  # no staff group here: nobody is said to read it
        "Ваше обращение сохранено, но операторы консульства пока не отвечают в этом чате, "
        "поэтому его могут не прочитать в ближайшее время.\n"
        f"Номер: {FIRST}\nСтатус: зарегистрировано\n"
    )
    assert button_ids(filed)[0] == "registration"  # then the main menu
    appeal = await appeal_row(app, FIRST)
    person = await telegram.person(ALICE)
    assert (appeal.person_id, appeal.category, appeal.status) == (
        person.id, "unpaid_wages", "new"
    )  # fmt: skip
    assert (appeal.country, appeal.on_behalf, appeal.subject) == ("TR", False, None)
    assert WAGES_TEXT not in appeal.text  # encrypted at rest
    assert app.cipher.decrypt_text(appeal.text) == WAGES_TEXT
    async with app.db.sessions() as session:
        files_kept = list(await session.scalars(select(Attachment).order_by(Attachment.id)))
    assert [(a.kind, a.file_ref, a.channel, a.appeal_id) for a in files_kept] == [
        ("photo", "AgACAgIAAxkBAAlarge", "telegram", appeal.id),
        ("document", "BQACAgIAAxkBAAdoc", "telegram", appeal.id),
        ("voice", "AwACAgIAAxkBAAvoice", "telegram", appeal.id),
    ]
    assert [f.mime_type for f in files_kept] == ["image/jpeg", "application/pdf", "audio/ogg"]
    assert await events_of(app, FIRST) == [("filed", "new", "person")]
    kept = (await telegram.state(ALICE)).answers["appeals"]
    assert list(kept) == ["just_filed"]  # the draft is gone; the number waits for late files


LATE_FILE_ADDED = "Thank you. The file has been added to your appeal {reference}."


async def test_a_file_arriving_just_after_send_is_added_to_the_appeal_just_sent(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The rest of an album still uploading (on WhatsApp a typed «1» can overtake a photo)
    arrives in the main menu after «Send»: for a few minutes it goes to the appeal just sent,
    and the person is told. It was dropped with «I do not understand»."""
    app = telegram.app
    await start_wages_appeal(telegram, ALICE)
    await telegram.say(ALICE, WAGES_TEXT)
    await telegram.feed(tg.photo(ALICE))
    await telegram.tap(ALICE, "done")
    await telegram.tap(ALICE, "send")

    clock.advance(timedelta(minutes=2))
    await telegram.feed(document(ALICE, caption="Это мой трудовой договор."))

    late = telegram.last_message(ALICE)
    assert late["text"].startswith(tr(telegram, LATE_FILE_ADDED, reference=FIRST))
    assert button_ids(late)[0] == "registration"  # still the main menu
    assert await attachments_of(app, FIRST) == ["photo", "document"]
    assert (await events_of(app, FIRST))[-1] == ("info_added", None, "person")
    view = await telegram.say(ALICE, FIRST)
    assert "Вы добавили:\nЭто мой трудовой договор." in view["text"]

    # Withdrawn meanwhile: the person hears that the file could not go with it.
    await telegram.tap(ALICE, "withdraw")
    await telegram.tap(ALICE, "yes")
    await telegram.say(ALICE, "/menu")
    await telegram.feed(tg.photo(ALICE))
    told = telegram.last_message(ALICE)["text"]
    assert told.startswith(tr(telegram, FILES_NOT_ADDED, reference=FIRST, count=1))
    assert await attachments_of(app, FIRST) == ["photo", "document"]


async def test_a_file_in_the_main_menu_long_after_send_joins_no_appeal(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await file_for_myself(telegram, ALICE)
    clock.advance(timedelta(minutes=11))
    await telegram.feed(tg.photo(ALICE))
    assert not telegram.last_message(ALICE)["text"].startswith(
        tr(telegram, LATE_FILE_ADDED, reference=FIRST)
    )
    assert await telegram.count(Attachment) == 0


async def test_filing_without_files_and_a_second_appeal_gets_the_next_number(
    telegram: TelegramHarness,
) -> None:
    first = await file_for_myself(telegram, ALICE)
    second = await file_for_myself(telegram, ALICE, "Прошу продлить паспорт.", onboard=False)

    assert (first, second) == (FIRST, "AP-2026-000002")
    assert await telegram.count(Attachment) == 0
    assert await telegram.count(Appeal) == 2


async def test_on_behalf_of_a_detained_relative_with_the_line_about_urgent_help(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await open_appeals(telegram, ALICE)
    await telegram.tap(ALICE, "new")

    whom = await telegram.tap(ALICE, "c:detention")

    assert whom["text"].startswith(
        "Если Вы сейчас в опасности, не ждите ответа на обращение: выберите здесь «Я сейчас "
        "в опасности» или в главном меню «Помощь: связаться с оператором»."
    )
    assert button_ids(whom) == ["self", "other", "urgent", "u:back"]
    name = await telegram.tap(ALICE, "other")
    assert name["text"].startswith("Как зовут человека, о котором Вы пишете?")
    refused = await telegram.say(ALICE, "'; DROP TABLE person; --")
    assert refused["text"].startswith("Пожалуйста, напишите имя только буквами")
    assert "DROP" not in refused["text"]
    country = await telegram.say(ALICE, "Каримов Азиз Бахтиёр ўғли")
    assert country["text"].startswith("В какой стране этот человек или где он был")
    city = await telegram.say(ALICE, "Россия")
    assert button_ids(city) == ["unknown", "u:back"]
    contact = await telegram.say(ALICE, "Казань")
    assert contact["text"].startswith("Когда и как Вы в последний раз получали от него вести?")
    await telegram.say(ALICE, "3 марта, по телефону, потом телефон выключен")
    await telegram.say(ALICE, "Брата задержали на стройке, ничего не сообщают.")
    summary = await telegram.tap(ALICE, "done")
    assert "О ком: Каримов Азиз Бахтиёр ўғли" in summary["text"]
    assert "Где: Россия, Казань" in summary["text"]
    assert "Последняя связь: 3 марта, по телефону, потом телефон выключен" in summary["text"]

    await telegram.tap(ALICE, "send")

    appeal = await appeal_row(app, FIRST)
    assert (appeal.category, appeal.on_behalf, appeal.country) == ("detention", True, "RU")
    assert appeal.subject is not None
    assert "Каримов" not in appeal.subject
    assert app.cipher.decrypt_json(appeal.subject) == {
        "name": "Каримов Азиз Бахтиёр ўғли",
        "country": "RU",
        "city": "Казань",
        "last_contact": "3 марта, по телефону, потом телефон выключен",
    }
    view = await telegram.say(ALICE, FIRST)
    assert "О ком: Каримов Азиз Бахтиёр ўғли" in view["text"]


async def test_a_relative_out_of_touch_is_always_on_behalf_and_a_city_may_be_unknown(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await open_appeals(telegram, ALICE, "uz_Latn")
    await telegram.tap(ALICE, "new")

    name = await telegram.tap(ALICE, "c:whereabouts_unknown")  # no "for whom?" question

    assert name["text"].startswith("Bu murojaat boshqa odam haqida")
    await telegram.say(ALICE, "Toʻxtayeva Gulnora")
    await telegram.say(ALICE, "Janubiy Koreya")
    await telegram.tap(ALICE, "unknown")
    await telegram.say(ALICE, "Fevral oyida, WhatsApp orqali")
    await telegram.say(ALICE, "Singlim ikki oydan beri qoʻngʻiroq qilmayapti.")
    summary = await telegram.tap(ALICE, "done")
    assert "Qayerda: Janubiy Koreya\n" in summary["text"]
    await telegram.tap(ALICE, "send")

    appeal = await appeal_row(app, FIRST)
    assert (appeal.on_behalf, appeal.country) == (True, "KR")
    assert app.cipher.decrypt_json(appeal.subject or "")["city"] == ""


async def test_the_text_limit_is_explained_with_the_count_and_nothing_is_lost(
    telegram: TelegramHarness,
) -> None:
    await open_appeals(telegram, ALICE)
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:consular_services")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:KZ")

    too_long = await telegram.say(ALICE, "Паспорт " * 400)  # 3,199 characters once cleaned

    assert too_long["text"].startswith(
        "Текст слишком длинный (символов: 3199), а в обращении может быть не больше 3000. "
        "Пожалуйста, сократите его или отправьте сейчас самое важное"
    )
    assert too_long["text"].endswith("Не больше 3000 символов.")
    for hostile, hint in (
        ("😀🙏🇺🇿", "Пожалуйста, напишите это словами."),
        ("\u200b\u200f\u202e", "Пожалуйста, напишите это словами."),
        ("x" * 10_000, "Текст слишком длинный (символов: 10000)"),
    ):
        reply = await telegram.say(ALICE, hostile)
        assert reply["text"].startswith(hint)
        assert len(reply["text"]) < 700
    await telegram.feed(tg.sticker(ALICE))
    assert telegram.last_message(ALICE)["text"].startswith("Это нельзя приложить.")
    state = await telegram.state(ALICE)
    assert state.step == "text"
    assert "text" not in state.answers["appeals"]

    # A photo sent instead of the text is kept; the words still follow.
    await telegram.feed(tg.photo(ALICE))
    assert telegram.last_message(ALICE)["text"].startswith("Спасибо, файл добавлен к обращению.")
    files = await telegram.say(ALICE, "Паспорт " * 375)  # exactly 2,999 characters
    assert "Добавлено файлов: 1 из 10." in files["text"]
    # A lone word while files are asked for gets a hint; sentences join the text, within the
    # limit.
    lone = await telegram.say(ALICE, "спасибо")
    assert lone["text"].startswith("Пожалуйста, отправьте фото, документ, голосовое сообщение")
    over = await telegram.say(ALICE, "И ещё несколько слов")
    assert over["text"].startswith("Текст слишком длинный (символов: 3020)")
    await telegram.tap(ALICE, "done")
    await telegram.tap(ALICE, "send")
    appeal = await appeal_row(telegram.app, FIRST)
    assert len(telegram.app.cipher.decrypt_text(appeal.text)) == 2999
    assert await telegram.count(Attachment) == 1


async def test_the_file_limit_and_the_size_limit_are_explained(telegram: TelegramHarness) -> None:
    await open_appeals(telegram, ALICE)
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:documents_lost")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:AE")
    await telegram.say(ALICE, "Украли паспорт в метро.")

    await telegram.feed(document(ALICE, size=25 * 1024 * 1024))
    assert telegram.last_message(ALICE)["text"].startswith(
        "Файл слишком большой: можно не больше 20 МБ."
    )
    for _ in range(10):
        await telegram.feed(tg.photo(ALICE))
    await telegram.feed(tg.photo(ALICE))
    sent = telegram.last_message(ALICE)
    assert sent["text"].startswith("Больше файлов добавить нельзя: можно не больше 10.")
    assert "Добавлено файлов: 10 из 10." in sent["text"]
    await telegram.say(ALICE, "готово")  # typed, in any language
    await telegram.tap(ALICE, "send")
    assert await telegram.count(Attachment) == 10


async def start_wages_appeal(telegram: TelegramHarness, user: int) -> None:
    """A wages appeal from Türkiye up to the question for its text."""
    await open_appeals(telegram, user)
    await telegram.tap(user, "new")
    await telegram.tap(user, "c:unpaid_wages")
    await telegram.tap(user, "self")
    await telegram.tap(user, "country:TR")


async def test_a_photo_with_the_story_in_its_caption_gives_both_the_text_and_the_file(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await start_wages_appeal(telegram, ALICE)

    # A caption is held to the limit of typed text; the photo is kept all the same.
    await telegram.feed(tg.photo(ALICE, caption="Паспорт " * 400))
    too_long = telegram.last_message(ALICE)
    assert too_long["text"].startswith("Спасибо, файл добавлен к обращению.")
    assert "Текст слишком длинный (символов: 3199)" in too_long["text"]
    assert (await telegram.state(ALICE)).step == "text"

    await telegram.feed(tg.photo(ALICE, caption=f"  {WAGES_TEXT}\u200b "))

    files = telegram.last_message(ALICE)
    assert files["text"].startswith("Спасибо, файл добавлен к обращению.")
    assert "опишите ситуацию и словами" not in files["text"]
    assert "Добавлено файлов: 2 из 10." in files["text"]
    summary = await telegram.tap(ALICE, "done")
    assert "Файлы: 2" in summary["text"]
    assert summary["text"].endswith(f"Текст:\n{WAGES_TEXT}\n\nОтправить его в консульство?")
    await telegram.tap(ALICE, "send")
    appeal = await appeal_row(app, FIRST)
    assert app.cipher.decrypt_text(appeal.text) == WAGES_TEXT
    assert await telegram.count(Attachment) == 2


async def test_a_caption_sent_while_files_are_asked_for_joins_the_text_like_typed_words(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await start_wages_appeal(telegram, ALICE)
    await telegram.say(ALICE, WAGES_TEXT)

    await telegram.feed(document(ALICE, caption="Это мой трудовой договор."))

    added = telegram.last_message(ALICE)
    assert added["text"].startswith("Эти слова добавлены к тексту обращения.")
    assert "Добавлено файлов: 1 из 10." in added["text"]
    # A lone word is not added to the text, typed or as a caption; the photo is kept.
    await telegram.feed(tg.photo(ALICE, caption="спасибо"))
    assert "Добавлено файлов: 2 из 10." in telegram.last_message(ALICE)["text"]
    await telegram.tap(ALICE, "done")
    await telegram.tap(ALICE, "send")
    appeal = await appeal_row(app, FIRST)
    assert app.cipher.decrypt_text(appeal.text) == f"{WAGES_TEXT}\nЭто мой трудовой договор."
    assert await telegram.count(Attachment) == 2


TOGETHER_TOO_LONG = (
    "Together with your previous message, your text has {count} characters, and an appeal "
    "may have at most {limit}. Please shorten it, or send the most important part now: after "
    "sending you can add more with «Add information»."
)


async def test_a_story_telegram_split_in_parts_is_counted_whole_never_taken_as_its_tail(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Telegram sends a text over 4096 characters as several messages, seconds apart: the
    first is refused as too long, and the rest must not become the appeal's text alone."""
    await start_wages_appeal(telegram, ALICE)
    story = "Работодатель не платит зарплату уже три месяца, и мы живём в общежитии. " * 120
    parts = [story[:4096], story[4096:8192], story[8192:]]

    refused = await telegram.say(ALICE, parts[0])
    assert refused["text"].startswith("Текст слишком длинный (символов: 4096)")
    clock.advance(timedelta(seconds=2))
    second = await telegram.say(ALICE, parts[1])
    assert second["text"].startswith(
        tr(telegram, TOGETHER_TOO_LONG, count=len(clean_text(story[:8192])), limit=3000)
    )
    clock.advance(timedelta(seconds=2))
    third = await telegram.say(ALICE, parts[2])
    assert third["text"].startswith(
        tr(telegram, TOGETHER_TOO_LONG, count=len(clean_text(story)), limit=3000)
    )
    state = await telegram.state(ALICE)
    assert state.step == "text"
    assert "text" not in state.answers["appeals"]

    # The shortened story, written afterwards, is taken as it is.
    clock.advance(timedelta(minutes=3))
    files = await telegram.say(ALICE, story[:2900])
    assert "Добавлено файлов: 0 из 10." in files["text"]
    state = await telegram.state(ALICE)
    assert state.answers["appeals"]["text"] == clean_text(story[:2900])
    assert "text:refused" not in state.answers["appeals"]


async def test_words_saying_there_are_no_files_finish_the_files_step(
    telegram: TelegramHarness,
) -> None:
    """They were added to the appeal's text («I have added these words …»)."""
    await start_wages_appeal(telegram, ALICE)
    await telegram.say(ALICE, WAGES_TEXT)
    for words in (
        "нет файлов", "Файлов нет.", "без файлов", "нет", "fayl yoʻq", "fayl yo'q",
        "Fayllar yoʻq", "файл йўқ", "yoʻq", "файлов нету",
    ):  # fmt: skip
        summary = await telegram.say(ALICE, words)
        assert summary["text"].startswith("Пожалуйста, проверьте обращение:"), words
        await telegram.say(ALICE, "назад")

    assert (await telegram.state(ALICE)).answers["appeals"]["text"] == WAGES_TEXT


async def test_a_draft_survives_the_main_menu_and_a_look_at_another_appeal(
    telegram: TelegramHarness,
) -> None:
    await file_for_myself(telegram, ALICE)
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "appeals")
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:return_home")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:RU")
    view = await telegram.say(ALICE, FIRST.lower())  # a typed number in the middle
    assert view["text"].startswith(f"Обращение {FIRST}")
    back = await telegram.say(ALICE, "назад")
    assert "Не больше 3000 символов" in back["text"]  # the text question again
    await telegram.say(ALICE, "меню")

    menu = await telegram.tap(ALICE, "appeals")
    assert button_ids(menu) == ["resume", "new", "mine", "u:menu"]
    resumed = await telegram.tap(ALICE, "resume")
    assert "Не больше 3000 символов" in resumed["text"]
    await telegram.say(ALICE, "Хочу вернуться домой, нет денег на билет.")
    summary = await telegram.tap(ALICE, "done")
    assert "Тема: Возвращение на родину" in summary["text"]
    assert "Страна: Россия" in summary["text"]


async def test_cancel_discards_the_draft_and_a_stale_send_files_nothing(
    telegram: TelegramHarness,
) -> None:
    await open_appeals(telegram, ALICE)
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:other")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:US")
    await telegram.say(ALICE, "Вопрос о консульском учёте.")
    await telegram.tap(ALICE, "done")

    await telegram.tap(ALICE, "u:cancel")  # asked first (tests/test_cancel_confirm.py)
    cancelled = await telegram.tap(ALICE, "cancel:discard")
    assert cancelled["text"].startswith("Отменено.")
    stale = await telegram.tap(ALICE, "send")

    assert stale["text"].startswith("Эта кнопка относится к предыдущему сообщению.")
    assert await telegram.count(Appeal) == 0
    assert (await telegram.state(ALICE)).answers.get("appeals") is None


# -- my appeals and the history --------------------------------------------------------------


async def test_my_appeals_lists_open_ones_first_and_shows_the_history(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    clock.advance(timedelta(hours=2))
    second = await file_for_myself(telegram, ALICE, "Прошу помочь с патентом.", onboard=False)
    clock.advance(timedelta(hours=1, minutes=5))
    await operator_sets(app, second, AppealStatus.ANSWERED, "Обратитесь в миграционный центр.")
    clock.advance(timedelta(minutes=30))
    await operator_sets(app, FIRST, AppealStatus.IN_REVIEW)

    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "appeals")
    listed = await telegram.tap(ALICE, "mine")

    assert button_ids(listed) == [f"a:{FIRST}", f"a:{second}", "new", "u:menu"]
    assert button_labels(listed)[:2] == [
        f"{FIRST} · Трудовые права и невыплаченная зарплата · на рассмотрении",
        f"{second} · Трудовые права и невыплаченная зарплата · дан ответ",
    ]
    view = await telegram.say(ALICE, "2")

    text = view["text"]
    assert text.startswith(
        f"Обращение {second}\nТема: Трудовые права и невыплаченная зарплата\n"
        "Статус: дан ответ\nТекст:\nПрошу помочь с патентом."
    )
    assert (
        "История (местное время, Турция):\n"  # the appeal's country: none is recorded for her
        "• 29 ноября 2026, 14:00 — Обращение отправлено\n"
        "• 29 ноября 2026, 15:05 — Статус: дан ответ\n"
        "Ответ консульства:\nОбратитесь в миграционный центр."
    ) in text
    assert "Пожалуйста, оцените ответ: 1 — плохо, 5 — очень хорошо." in text
    assert "обращение можно снова открыть до 29 декабря 2026" in text
    assert button_ids(view) == [*RATINGS, "reopen", "mine", "u:menu"]
    back = await telegram.tap(ALICE, "mine")
    assert button_ids(back)[0] == f"a:{FIRST}"


async def test_the_history_uses_local_time_where_the_country_has_one_time_zone(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    async with app.db.transaction() as session:
        person = await session.get(Person, (await telegram.person(ALICE)).id)
        assert person is not None
        person.country = "TR"  # as a consular registration in Türkiye would set it

    view = await telegram.say(ALICE, FIRST)

    assert "История (местное время, Турция):\n• 29 ноября 2026, 12:00 —" in view["text"]


async def test_the_history_and_the_reopening_date_use_a_countrys_main_zone_never_utc(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Where a country has clocks apart, its main zone, named (Moscow for Russia, New York
    for the USA); with no country recorded at all, Tashkent time. Times had been in UTC."""
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    clock.advance(timedelta(hours=17))  # 30 November 02:00 UTC: still the 29th in New York
    await operator_sets(app, FIRST, AppealStatus.ANSWERED, "Обратитесь в трудовую инспекцию.")

    async def seen_from(country: str | None) -> str:
        async with app.db.transaction() as session:
            person = await session.get(Person, (await telegram.person(ALICE)).id)
            appeal = await session.scalar(select(Appeal).where(Appeal.reference == FIRST))
            assert person is not None
            assert appeal is not None
            person.country = country
            if country is None:
                appeal.country = None
        return str((await telegram.say(ALICE, FIRST))["text"])

    def title(place: str, city: str) -> str:
        named = f"{place} ({tr(telegram, city)})"
        return tr(telegram, "History (local time, {country}):", country=named)

    moscow = await seen_from("RU")
    assert f"{title('Россия', 'Moscow')}\n• 29 ноября 2026, 12:00 —" in moscow
    assert "• 30 ноября 2026, 05:00 — Статус: дан ответ" in moscow
    assert "обращение можно снова открыть до 30 декабря 2026" in moscow

    new_york = await seen_from("US")
    assert f"{title('Соединенные Штаты', 'New York')}\n• 29 ноября 2026, 04:00 —" in new_york
    assert "обращение можно снова открыть до 29 декабря 2026" in new_york

    nowhere = await seen_from(None)
    tashkent = tr(telegram, "History (Tashkent time):")
    assert f"{tashkent}\n• 29 ноября 2026, 14:00 —" in nowhere
    assert "UTC" not in moscow + new_york + nowhere


# -- what an appeal's state allows -----------------------------------------------------------


async def test_an_operators_question_reaches_the_person_and_their_answer_goes_back_to_review(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    sent_before = len(telegram.messages_to(ALICE))

    await operator_sets(app, FIRST, AppealStatus.NEEDS_INFO, "Как называется Ваш работодатель?")

    notices = telegram.messages_to(ALICE)[sent_before:]
    assert [n["text"] for n in notices] == [
        f"Ваше обращение {FIRST}: нужна дополнительная информация.\n\n"
        "Вопрос консульства:\nКак называется Ваш работодатель?\n\n"
        "Чтобы ответить, откройте в главном меню раздел «Обращения» и выберите это обращение "
        f"или отправьте его номер {FIRST}."
    ]
    view = await telegram.say(ALICE, f"  {FIRST.lower()}  ")
    assert "Статус: нужна дополнительная информация" in view["text"]
    assert "Вопрос консульства:\nКак называется Ваш работодатель?" in view["text"]
    assert "Консульство ждёт Вашего ответа." in view["text"]
    assert button_ids(view) == ["answer", "withdraw", "mine", "u:menu"]
    ask = await telegram.tap(ALICE, "answer")
    assert ask["text"].startswith("Вопрос консульства:\nКак называется Ваш работодатель?")

    done = await telegram.say(ALICE, "ООО «Стройинвест», прораб Иван.")

    assert done["text"].startswith("Спасибо. Ваш ответ отправлен, обращение снова на рассмотрении.")
    assert "Статус: на рассмотрении" in done["text"]
    assert "Ваш ответ консульству:\nООО «Стройинвест», прораб Иван." in done["text"]
    assert button_ids(done) == VIEW_OPEN
    assert (await appeal_row(app, FIRST)).status == "in_review"
    assert await events_of(app, FIRST) == [
        ("filed", "new", "person"),
        ("status", "needs_info", "operator:1"),
        ("answered_question", None, "person"),
        ("status", "in_review", "person"),
    ]
    assert len(telegram.messages_to(ALICE)) == sent_before + 4  # no notice of her own change


# -- an operator's message in the appeal's topic ---------------------------------------------


@pytest.fixture
def desk(desk_app: Application) -> TelegramHarness:
    """The application with a staff group, where operators write in the appeal's topic."""
    return TelegramHarness(desk_app)


async def test_with_a_staff_group_the_appeal_is_sent_to_the_consulate(
    desk: TelegramHarness,
) -> None:
    reference = await file_for_myself(desk, ALICE)
    assert to_person(desk, ALICE)[-1].startswith(
        f"Ваше обращение отправлено в консульство.\nНомер: {reference}\n"
    )


async def operator_writes(desk: TelegramHarness, text: str) -> int:
    """The operator writes in the (only) appeal's topic; the topic's id."""
    [thread] = await threads(desk.app)
    assert thread.topic_id is not None
    await post(desk, OPERATOR, thread.topic_id, text)
    assert to_person(desk, ALICE)[-1] == f"Оператор консульства:\n{text}"
    return thread.topic_id


async def appeal_goes_to(app: Application, status: AppealStatus) -> None:
    """The appeal's status changes behind everyone's back (no action looks at the person)."""
    async with app.db.transaction() as session:
        appeal = await session.scalar(select(Appeal).where(Appeal.reference == FIRST))
        assert appeal is not None
        appeal.status = status


async def persons_additions(app: Application) -> list[str]:
    return [
        kind
        for kind, _, actor in await events_of(app, FIRST)
        if kind != "filed" and actor == "person"
    ]


async def test_an_operators_message_in_the_topic_is_answered_in_the_persons_own_words(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    await file_for_myself(desk, ALICE)
    await add_operator(app, OPERATOR, "Dilshod")
    topic = await operator_writes(desk, "Как называется фирма работодателя?")
    [thread] = await threads(app)
    assert (await thread_of(app, thread.id)).waiting_since is None  # answered

    done = await desk.say(ALICE, "ООО Ромашка")

    assert done["text"].startswith(
        tr(desk, "Thank you. Your answer has been sent to the consulate.") + "\n\n"
        + tr(desk, "To answer the consulate, write here: everything you send is added to your "
             "appeal {reference}.", reference=FIRST)
    )  # fmt: skip
    assert button_ids(done) == []  # nothing to pick: «3» would be words too
    assert texts_in(desk, topic)[-1] == "👤 Русский\nООО Ромашка"
    assert (await thread_of(app, thread.id)).waiting_since == app.clock.now()  # waits again

    # Still on the answer screen: a lone number is their words, and so is a photo.
    await desk.say(ALICE, "3")
    assert texts_in(desk, topic)[-1] == "👤 Русский\n3"
    await desk.feed(tg.photo(ALICE))
    assert await attachments_of(app, FIRST) == ["photo"]
    assert [kind for kind, _, _ in await events_of(app, FIRST)][-3:] == ["answered_question"] * 3

    # A typed number still opens the appeal, whose history has the answers.
    view = await desk.say(ALICE, FIRST)
    assert "Ваш ответ консульству:\nООО Ромашка" in view["text"]
    assert button_ids(view) == VIEW_OPEN


async def test_the_persons_answer_to_an_operator_puts_an_appeal_waiting_for_information_back(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    await file_for_myself(desk, ALICE)
    await add_operator(app, OPERATOR, "Dilshod")
    [thread] = await threads(app)
    assert thread.topic_id is not None
    await post(desk, OPERATOR, thread.topic_id, "/status needs_info Как называется фирма?")
    topic = await operator_writes(desk, "И укажите, пожалуйста, город.")

    done = await desk.say(ALICE, "ООО Ромашка, Анталья")

    assert done["text"].startswith("Спасибо. Ваш ответ отправлен, обращение снова на рассмотрении.")
    assert texts_in(desk, topic)[-1] == "👤 Русский\nООО Ромашка, Анталья"
    assert (await appeal_row(app, FIRST)).status == "in_review"
    assert (await thread_of(app, thread.id)).waiting_since == app.clock.now()


async def test_the_operators_message_and_the_answer_are_in_the_appeals_history(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    await file_for_myself(desk, ALICE)
    operator = await add_operator(app, OPERATOR, "Dilshod")
    await operator_writes(desk, "Как называется фирма работодателя?")
    await desk.say(ALICE, "ООО Ромашка")

    view = await desk.say(ALICE, FIRST)

    assert (
        "• 29 ноября 2026, 12:00 — Сообщение консульства:\nКак называется фирма работодателя?\n"
        "• 29 ноября 2026, 12:00 — Ваш ответ консульству:\nООО Ромашка\n"
    ) in view["text"]
    assert await events_of(app, FIRST) == [
        ("filed", "new", "person"),
        ("message", None, f"operator:{operator.id}"),
        ("answered_question", None, "person"),
    ]


async def test_the_menu_and_sos_still_work_after_an_operators_message_and_nothing_is_relayed(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    await file_for_myself(desk, ALICE)
    await add_operator(app, OPERATOR, "Dilshod")
    topic = await operator_writes(desk, "Сколько месяцев Вам не платят?")
    relayed = len(texts_in(desk, topic))

    menu = await desk.say(ALICE, "меню")
    assert button_ids(menu)[:3] == ["registration", "appeals", "guidance"]
    await desk.say(ALICE, "3")  # the menu's third option, not words for the operator
    assert (await desk.state(ALICE)).journey == "guidance"
    assert (await desk.state(ALICE)).pending == []
    assert len(texts_in(desk, topic)) == relayed
    assert not await persons_additions(app)

    await operator_writes(desk, "Вы в безопасности?")
    sos = await desk.say(ALICE, "SOS")
    assert "Ваш срочный запрос о помощи HR-2026-000001 отправлен операторам" in sos["text"]
    assert await desk.count(HelpCase) == 1  # an urgent help request, not words for the appeal
    assert len(texts_in(desk, topic)) == relayed
    assert not await persons_additions(app)


async def test_an_operators_message_moves_no_one_before_it_is_sent_nor_once_the_appeal_ends(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    await file_for_myself(desk, ALICE)
    await add_operator(app, OPERATOR, "Dilshod")
    [thread] = await threads(app)
    topic = thread.topic_id
    assert topic is not None
    await operator_writes(desk, "Здравствуйте!")  # the case is taken, the screen answered
    await desk.say(ALICE, "меню")

    # Not sent yet: «3» is the menu's, and the answer screen comes with the next message.
    await desk.dispatcher.feed_raw_update(desk.bot, posted(OPERATOR, topic, "Где Вы работаете?"))
    await desk.say(ALICE, "3")
    assert (await desk.state(ALICE)).journey == "guidance"
    assert to_person(desk, ALICE)[-2] == "Оператор консульства:\nГде Вы работаете?"
    clock.advance(timedelta(seconds=1))
    await desk.say(ALICE, "На стройке")
    assert texts_in(desk, topic)[-1] == "👤 Русский\nНа стройке"
    await desk.say(ALICE, "меню")

    # Answered by the consulate meanwhile: the menu's «3» again.
    await operator_writes(desk, "Мы проверим.")
    await post(desk, OPERATOR, topic, "/status answered Обратитесь в трудовую инспекцию.")
    assert (await desk.state(ALICE)).pending == []
    await desk.say(ALICE, "3")
    assert (await desk.state(ALICE)).journey == "guidance"
    assert texts_in(desk, topic)[-1] != "👤 Русский\n3"

    # Closed where the person's conversation was not looked at: the engine drops the move.
    await desk.say(ALICE, "меню")
    await appeal_goes_to(app, AppealStatus.IN_REVIEW)
    await operator_writes(desk, "Ещё вопрос.")
    await appeal_goes_to(app, AppealStatus.CLOSED)
    assert len((await desk.state(ALICE)).pending) == 1
    await desk.say(ALICE, "3")
    assert (await desk.state(ALICE)).journey == "guidance"
    assert (await desk.state(ALICE)).pending == []


async def test_information_is_added_with_a_file_and_a_limit_hint(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    await telegram.say(ALICE, FIRST)
    ask = await telegram.tap(ALICE, "add")
    assert ask["text"].startswith(f"Что Вы хотите добавить к обращению {FIRST}?")

    too_long = await telegram.say(ALICE, "д" * 3001)
    assert too_long["text"].startswith(
        "Сообщение слишком длинное (символов: 3001), можно не больше 3000. Пожалуйста, "
        "сократите его или разделите на несколько сообщений"
    )
    await telegram.feed(document(ALICE))
    waiting = telegram.last_message(ALICE)
    assert "Файлов к отправке: 1." in waiting["text"]
    assert button_ids(waiting) == ["send", "u:back"]
    done = await telegram.say(ALICE, "Вот копия договора.")

    assert done["text"].startswith("Спасибо. Это добавлено к Вашему обращению.")
    assert "Вы добавили:\nВот копия договора." in done["text"]
    assert (await appeal_row(app, FIRST)).status == "new"
    assert await events_of(app, FIRST) == [
        ("filed", "new", "person"),
        ("info_added", None, "person"),
    ]
    async with app.db.sessions() as session:
        kept = list(await session.scalars(select(Attachment)))
    assert [(a.kind, a.appeal_id) for a in kept] == [
        ("document", (await appeal_row(app, FIRST)).id)
    ]

    # Files alone, without words, can be sent too.
    await telegram.tap(ALICE, "add")
    await telegram.feed(voice(ALICE))
    files_only = await telegram.tap(ALICE, "send")
    assert "Вы добавили файлы" in files_only["text"]
    assert await telegram.count(Attachment) == 2


async def test_a_caption_answers_the_consulate_and_adds_information_with_its_file(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    await operator_sets(app, FIRST, AppealStatus.NEEDS_INFO, "Пришлите, пожалуйста, договор.")
    await telegram.say(ALICE, FIRST)
    await telegram.tap(ALICE, "answer")

    await telegram.feed(tg.photo(ALICE, caption="Вот договор, страница первая."))

    answered = telegram.last_message(ALICE)
    assert answered["text"].startswith("Спасибо. Ваш ответ отправлен, обращение снова")
    assert "Ваш ответ консульству:\nВот договор, страница первая." in answered["text"]
    assert (await appeal_row(app, FIRST)).status == "in_review"

    await telegram.tap(ALICE, "add")
    too_long = "д" * 3001
    await telegram.feed(document(ALICE, caption=too_long))
    hint = telegram.last_message(ALICE)
    assert hint["text"].startswith("Сообщение слишком длинное (символов: 3001)")
    assert "Файлов к отправке: 1." in hint["text"]
    await telegram.feed(tg.photo(ALICE, caption="Ещё расписка работодателя."))

    added = telegram.last_message(ALICE)
    assert added["text"].startswith("Спасибо. Это добавлено к Вашему обращению.")
    assert "Вы добавили:\nЕщё расписка работодателя." in added["text"]
    assert await events_of(app, FIRST) == [
        ("filed", "new", "person"),
        ("status", "needs_info", "operator:1"),
        ("answered_question", None, "person"),
        ("status", "in_review", "person"),
        ("info_added", None, "person"),
    ]
    appeal = await appeal_row(app, FIRST)
    async with app.db.sessions() as session:
        kept = list(await session.scalars(select(Attachment).order_by(Attachment.id)))
    assert [(a.kind, a.appeal_id) for a in kept] == [
        ("photo", appeal.id), ("document", appeal.id), ("photo", appeal.id)
    ]  # fmt: skip


async def test_an_album_under_add_information_keeps_every_photo(
    telegram: TelegramHarness,
) -> None:
    """Telegram puts an album's caption on its first photo: that one is added at once with
    its words, and the others, arriving while the appeal is shown again, wait to be sent."""
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    await telegram.say(ALICE, FIRST)
    await telegram.tap(ALICE, "add")
    await telegram.feed(tg.photo(ALICE, caption="Расписки работодателя."))
    await telegram.feed(tg.photo(ALICE))
    waiting = telegram.last_message(ALICE)
    assert "Файлов к отправке: 1." in waiting["text"]
    await telegram.feed(tg.photo(ALICE))
    assert "Файлов к отправке: 2." in telegram.last_message(ALICE)["text"]
    await telegram.tap(ALICE, "send")

    appeal = await appeal_row(app, FIRST)
    async with app.db.sessions() as session:
        kept = list(await session.scalars(select(Attachment).order_by(Attachment.id)))
    assert [(a.kind, a.appeal_id) for a in kept] == [("photo", appeal.id)] * 3


SECOND = "AP-2026-000002"
FILES_ADDED = "The files you sent for appeal {reference} have been added to it. Files: {count}."
FILES_NOT_ADDED = (
    "The files you sent for appeal {reference} could not be added: the appeal's status has "
    "changed. Files: {count}. If they are still needed, please send them again."
)


def tr(telegram: TelegramHarness, msgid: str, **values: Any) -> str:
    return telegram.app.catalogs.translator("ru").gettext(msgid).format(**values)


async def attachments_of(app: Application, reference: str) -> list[str]:
    appeal = await appeal_row(app, reference)
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(Attachment).where(Attachment.appeal_id == appeal.id).order_by(Attachment.id)
        )
        return [a.kind for a in rows]


async def files_waiting_for_the_first(telegram: TelegramHarness) -> None:
    """Two appeals; a document and a photo sent to add to the first, not sent yet."""
    await file_for_myself(telegram, ALICE)
    await file_for_myself(telegram, ALICE, "Второе обращение: нужна справка.", onboard=False)
    await telegram.say(ALICE, FIRST)
    await telegram.tap(ALICE, "add")
    await telegram.feed(document(ALICE))
    await telegram.feed(tg.photo(ALICE))
    assert "Файлов к отправке: 2." in telegram.last_message(ALICE)["text"]


async def test_files_waiting_for_one_appeal_go_to_it_when_another_appeal_is_added_to(
    telegram: TelegramHarness,
) -> None:
    """Going on to add to another appeal before «Send»: the files were sent for the first
    one, so they go with it, and the person is told; they never join the other one."""
    app = telegram.app
    await files_waiting_for_the_first(telegram)

    await telegram.say(ALICE, SECOND)
    asked = await telegram.tap(ALICE, "add")
    assert asked["text"].startswith(tr(telegram, FILES_ADDED, reference=FIRST, count=2))
    assert f"Что Вы хотите добавить к обращению {SECOND}?" in asked["text"]
    assert "Файлов к отправке" not in asked["text"]
    assert button_ids(asked) == ["u:back"]
    await telegram.say(ALICE, "Справку прошу прислать по почте.")

    assert await attachments_of(app, FIRST) == ["document", "photo"]
    assert await attachments_of(app, SECOND) == []
    assert (await events_of(app, FIRST))[-1] == ("info_added", None, "person")
    assert "pending" not in (await telegram.state(ALICE)).answers["appeals"]


async def test_files_waiting_for_one_appeal_go_to_it_when_a_file_is_sent_under_another(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await files_waiting_for_the_first(telegram)
    await telegram.say(ALICE, SECOND)
    await telegram.feed(voice(ALICE))  # while the second appeal is shown
    told = telegram.last_message(ALICE)
    assert told["text"].startswith(tr(telegram, FILES_ADDED, reference=FIRST, count=2))
    assert "Файлов к отправке: 1." in told["text"]
    await telegram.tap(ALICE, "send")

    assert await attachments_of(app, FIRST) == ["document", "photo"]
    assert await attachments_of(app, SECOND) == ["voice"]


async def test_files_waiting_for_an_appeal_go_to_it_when_a_new_appeal_is_started(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await files_waiting_for_the_first(telegram)
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "appeals")
    started = await telegram.tap(ALICE, "new")
    assert started["text"].startswith(tr(telegram, FILES_ADDED, reference=FIRST, count=2))
    assert await attachments_of(app, FIRST) == ["document", "photo"]


async def test_files_waiting_for_an_appeal_closed_meanwhile_are_not_dropped_silently(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await files_waiting_for_the_first(telegram)
    await operator_sets(app, FIRST, AppealStatus.CLOSED, "Вопрос решён.")
    await telegram.say(ALICE, SECOND)
    told = await telegram.tap(ALICE, "add")
    assert told["text"].startswith(tr(telegram, FILES_NOT_ADDED, reference=FIRST, count=2))
    assert await attachments_of(app, FIRST) == []

    # On the closed appeal's own screen, too: the person hears what became of them.
    await telegram.say(ALICE, FIRST)
    await operator_sets(app, FIRST, AppealStatus.IN_REVIEW)
    await telegram.say(ALICE, FIRST)
    await telegram.tap(ALICE, "add")
    await telegram.feed(tg.photo(ALICE))
    await operator_sets(app, FIRST, AppealStatus.CLOSED, "Вопрос решён.")
    told = await telegram.say(ALICE, "Вот ещё фото.")
    assert told["text"].startswith(tr(telegram, FILES_NOT_ADDED, reference=FIRST, count=1))
    assert await attachments_of(app, FIRST) == []
    assert "pending" not in (await telegram.state(ALICE)).answers["appeals"]


async def test_withdrawal_needs_a_confirmation(telegram: TelegramHarness) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    await telegram.say(ALICE, FIRST)

    confirm = await telegram.tap(ALICE, "withdraw")
    assert confirm["text"].startswith(f"Вы действительно хотите отозвать обращение {FIRST}?")
    assert button_ids(confirm) == ["yes", "no"]
    kept = await telegram.tap(ALICE, "no")
    assert button_ids(kept) == VIEW_OPEN
    assert (await appeal_row(app, FIRST)).status == "new"

    await telegram.tap(ALICE, "withdraw")
    gone = await telegram.say(ALICE, "да")  # a typed yes

    assert gone["text"].startswith(f"Обращение {FIRST} отозвано.")
    assert "Статус: отозвано" in gone["text"]
    assert "Вы отозвали обращение" in gone["text"]
    assert button_ids(gone) == ["new", "mine", "u:menu"]
    appeal = await appeal_row(app, FIRST)
    assert (appeal.status, appeal.closed_at is not None) == ("withdrawn", True)


async def test_an_answer_is_rated_with_one_tap(telegram: TelegramHarness) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    await operator_sets(app, FIRST, AppealStatus.ANSWERED, "Зарплату выплатят до пятницы.")
    await telegram.say(ALICE, f"/status {FIRST}")

    rated = await telegram.tap(ALICE, "r:4")

    assert rated["text"].startswith("Спасибо за оценку.")
    assert "Ваша оценка: 4 из 5" in rated["text"]
    assert "r:1" not in button_ids(rated)
    appeal = await appeal_row(app, FIRST)
    assert (appeal.rating, appeal.rated_at) == (4, app.clock.now())
    assert (await events_of(app, FIRST))[-1] == ("rated", None, "person")


async def test_reopening_inside_the_window_and_not_after_it(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    await operator_sets(app, FIRST, AppealStatus.ANSWERED, "Обратитесь в трудовую инспекцию.")
    clock.advance(timedelta(days=29))
    await telegram.say(ALICE, FIRST)

    why = await telegram.tap(ALICE, "reopen")
    assert why["text"].startswith(f"Почему Вы хотите снова открыть обращение {FIRST}?")
    reopened = await telegram.say(ALICE, "Инспекция не ответила.")

    assert reopened["text"].startswith(
        f"Обращение {FIRST} снова открыто и находится на рассмотрении."
    )
    assert "Вы снова открыли обращение. Причина:\nИнспекция не ответила." in reopened["text"]
    assert (await appeal_row(app, FIRST)).status == "in_review"

    # Answered again: the window counts from this answer, not the first one.
    clock.advance(timedelta(days=2))
    await operator_sets(app, FIRST, AppealStatus.ANSWERED, "Инспекция назначила проверку.")
    view = await telegram.say(ALICE, FIRST)
    assert "reopen" in button_ids(view)
    assert "можно снова открыть до 29 января 2027" in view["text"]

    clock.advance(timedelta(days=30, minutes=1))
    late = await telegram.tap(ALICE, "reopen")  # the button was shown in time

    assert late["text"].startswith(
        "Это обращение можно было снова открыть до 29 января 2027; этот срок прошёл. "
        "Если Вам всё ещё нужна помощь, пожалуйста, отправьте новое обращение."
    )
    assert "reopen" not in button_ids(late)
    assert button_ids(late) == [*RATINGS, "new", "mine", "u:menu"]
    assert (await appeal_row(app, FIRST)).status == "answered"
    new = await telegram.tap(ALICE, "new")
    assert new["text"] == "О чём Ваше обращение?"


async def test_a_stale_action_button_after_the_status_changed_does_nothing(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    view = await telegram.say(ALICE, FIRST)
    assert button_ids(view) == VIEW_OPEN
    await operator_sets(app, FIRST, AppealStatus.CLOSED, "Вопрос решён.")

    stale = await telegram.tap(ALICE, "withdraw")

    assert stale["text"].startswith("Это уже невозможно: статус обращения изменился.")
    assert "Статус: закрыто" in stale["text"]
    assert button_ids(stale) == [*RATINGS, "reopen", "mine", "u:menu"]
    assert (await appeal_row(app, FIRST)).status == "closed"


# -- an operator's change and the typed number -----------------------------------------------


async def test_an_operators_status_change_is_told_in_the_persons_language_and_listed(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Cyrl")
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "appeals")
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:unpaid_wages")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:KR")
    await telegram.say(ALICE, "Иш ҳақим уч ойдан бери тўланмаяпти.")
    await telegram.tap(ALICE, "done")
    await telegram.tap(ALICE, "send")

    await operator_sets(app, FIRST, AppealStatus.IN_REVIEW)

    assert telegram.last_message(ALICE)["text"] == f"Мурожаатингиз {FIRST}: кўриб чиқилмоқда."
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "appeals")
    listed = await telegram.tap(ALICE, "mine")
    assert button_labels(listed)[0] == (
        f"{FIRST} · Меҳнат ҳуқуқлари ва тўланмаган иш ҳақи · кўриб чиқилмоқда"
    )
    assert (await events_of(app, FIRST))[-1] == ("status", "in_review", "operator:1")


async def test_a_typed_number_opens_the_appeal_from_the_main_menu_and_from_the_settings(
    telegram: TelegramHarness,
) -> None:
    await file_for_myself(telegram, ALICE)

    from_menu = await telegram.say(ALICE, "АР-2026-000001")  # Cyrillic look-alikes
    assert from_menu["text"].startswith(f"Обращение {FIRST}\n")
    assert button_ids(from_menu) == VIEW_OPEN
    back = await telegram.say(ALICE, "назад")
    assert button_ids(back)[0] == "registration"

    await telegram.tap(ALICE, "settings")
    from_settings = await telegram.say(ALICE, f"/status {FIRST}")
    assert from_settings["text"].startswith(f"Обращение {FIRST}\n")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("appeals", "view")
    assert state.history[-1] == ("settings", "main")
    back = await telegram.tap(ALICE, "u:back")
    assert back["text"] == "Мои данные и настройки. Что Вы хотите сделать?"


async def test_someone_elses_number_gets_the_same_answer_as_one_that_does_not_exist(
    telegram: TelegramHarness,
) -> None:
    await file_for_myself(telegram, ALICE)
    await telegram.onboard(BOB, "ru")
    bobs_menu = telegram.last_message(BOB)

    not_his = await telegram.say(BOB, FIRST)
    nobodys = await telegram.say(BOB, "AP-2026-000777")
    by_command = await telegram.say(BOB, f"/status {FIRST.lower()}")

    assert not_his["text"] == nobodys["text"].replace("AP-2026-000777", FIRST)
    assert not_his["text"] == by_command["text"]
    assert not_his["text"].startswith(
        f"Среди Ваших обращений нет обращения с номером {FIRST}. Пожалуйста, проверьте номер"
    )
    assert not_his["text"].endswith("\n\nГлавное меню. Что Вам нужно?")  # the same question
    assert not_his["reply_markup"] == nobodys["reply_markup"] == bobs_menu["reply_markup"]
    assert "Работодатель" not in not_his["text"]
    state = await telegram.state(BOB)
    assert (state.journey, state.step) == ("menu", "main")


async def test_nobody_can_act_on_someone_elses_appeal_through_buttons(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    bobs = await file_for_myself(telegram, BOB, "Мой паспорт забрал работодатель.")
    assert bobs == "AP-2026-000002"
    await telegram.say(BOB, "/menu")
    await telegram.tap(BOB, "appeals")
    listed = await telegram.tap(BOB, "mine")
    assert button_ids(listed) == [f"a:{bobs}", "new", "u:menu"]

    forged = await telegram.tap(BOB, f"a:{FIRST}")  # Alice's number in a forged button
    assert forged["text"].startswith("Эта кнопка относится к предыдущему сообщению.")
    await telegram.tap(BOB, f"a:{bobs}")
    for action in ("withdraw", "yes"):
        await telegram.tap(BOB, action)  # acts on his own appeal only

    assert (await appeal_row(app, bobs)).status == "withdrawn"
    assert (await appeal_row(app, FIRST)).status == "new"
    assert await events_of(app, FIRST) == [("filed", "new", "person")]


async def test_without_consent_a_typed_number_asks_for_consent_first(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(BOB, "ru", consent=False)

    reply = await telegram.say(BOB, FIRST)

    assert reply["text"].startswith(
        "Чтобы увидеть обращения, сначала дайте согласие с уведомлением о конфиденциальности"
    )
    assert button_ids(reply) == ["guidance", "emergency", "privacy", "my_data", "u:language"]


async def test_a_too_long_text_shortened_and_sent_again_is_taken_alone(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Refused as too long, the story is shortened and sent again within the minute, as the
    refusal asks: it is the appeal's text, not glued to the refused one."""
    await start_wages_appeal(telegram, ALICE)
    story = ("Работодатель не платит зарплату уже три месяца, мы живём в общежитии. " * 60)[:3900]
    await telegram.say(ALICE, story)
    clock.advance(timedelta(seconds=40))

    await telegram.say(ALICE, story[:2500])

    state = await telegram.state(ALICE)
    assert state.answers["appeals"]["text"] == clean_text(story[:2500])


async def test_a_file_minutes_after_send_goes_to_an_open_help_request_as_before(
    telegram: TelegramHarness,
) -> None:
    """With a help request open, a photo sent from the main menu joins the request (as it
    always did), even minutes after an appeal was sent."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        await help_cases.open_case(
            session, app.cipher, app.desk, person=person, reason=HelpReason.PASSPORT_TAKEN,
            description="Работодатель забрал паспорт", now=app.clock.now(),
        )  # fmt: skip
    await file_for_myself(telegram, ALICE, onboard=False)

    await telegram.feed(tg.photo(ALICE, caption="Фото побоев"))

    async with app.db.sessions() as session:
        kinds = [message.kind for message in await session.scalars(select(CaseMessage))]
        on_appeals = await session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.appeal_id.is_not(None))
        )
    assert "photo" in kinds
    assert on_appeals == 0


async def test_the_consulates_question_is_answered_by_what_the_person_types_next(
    desk: TelegramHarness,
) -> None:
    """«/status needs_info …» asks the person something: their next message, typed from
    wherever they are, is the answer (it got «I do not understand»)."""
    app = desk.app
    await file_for_myself(desk, ALICE)
    await add_operator(app, OPERATOR, "Dilshod")
    [thread] = await threads(app)
    assert thread.topic_id is not None
    await post(desk, OPERATOR, thread.topic_id, "/status needs_info Как называется фирма?")
    await app.sender.deliver_due()

    done = await desk.say(ALICE, "ООО Ромашка")

    assert done["text"].startswith("Спасибо. Ваш ответ отправлен, обращение снова на рассмотрении.")
    assert texts_in(desk, thread.topic_id)[-1] == "👤 Русский\nООО Ромашка"
    assert (await appeal_row(app, FIRST)).status == "in_review"


@pytest.mark.parametrize(
    "typed", ["AP-2026-000001?", "AP-2026-000001.", "«AP-2026-000001»", "/status AP-2026-000001."]
)
async def test_a_number_with_punctuation_around_it_opens_the_appeal(
    telegram: TelegramHarness, typed: str
) -> None:
    assert await file_for_myself(telegram, ALICE) == "AP-2026-000001"

    shown = await telegram.say(ALICE, typed)

    assert shown["text"].startswith("Обращение AP-2026-000001"), shown["text"][:90]
