"""The staff group's appeal and registration topics: a status an operator sets answers the
person after STOP too; /status on a case the person withdrew or deleted takes nothing and
tells her nothing; a command about the case in a file's caption is a command (the file goes
first, alone; neither goes when the command would be refused or the file is one of an album),
any other caption is words; a file still completes an answered appeal."""

from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import Application
from models import (
    Appeal,
    AppealCategory,
    AppealStatus,
    ChannelAccount,
    OutboxKind,
    Person,
    RegistrationStatus,
    ThreadStatus,
)
from services import appeals
from tests.harness import TelegramHarness
from tests.test_my_data import open_my_data
from tests.test_registration_staff import registration_case, registration_now
from tests.test_staff_group import (
    ALICE,
    OPERATOR,
    SECOND,
    SUPERVISOR,
    add_operator,
    desk,  # noqa: F401  (fixture)
    desk_app,  # noqa: F401  (fixture)
    in_topic,
    post,
    posted,
    t,
    texts_in,
    thread_of,
    threads,
    to_person,
)

PHOTO = [{"file_id": "AgACform", "file_unique_id": "f1", "width": 90, "height": 90}]
FORM = {"file_id": "BQACform", "file_unique_id": "d1", "file_name": "blank.pdf",
        "mime_type": "application/pdf"}  # fmt: skip


def ru(app: Application, message: str) -> str:
    return t(app, message, "ru")


async def filed_and_withdrawn(desk: TelegramHarness) -> tuple[int, int, int]:  # noqa: F811
    """Alice files an appeal and withdraws it before anyone takes it; its thread's id and
    topic, and how many messages she had got by then."""
    thread_id, topic = await file_one(desk)
    await add_operator(desk.app, OPERATOR, "Dilshod")
    async with desk.app.db.transaction() as session:
        appeal = await session.scalar(select(Appeal))
        assert appeal is not None
        await appeals.withdraw_appeal(session, desk.app.cipher, desk.app.desk, appeal,
                                      now=desk.app.clock.now())  # fmt: skip
    await desk.app.sender.deliver_due()
    return thread_id, topic, len(to_person(desk, ALICE))


async def file_one(desk: TelegramHarness) -> tuple[int, int]:  # noqa: F811
    """Alice (Russian) files an appeal; its thread's id and topic."""
    app = desk.app
    await desk.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.UNPAID_WAGES,
            text="Три месяца не платят зарплату.", now=app.clock.now(), country="RU",
        )  # fmt: skip
    await app.sender.deliver_due()
    [thread] = await threads(app)
    assert thread.topic_id is not None
    return thread.id, thread.topic_id


async def appeal_now(app: Application) -> Appeal:
    async with app.db.sessions() as session:
        appeal: Appeal | None = await session.scalar(select(Appeal))
        assert appeal is not None
        return appeal


def files_to(desk: TelegramHarness, method: str) -> list[dict[str, Any]]:  # noqa: F811
    return [c.params for c in desk.calls(method) if int(c.params["chat_id"]) == ALICE]


# -- after STOP, the consulate's answers still reach her --------------------------------------


async def test_after_stop_the_consulates_answer_to_her_appeal_still_reaches_her(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """STOP told her «If you write to us, we will still answer»; the consulate's answer to
    her appeal is given with /status answered. It was pushed, and STOP ended it."""
    app = desk.app
    _thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await desk.say(ALICE, "СТОП")
    before = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, "/status answered Обратитесь в трудовую инспекцию.")

    [notice] = [text for text in to_person(desk, ALICE)[before:] if "инспекцию" in text]
    assert f"{ru(app, 'Answer from the consulate:')}\nОбратитесь в трудовую инспекцию." in notice
    assert ru(app, "In «Appeals» you can rate the answer or, if needed, reopen the appeal.") in (
        notice
    )
    rows = await desk.outbox_rows()
    [row] = [row for row in rows if row.person_id is not None][-1:]
    assert row.kind == OutboxKind.REPLY  # an answer, not a push
    assert texts_in(desk, topic)[-1] == "📌 " + t(
        app, "{operator} set the appeal's status: {status}. The person has been told."
    ).format(operator="Dilshod", status=t(app, "answered"))


async def test_after_stop_the_consulates_question_about_her_appeal_takes_her_answer(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    app = desk.app
    _thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await desk.say(ALICE, "СТОП")

    await post(desk, OPERATOR, topic, "/status needs_info Как называется фирма?")
    assert "Как называется фирма?" in to_person(desk, ALICE)[-1]
    await desk.say(ALICE, "ООО Стройка")

    assert any("ООО Стройка" in text for text in texts_in(desk, topic))
    assert (await appeal_now(app)).status == AppealStatus.IN_REVIEW


async def test_after_stop_a_registrations_question_and_outcome_still_reach_her(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """In a registration's topic /status is the only way to reach her: after STOP the
    consulate's question and its decision reached her by no way at all."""
    app = desk.app
    _thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await desk.say(ALICE, "СТОП")

    await post(desk, OPERATOR, topic, "/status needs_info Пришлите адрес с индексом.")
    assert "Пришлите адрес с индексом." in to_person(desk, ALICE)[-1]
    await desk.say(ALICE, "Казань, ул. Ленина 1, 420000")
    assert "420000" in texts_in(desk, topic)[-1]
    await post(desk, OPERATOR, topic, "/status accepted")

    assert (
        to_person(desk, ALICE)[-1] == "Ваше заявление на консульский учёт CR-2026-000001: принято."
    )
    assert (await registration_now(app)).status == RegistrationStatus.ACCEPTED


async def test_a_status_change_by_the_system_is_still_a_push_that_stop_ends(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    app = desk.app
    await file_one(desk)
    await desk.say(ALICE, "СТОП")
    before = len(to_person(desk, ALICE))

    async with app.db.transaction() as session:
        appeal = await session.scalar(select(Appeal))
        assert appeal is not None
        told = await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal, AppealStatus.CLOSED, actor="system",
            now=app.clock.now(),
        )  # fmt: skip
    await app.sender.deliver_due()

    assert not told
    assert len(to_person(desk, ALICE)) == before
    assert (await desk.outbox_rows())[-1].kind == OutboxKind.PUSH


# -- /status on a case she withdrew or deleted ------------------------------------------------


async def test_a_status_on_a_withdrawn_appeal_takes_nothing_and_says_why(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """She withdrew her appeal before anyone took it; an operator who had not seen that
    answers with /status. She was told «your request has been taken up… the answer will
    come here» about the appeal she withdrew."""
    app = desk.app
    thread_id, topic, before = await filed_and_withdrawn(desk)

    await post(desk, OPERATOR, topic, "/status answered Обратитесь в трудовую инспекцию.")

    assert to_person(desk, ALICE)[before:] == []
    assert texts_in(desk, topic)[-1] == t(
        app, "The person withdrew this appeal: nothing was done, and nothing was sent to them."
    )
    row = await thread_of(app, thread_id)
    assert (row.claimed_by, row.status) == (None, ThreadStatus.CLOSED)
    assert (await appeal_now(app)).status == AppealStatus.WITHDRAWN


async def test_a_status_on_a_deleted_registration_takes_nothing_and_says_why(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await open_my_data(desk, ALICE)
    await desk.tap(ALICE, "delete")
    await desk.tap(ALICE, "delete_yes")
    await desk.say(ALICE, "Удалить")
    await app.sender.deliver_due()
    before = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, "/status accepted")

    said = t(
        app,
        "The person deleted their data in the bot: nothing was done, and nothing was sent to them.",
    )
    assert texts_in(desk, topic)[-1] == said
    assert to_person(desk, ALICE)[before:] == []
    assert (await thread_of(app, thread.id)).claimed_by is None


async def test_a_status_the_appeal_cannot_take_does_not_take_the_case(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """Answered, then given back to the queue: a refused status (answered → rejected) took
    the case and told her someone had taken it up."""
    app = desk.app
    thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await add_operator(app, SECOND, "Aziza")
    await post(desk, OPERATOR, topic, "/status answered Обратитесь в трудовую инспекцию.")
    await post(desk, OPERATOR, topic, "/release")
    before = len(to_person(desk, ALICE))

    await post(desk, SECOND, topic, "/status rejected Не по адресу.")

    assert texts_in(desk, topic)[-1] == t(app, "The appeal cannot get this status now.")
    assert to_person(desk, ALICE)[before:] == []
    assert (await thread_of(app, thread_id)).claimed_by is None


# -- a command in a file's caption -----------------------------------------------------------


async def test_a_photo_captioned_with_a_status_command_goes_first_then_the_status(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """The form attached, the command in the caption: the photo went to her with
    «/status answered …» as its words, and the status stayed. Once, however often Telegram
    delivers the update."""
    app = desk.app
    _thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    before = len(to_person(desk, ALICE))
    caption = "/status answered Заполните этот бланк и отнесите в инспекцию."
    update_ = posted(OPERATOR, topic, photo=PHOTO, caption=caption)

    await desk.feed(update_)
    await desk.feed(update_)  # redelivered

    [photo] = files_to(desk, "sendPhoto")
    assert photo["photo"] == "AgACform"
    assert photo["caption"] == ru(app, "Consulate operator:")
    sent = to_person(desk, ALICE)[before:]
    assert len(sent) == 2  # that the case was taken, the answer
    assert sent[-1].startswith("Ваше обращение AP-2026-000001: дан ответ.")
    assert "Заполните этот бланк и отнесите в инспекцию." in sent[-1]
    assert not any("/status" in text for text in sent)
    assert (await appeal_now(app)).status == AppealStatus.ANSWERED
    said = [text for text in texts_in(desk, topic) if text.startswith("📌")]
    assert len(said) == 1


async def test_a_file_captioned_with_a_command_in_a_registrations_topic_does_nothing(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    app = desk.app
    _thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    before = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, document=FORM, caption="/status needs_info Заполните.")

    assert to_person(desk, ALICE)[before:] == []
    assert files_to(desk, "sendDocument") == []
    assert texts_in(desk, topic)[-1] == "ℹ️ " + t(
        app, "The command in the caption was not carried out: send it as a message of its own, "
        "without the file."
    )  # fmt: skip
    assert (await registration_now(app)).status == RegistrationStatus.SUBMITTED


async def test_a_file_captioned_with_a_command_on_a_withdrawn_appeal_does_nothing(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    app = desk.app
    thread_id, topic, before = await filed_and_withdrawn(desk)

    await post(desk, OPERATOR, topic, photo=PHOTO, caption="/status answered Бланк.")

    assert to_person(desk, ALICE)[before:] == []
    assert files_to(desk, "sendPhoto") == []
    assert "/status" not in texts_in(desk, topic)[-2]  # the case is closed …
    assert texts_in(desk, topic)[-1].startswith("ℹ️ ")  # … and the command not carried out
    assert (await thread_of(app, thread_id)).claimed_by is None


# -- a file completing an answered appeal ---------------------------------------------------


async def test_a_file_for_an_answered_appeal_reaches_her_and_leaves_her_where_she_is(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """The natural order: «/status answered … the form is attached», then the form. It was
    refused; the only way was in_review → the file → answered again (two more notices)."""
    app = desk.app
    _thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/status answered Бланк заявления прилагаю ниже.")
    where = await desk.state(ALICE)

    await post(desk, OPERATOR, topic, document=FORM, caption="Заполните и отнесите.")

    [form] = files_to(desk, "sendDocument")
    assert form["document"] == "BQACform"
    assert form["caption"] == ru(app, "Consulate operator:") + "\nЗаполните и отнесите."
    now = await desk.state(ALICE)
    assert (now.journey, now.step, now.pending) == (where.journey, where.step, where.pending)
    assert (await appeal_now(app)).status == AppealStatus.ANSWERED
    async with app.db.sessions() as session:
        history = await appeals.appeal_history(session, app.cipher, await appeal_now(app))
    assert (history[-1][0].kind, history[-1][1]) == ("message", "Заполните и отнесите.")

    told = len(to_person(desk, ALICE))
    await post(desk, OPERATOR, topic, "А ещё возьмите паспорт.")  # words still wait
    assert len(to_person(desk, ALICE)) == told
    assert "/status in_review" in texts_in(desk, topic)[-1]


async def test_a_file_for_a_closed_appeal_is_not_sent(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    app = desk.app
    _thread_id, topic = await file_one(desk)
    await add_operator(app, SUPERVISOR, "Olim", role="supervisor")
    await post(desk, SUPERVISOR, topic, "/status closed")

    await post(desk, SUPERVISOR, topic, document=FORM)

    assert files_to(desk, "sendDocument") == []
    assert in_topic(desk, topic, "sendDocument") == []


async def test_a_wrong_country_operator_takes_nothing_of_a_registration(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod", countries=["KZ"])
    before = len(to_person(desk, ALICE))

    for command in ("/status accepted", "/status needs_info Почему?", "/registration",
                    "/claim", "/status rejected Нет", "/close"):  # fmt: skip
        await post(desk, OPERATOR, topic, command)

    assert len(to_person(desk, ALICE)) == before
    assert (await thread_of(app, thread.id)).claimed_by is None


async def test_a_blocked_chat_hears_no_status_and_the_topic_says_so(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    app = desk.app
    _thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    async with app.db.transaction() as session:
        await session.execute(update(ChannelAccount).values(reachable=False))

    await post(desk, OPERATOR, topic, "/status accepted")

    assert texts_in(desk, topic)[-1].startswith("📌 " + t(
        app, "{operator} set the registration's status: {status}. The person could not be "
        "told: no chat reaches them any more (they blocked the bot or their account is gone)."
    ).format(operator="Dilshod", status=t(app, "accepted")))  # fmt: skip


# -- a command in a file's caption: an album, a refused command, a caption like a command ----

PAGE_2 = [{"file_id": "AgACpage2", "file_unique_id": "f2", "width": 90, "height": 90}]
PAGE_3 = [{"file_id": "AgACpage3", "file_unique_id": "f3", "width": 90, "height": 90}]
NOT_SENT_EITHER = (
    "The file was not sent to the person either. Send it again with the corrected command, or "
    "without one."
)


@pytest.mark.parametrize(
    "caption", ["/close Документы во вложении.", "/status closed Документы во вложении."]
)
async def test_an_album_captioned_with_a_command_sends_neither_that_file_nor_the_command(
    desk: TelegramHarness,  # noqa: F811
    caption: str,
) -> None:
    """Three pages sent together: Telegram delivers three messages sharing media_group_id,
    the caption on the first. The first page went, the case closed, the other pages were
    refused (a closed case): she got page one of three."""
    app = desk.app
    thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, topic, photo=PHOTO, media_group_id="album1", caption=caption)
    await post(desk, OPERATOR, topic, photo=PAGE_2, media_group_id="album1")
    await post(desk, OPERATOR, topic, photo=PAGE_3, media_group_id="album1")

    assert [p["photo"] for p in files_to(desk, "sendPhoto")] == ["AgACpage2", "AgACpage3"]
    assert "ℹ️ " + t(
        app, "A command cannot go with an album: the file that carried it was not sent, and "
        "the command was not carried out (the album's other files were sent). Send that file "
        "again without the command, then the command as a message of its own."
    ) in texts_in(desk, topic)  # fmt: skip
    assert (await thread_of(app, thread_id)).status == ThreadStatus.OPEN
    assert (await appeal_now(app)).status == AppealStatus.NEW


@pytest.mark.parametrize(
    ("caption", "refusal"),
    [
        ("/status needs_info", "«{status}» needs a text for the person after it, for example: "
         "{example}"),
        ("/status answerd Заполните бланк.", "Send {command} and the new status: {statuses}. A "
         "question, an answer or a reason goes after it, for example: {example}"),
        ("/close", None),  # by another operator than the one who has the case
    ],
)  # fmt: skip
async def test_a_file_captioned_with_a_command_that_is_refused_is_not_sent(
    desk: TelegramHarness,  # noqa: F811
    caption: str,
    refusal: str | None,
) -> None:
    """The command refused (a question missing, a mistyped status): the form had gone to her
    all the same; the operator, told to correct the command, sent the form again with it,
    and she got it twice."""
    app = desk.app
    thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await add_operator(app, SECOND, "Aziza")
    if refusal is None:
        await post(desk, SECOND, topic, "/claim")
    before = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, photo=PHOTO, caption=caption)

    assert files_to(desk, "sendPhoto") == []
    assert to_person(desk, ALICE)[before:] == []
    said = texts_in(desk, topic)
    assert said[-1] == "ℹ️ " + t(app, NOT_SENT_EITHER)
    if refusal is not None:
        assert said[-2].startswith(t(app, refusal).partition("{")[0])
        assert (await thread_of(app, thread_id)).claimed_by is None  # not taken either
    assert (await appeal_now(app)).status == AppealStatus.NEW


async def test_a_file_with_a_status_the_appeal_cannot_take_is_not_sent(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """Answered: a file still goes (it completes the answer), but answered → rejected is
    refused; the file went all the same."""
    app = desk.app
    _thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/status answered Обратитесь в трудовую инспекцию.")
    before = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, document=FORM, caption="/status rejected Не по адресу.")

    assert files_to(desk, "sendDocument") == []
    assert to_person(desk, ALICE)[before:] == []
    assert texts_in(desk, topic)[-2:] == [
        t(app, "The appeal cannot get this status now."),
        "ℹ️ " + t(app, NOT_SENT_EITHER),
    ]
    assert (await appeal_now(app)).status == AppealStatus.ANSWERED


@pytest.mark.parametrize("caption", ["/2026 форма заявления", "/help", "/queue"])
async def test_a_caption_that_only_looks_like_a_command_goes_with_its_file(
    desk: TelegramHarness,  # noqa: F811
    caption: str,
) -> None:
    """Only a command about the case is a command in a caption: the file captioned
    «/2026 форма заявления» was dropped, the operator told «Unknown command»."""
    app = desk.app
    _thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, topic, photo=PHOTO, caption=caption)

    [photo] = files_to(desk, "sendPhoto")
    assert photo["photo"] == "AgACform"
    assert photo["caption"] == ru(app, "Consulate operator:") + "\n" + caption
    assert not any("/help" in text for text in texts_in(desk, topic)[-1:])


async def test_a_file_captioned_claim_takes_the_case_once(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """The file takes the case nobody has, as a file does: the command then said «You have
    this case already»."""
    app = desk.app
    thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, topic, photo=PHOTO, caption="/claim")

    assert [p["photo"] for p in files_to(desk, "sendPhoto")] == ["AgACform"]
    assert texts_in(desk, topic)[-1] == "✋ " + t(
        app, "{operator} took the case. The person has been told."
    ).format(operator="Dilshod")
    assert (await thread_of(app, thread_id)).claimed_by is not None
