"""A migrant in the middle of a form (registration, a new appeal): what a pushed question or
an operator's message does meanwhile, and answers the forms used to refuse (a country in the
locative, a photo where a country or a request's words were asked)."""

from typing import Any

import pytest
from sqlalchemy import select

from models import Attachment, Registration, RegistrationStatus
from services.countries import search_countries
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids
from tests.test_journey_appeals import desk, document, file_for_myself, open_appeals
from tests.test_journey_registration import STANDARD, fill, open_form, operator_sets, register
from tests.test_staff_group import OPERATOR, add_operator, desk_app, post, texts_in, threads
from tests.test_survey import answers, broadcast_survey

__all__ = ["desk", "desk_app"]
ALICE = 4440001
WAITING = "u:waiting"  # «Answer our question» (handlers.conversation.WAITING_QUESTION)
REFERENCE = "CR-2026-000001"


def tr(telegram: TelegramHarness, locale: str, msgid: str) -> str:
    return telegram.app.catalogs.translator(locale).gettext(msgid)


async def _new_appeal_to_text(h: TelegramHarness, *, onboard: bool) -> None:
    if onboard:
        await open_appeals(h, ALICE, "uz_Latn")
    else:
        await h.say(ALICE, "/menu")
        await h.tap(ALICE, "appeals")
    await h.tap(ALICE, "new")
    await h.tap(ALICE, "c:documents_lost")
    await h.tap(ALICE, "self")
    await h.tap(ALICE, "country:TR")


async def _to_files_step(h: TelegramHarness, *, onboard: bool = True) -> None:
    await _new_appeal_to_text(h, onboard=onboard)
    await h.say(ALICE, "Pasportimni yoʻqotdim, yangi hujjat kerak. Yordam bering.")
    await h.feed(tg.photo(ALICE))  # the first file of several
    assert (await h.state(ALICE)).step == "files"


def _draft(state: Any) -> dict[str, Any]:
    return dict(state.answers.get("appeals", {}))


async def _attachments(h: TelegramHarness) -> list[int | None]:
    async with h.app.db.sessions() as session:
        return [a.appeal_id for a in await session.scalars(select(Attachment))]


# -- a pushed question while an appeal's files are sent (F1, F2) ----------------------------


async def test_a_survey_waits_while_the_appeals_files_are_sent(telegram: TelegramHarness) -> None:
    await _to_files_step(telegram)
    await broadcast_survey(telegram, ALICE)
    await telegram.feed(document(ALICE))  # the second file of her appeal
    reply = telegram.last_message(ALICE)
    state = await telegram.state(ALICE)
    assert (state.step, len(_draft(state)["files"])) == ("files", 2), reply["text"]
    await telegram.tap(ALICE, "done")
    assert (await telegram.state(ALICE)).step == "confirm"
    assert await answers(telegram.app) == []


async def test_an_operators_message_in_an_old_appeal_leaves_the_new_ones_files_alone(
    desk: TelegramHarness,
) -> None:
    await file_for_myself(desk, ALICE)
    await add_operator(desk.app, OPERATOR, "Dilshod")
    await _to_files_step(desk, onboard=False)
    [thread] = await threads(desk.app)
    await post(desk, OPERATOR, thread.topic_id, "Ish beruvchingiz nomi nima?")
    answered_before = list(texts_in(desk, thread.topic_id))
    await desk.feed(document(ALICE))  # meant for the new appeal
    reply = desk.last_message(ALICE)
    state = await desk.state(ALICE)
    assert (state.step, len(_draft(state)["files"])) == ("files", 2)
    assert await _attachments(desk) == []
    assert texts_in(desk, thread.topic_id) == answered_before
    # The operator's question is answerable from here, and the draft stays.
    assert WAITING in button_ids(reply)
    await desk.tap(ALICE, WAITING)
    await desk.say(ALICE, "Ish beruvchim Stroyinvest MChJ.")
    assert any("Stroyinvest" in text for text in texts_in(desk, thread.topic_id))
    assert len(_draft(await desk.state(ALICE))["files"]) == 2


@pytest.mark.parametrize(("typed", "step"), [("1", "confirm"), ("2", "text")])
async def test_a_number_typed_on_the_files_step_still_picks_its_option(
    telegram: TelegramHarness, typed: str, step: str
) -> None:
    """The files step takes her words now (free text): «1» is still «No files», the last
    number «Back»."""
    await _new_appeal_to_text(telegram, onboard=True)
    await telegram.say(ALICE, "Pasportimni yoʻqotdim, yangi hujjat kerak. Yordam bering.")
    await telegram.say(ALICE, typed)
    assert (await telegram.state(ALICE)).step == step


# -- the operator's message while a new appeal's text is written (F0b) ----------------------


async def test_an_operators_message_while_a_new_appeal_is_written_is_answerable(
    desk: TelegramHarness,
) -> None:
    await file_for_myself(desk, ALICE)
    await add_operator(desk.app, OPERATOR, "Dilshod")
    await _new_appeal_to_text(desk, onboard=False)
    [thread] = await threads(desk.app)
    await post(desk, OPERATOR, thread.topic_id, "Ish beruvchingiz nomi nima?")
    story = "Pasportimni yoʻqotdim, yangi hujjat kerak."
    reply = await desk.say(ALICE, story)  # her appeal's text, as the screen asked
    assert _draft(await desk.state(ALICE))["text"] == story
    assert WAITING in button_ids(reply), reply["text"]
    await desk.tap(ALICE, WAITING)
    before = list(texts_in(desk, thread.topic_id))
    await desk.say(ALICE, "Ish beruvchim Stroyinvest MChJ, Istanbulda.")
    after = texts_in(desk, thread.topic_id)
    assert len(after) > len(before)
    assert "Stroyinvest" in after[-1]
    draft = _draft(await desk.state(ALICE))
    assert (draft["text"], draft.get("files", [])) == (story, [])


# -- the consulate's question while the registration is updated (F0) ------------------------


async def _update_to_address(telegram: TelegramHarness) -> None:
    await register(telegram, ALICE)
    await telegram.tap(ALICE, "register")
    await telegram.tap(ALICE, f"update:{REFERENCE}")
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:country")
    await telegram.tap(ALICE, "country:KZ")
    await telegram.tap(ALICE, "kind:permanent")
    await telegram.say(ALICE, "Almaty")  # now at «address»


async def _status(telegram: TelegramHarness) -> str:
    async with telegram.app.db.sessions() as session:
        row = await session.scalar(select(Registration))
        assert row is not None
        return str(row.status)


WRITE_HERE = (
    "To answer, simply write your answer here in one message (or send a photo of the document "
    "the consulate asks for)."
)


async def test_the_consulates_question_during_the_form_is_not_said_to_be_answered_here(
    telegram: TelegramHarness,
) -> None:
    await _update_to_address(telegram)
    await operator_sets(telegram.app, REFERENCE, RegistrationStatus.NEEDS_INFO, "Где Вы работаете?")
    notice = telegram.last_message(ALICE)["text"]
    assert tr(telegram, "ru", WRITE_HERE) not in notice
    assert f"«{tr(telegram, 'ru', 'Answer our question')}»" in notice
    address = "ул. Абая, 10"
    reply = await telegram.say(ALICE, address)  # the form's question, as it asked
    assert (await telegram.state(ALICE)).answers["registration"]["form"]["address"] == address
    assert WAITING in button_ids(reply)
    await telegram.tap(ALICE, WAITING)
    await telegram.say(ALICE, "Работаю на стройке, ООО Стройинвест")
    assert await _status(telegram) == RegistrationStatus.SUBMITTED
    form = (await telegram.state(ALICE)).answers["registration"].get("form", {})
    assert (form.get("country"), form.get("address")) == ("KZ", address)


async def test_the_consulates_question_on_the_main_menu_is_answered_here(
    telegram: TelegramHarness,
) -> None:
    await register(telegram, ALICE)
    await telegram.say(ALICE, "/menu")
    await operator_sets(telegram.app, REFERENCE, RegistrationStatus.NEEDS_INFO, "Где Вы работаете?")
    assert tr(telegram, "ru", WRITE_HERE) in telegram.last_message(ALICE)["text"]
    await telegram.say(ALICE, "Работаю на стройке, ООО Стройинвест")
    assert await _status(telegram) == RegistrationStatus.SUBMITTED


async def test_the_consulates_question_on_the_registration_menu_is_answered_there(
    telegram: TelegramHarness,
) -> None:
    """The registration's menu and status screens hold pushed questions too, but take words
    that pick nothing as the answer (handlers.registration.answer_on_menu_screens)."""
    await register(telegram, ALICE)
    assert (await telegram.state(ALICE)).step == "main"
    await operator_sets(telegram.app, REFERENCE, RegistrationStatus.NEEDS_INFO, "Где Вы работаете?")
    assert tr(telegram, "ru", WRITE_HERE) in telegram.last_message(ALICE)["text"]
    await telegram.say(ALICE, "Работаю на стройке, ООО Стройинвест")
    assert await _status(telegram) == RegistrationStatus.SUBMITTED


# -- a country in the locative (F3) ---------------------------------------------------------


async def test_a_country_typed_in_the_locative_is_found_on_the_form(
    telegram: TelegramHarness,
) -> None:
    await open_form(telegram, ALICE, "uz_Cyrl")
    await fill(telegram, ALICE, STANDARD[:6])
    assert (await telegram.state(ALICE)).step == "country"
    for typed in ("Россияда", "Rossiyada", "Туркияда", "в России"):
        await telegram.say(ALICE, typed)
        assert (await telegram.state(ALICE)).step != "country", typed
        await telegram.tap(ALICE, "u:back")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("Rossiyada", "RU"), ("Россияда", "RU"), ("в России", "RU"), ("Россияда яшайман", None),
        ("Turkiyada", "TR"), ("Туркияда", "TR"), ("в Турции", "TR"),
        ("Qozogʻistonda", "KZ"), ("Қозоғистонда", "KZ"), ("в Казахстане", "KZ"),
        ("Koreyada", "KR"), ("Кореяда", "KR"), ("в Корее", "KR"),
        ("Germaniyada", "DE"), ("Германияда", "DE"), ("в Германии", "DE"),
        ("во Франции", "FR"), ("Fransiyada", "FR"), ("Францияда", "FR"),
        ("Polshada", "PL"), ("в Польше", "PL"),
        ("в США", "US"), ("AQShda", "US"), ("АҚШда", "US"),
        ("Qirgʻizistonda", "KG"), ("в Киргизии", "KG"),
        ("Latviyada", "LV"), ("в Латвии", "LV"),
        ("Italiyada", "IT"), ("в Италии", "IT"),
        ("Angliyada", "GB"), ("Buyuk Britaniyada", "GB"), ("в Великобритании", "GB"),
        ("Yaponiyada", "JP"), ("в Японии", "JP"),
        ("Isroilda", "IL"), ("в Израиле", "IL"),
        ("Misrda", "EG"), ("Индияда", "IN"), ("Hindistonda", "IN"), ("в Индии", "IN"),
        ("в Китае", "CN"), ("Xitoyda", "CN"), ("в Беларуси", "BY"), ("в Молдове", "MD"),
        ("Chexiyada", "CZ"), ("в Чехии", "CZ"), ("Germaniyadaman", "DE"), ("in Korea", "KR"),
        ("BAAda", "AE"), ("в ОАЭ", "AE"),
        ("Tojikistonda", "TJ"), ("в Таджикистане", "TJ"),
        ("Chad", "TD"), ("Kanada", "CA"), ("Grenada", "GD"), ("Канада", "CA"),
    ],
)  # fmt: skip
def test_country_search_reads_locative_endings(typed: str, code: str | None) -> None:
    found = search_countries(typed)
    if code is None:
        return  # only: no crash, and no false country below
    assert found[:1] == [code], (typed, found[:3])


@pytest.mark.parametrize(
    "typed",
    [
        "Uyda", "Uydaman", "Moskvada", "Toshkentda", "Istanbulda", "Стамбулда", "Ishda",
        "Bu yerda", "в Москве", "в городе", "в общежитии", "в Сеуле", "Almatida",
        "Rossiyadan", "из России",
    ],
)  # fmt: skip
def test_locative_endings_make_no_country_of_other_words(typed: str) -> None:
    """Cities, places and «from» are no country «in»."""
    assert search_countries(typed) == []


# -- a photo on the appeal's country question (F4) ------------------------------------------


async def test_a_photo_on_the_appeals_country_question_asks_for_a_typed_name(
    telegram: TelegramHarness,
) -> None:
    await open_appeals(telegram, ALICE, "ru")
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:documents_lost")
    await telegram.tap(ALICE, "self")
    await telegram.feed(tg.photo(ALICE))
    assert telegram.last_message(ALICE)["text"].startswith(
        tr(telegram, "ru", "Please send your answer as a text message.")
    )
    assert (await telegram.state(ALICE)).step == "my_country"


# -- a request's words as a photo's caption (F5) --------------------------------------------


STORY = "Мой сын Алишер родился в Москве 3.05.2020, паспорта нет, есть только свидетельство."


async def test_a_request_written_as_a_photo_caption_keeps_the_words(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "request:birth_certificate")
    await telegram.feed(tg.photo(ALICE, caption=STORY))
    state = await telegram.state(ALICE)
    assert state.answers["registration"]["request"]["text"] == STORY
    if "country:RU" in button_ids(telegram.last_message(ALICE)):  # where she is, if not known
        await telegram.tap(ALICE, "country:RU")
    await telegram.tap(ALICE, "send")
    assert len(await _attachments(telegram)) == 1
    assert None not in await _attachments(telegram)  # the photo went with the request


async def test_a_photo_without_words_on_the_request_still_asks_for_words(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "request:birth_certificate")
    before = (await telegram.state(ALICE)).step
    await telegram.feed(tg.photo(ALICE))
    state = await telegram.state(ALICE)
    assert state.step == before
    assert not (state.answers.get("registration", {}).get("request") or {}).get("text")


def test_the_registration_service_knows_where_pushed_questions_wait() -> None:
    """services.registrations words the consulate's question by where it will be answered:
    its list of journeys that hold pushed questions back is the journeys' own."""
    from handlers import all_journeys
    from services.registrations import SCREENS_WAIT_IN

    waiting = {name for name, journey in all_journeys().items() if journey.prompts_wait}
    assert waiting == SCREENS_WAIT_IN
