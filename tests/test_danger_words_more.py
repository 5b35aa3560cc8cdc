"""The everyday ways of saying «he beats me», «I am locked in» are words of danger: singular,
plural and past forms, Russian and Uzbek in either script, the commonest typos. Words that
only look like them are not («закрыли консульство?», «бьютик», «turadi»).

Where the person's own words are taken (the open request's screen, a description, an answer
to an operator) they stay their words, but a request they name danger in is urgent for the
operators: its topic renamed 🔴 with a line saying why, the urgent target on the queue's
clock. Nothing changes on the person's screen."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import build_application
from handlers import help as help_journey
from models import HelpCase
from services import help_cases, staff
from services.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.harness import TelegramHarness, button_ids
from tests.test_journey_help import cases, messages_of, open_ordinary_case, plain
from tests.test_staff_group import (
    OPERATOR,
    STAFF_CHAT,
    StaffRecordingSession,
    add_operator,
    post,
    t,
    texts_in,
    threads,
)

ALICE = 8_880_201

# (the person's language, what they type): each names danger anywhere in a message.
DANGER = [
    ("ru", "Муж бьёт меня"), ("ru", "муж бьет меня каждый день"), ("ru", "Меня закрыли в квартире"),
    ("ru", "хозяин избивает меня"), ("ru", "я в опастности"), ("ru", "меня не выпускают из дома"),
    ("ru", "Хозяин закрыл меня в комнате"), ("ru", "Нас закрыли на складе"),
    ("ru", "Меня избили вчера"), ("ru", "бригадир избила"), ("ru", "Меня заперла хозяйка"),
    ("ru", "Я заперта"), ("ru", "Нас держат взаперти"), ("ru", "Меня не отпускают домой"),
    ("ru", "меня ударил хозяин"), ("ru", "Нас били"),
    ("uz_Latn", "Meni uradi"), ("uz_Latn", "Erim meni uryapti"), ("uz_Latn", "Meni urdi"),
    ("uz_Latn", "Bizni uryaptilar"), ("uz_Latn", "Meni kaltaklashdi"),
    ("uz_Latn", "Xoʻjayin kaltaklayapti"), ("uz_Latn", "Meni qamab qoʻydi"),
    ("uz_Latn", "Bizni qamab qo'yishgan"), ("uz_Latn", "Uyda qamalib qoldim"),
    ("uz_Latn", "Meni uydan chiqarmayapti"), ("uz_Latn", "Bizni chiqarishmayapti"),
    ("uz_Cyrl", "Мени қамаб қўйди"), ("uz_Cyrl", "Эрим мени уряпти"),
    ("uz_Cyrl", "Мени калтаклашди"),
    ("uz_Cyrl", "Бизни қамаб қўйишган"), ("uz_Cyrl", "Мени уйдан чиқармаяпти"),
    ("uz_Cyrl", "Мени камаб куйишди"),  # typed on a Russian keyboard: к for қ, у for ў
    # Killing, rape; «меня» after the verb where the clause ends or a place follows.
    ("ru", "меня насилуют"), ("ru", "Меня изнасиловал хозяин"), ("ru", "он меня убьёт"),
    ("ru", "муж убьет меня"), ("ru", "Сказал, что убьют нас всех"), ("ru", "хочет меня убить"),
    ("ru", "Муж ударил меня по лицу"), ("ru", "ударил меня ногой"),
    ("ru", "Бригадир закрыл нас на складе и ушёл"),
    ("ru", "Меня избили на границе"),  # an exit ban's words tell of no beating
    ("ru", "Меня не выпускают из дома из-за долгов"),  # «из дома»: held, whatever the reason
    ("uz_Latn", "meni oʻldiradi"), ("uz_Latn", "erim meni oʻldirmoqchi"),
    ("uz_Latn", "meni zoʻrlashyapti"), ("uz_Latn", "Xonada qamalib qoldik"),
    ("uz_Latn", "Meni xonadan chiqarishmayapti"), ("uz_Latn", "Uydan meni chiqarmayapti"),
    ("uz_Cyrl", "Эрим мени ўлдирмоқчи"), ("uz_Cyrl", "Уйда қамалиб қолдим"),
]  # fmt: skip

# Words that only look like words of danger. «меня не выпускают из России» is an exit ban:
# a legal question, for an ordinary request, not the police numbers.
NOT_DANGER = [
    "закрыли консульство?", "Консульство закрыто в субботу?", "бьютик", "Бьюти салон",
    "у меня закрыли счёт в банке", "Мне закрыли въезд", "меня интересует, закрыли ли визовый центр",
    "меня не выпускают из России без патента?", "Меня не отпускают в отпуск",
    "у нас были документы", "меня спросили, где были документы", "избиратель",
    "turadi", "Buradi", "uradigan", "Urganch", "Kaltak", "xavfsizlik", "Men ishdan chiqdim",
    # Everyday consular news: «меня»/«нас» of another clause, an exit ban, leave, getting stuck.
    "Фирму закрыли, меня уволили, что делать с патентом?",
    "Магазин закрыли, нас отправили домой без зарплаты",
    "Счёт закрыли, меня попросили прийти в банк", "Счёт закрыли меня не предупредив",
    "Меня не выпускают за границу из-за долгов", "на границе не выпустили, говорят запрет",
    "не отпустили на похороны отца", "Меня не выпустили на рейс", "не выпускают из РФ",
    "Xoʻjayin meni roʻyxatdan chiqarmayapti",  # the landlord will not de-register her
    "Meni qora roʻyxatdan chiqarishmayapti",  # not taken off the ban list
    "Meni ishdan chiqarishmayapti",  # they will not let her quit
    "Aeroportda qamalib qoldim, reys bekor boʻldi",  # stuck at the airport
    "Pasport uchun rasm oldirmoqchiman",  # oʻldir- typed without its ʻ: oldir-, «have taken»
    "Zoʻrlab shartnoma imzolatishdi",  # forced to sign: a question for an appeal
]  # fmt: skip


@pytest.fixture
async def desk(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[TelegramHarness]:
    """With a staff group, where operators answer help requests."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT),
        clock=clock,
        telegram_session=StaffRecordingSession(),
    )
    yield TelegramHarness(app)
    await app.close()


@pytest.mark.parametrize(("locale", "words"), DANGER)
def test_words_of_danger_are_read_as_danger(locale: str, words: str) -> None:
    assert help_journey.names_danger(words)
    assert help_journey.distress_language(words) == locale
    assert help_journey.asks_for_help_at_the_check_in(words)


@pytest.mark.parametrize("words", NOT_DANGER)
def test_words_like_them_are_not(words: str) -> None:
    assert not help_journey.names_danger(words)
    assert help_journey.distress_language(words) is None


@pytest.mark.parametrize(
    "words",
    [
        "Всё хорошо, фирму закрыли, меня уволили",
        "Yaxshi, lekin xoʻjayin meni roʻyxatdan chiqarmayapti",
        "Всё нормально. Меня не выпускают за границу, но это решаем",
    ],
)
def test_a_safe_answer_with_everyday_news_is_not_i_need_help(words: str) -> None:
    """At «Are you safe?» these would be «I need help»: an urgent case, the emergency
    numbers."""
    assert not help_journey.asks_for_help_at_the_check_in(words)


@pytest.mark.parametrize(("locale", "words"), DANGER[::3])
async def test_at_the_main_menu_they_open_an_urgent_case(
    desk: TelegramHarness,
    locale: str,
    words: str,
) -> None:
    await desk.onboard(ALICE, locale)

    reply = await desk.say(ALICE, words)

    assert "HR-2026-000001" in reply["text"]
    [case] = await cases(desk.app)
    assert (case.reason, case.urgent) == ("danger", True)
    assert plain(desk.app, case.description) == words


@pytest.mark.parametrize(
    "words",
    [
        "закрыли консульство?", "меня не выпускают из России без патента?", "бьютик",
        "Фирму закрыли, меня уволили, что делать с патентом?",
        "Xoʻjayin meni roʻyxatdan chiqarmayapti",
    ],
)  # fmt: skip
async def test_at_the_main_menu_words_like_them_open_no_case(
    desk: TelegramHarness,
    words: str,
) -> None:
    await desk.onboard(ALICE, "ru")

    await desk.say(ALICE, words)

    assert await desk.count(HelpCase) == 0
    assert (await desk.state(ALICE)).journey != "help"


# -- urgent for the operators, where the words are the person's own -----------------------------


async def urgent_for_operators(desk: TelegramHarness, words: str) -> None:
    """The request and its thread urgent, its topic renamed 🔴 and told why after the words,
    the urgent target on the clock; the person's own «urgent» not marked."""
    app = desk.app
    [case] = await cases(app)
    [thread] = await threads(app)
    assert case.urgent
    assert thread.urgent
    assert t(app, "URGENT") in thread.topic_name
    topic = texts_in(desk, thread.topic_id)
    assert topic[-1].endswith(t(app, help_cases.WORDS_OF_DANGER))
    assert words in topic[-2]
    names = [
        call.params["name"]
        for call in desk.session.calls
        if call.method in {"createForumTopic", "editForumTopic"}
    ]
    assert names[-1] == thread.topic_name
    targets = staff.ServiceTargets({"urgent": 30, "*": 24 * 60})
    assert targets.target(thread) == timedelta(minutes=30)
    async with app.db.sessions() as session:
        assert not await help_cases.person_marked_urgent(session, case)
    assert help_cases.URGENT not in [m.kind for m in await messages_of(app, case)]


async def test_on_the_open_requests_screen(desk: TelegramHarness) -> None:
    """She filed «My passport was taken»; while it waits she writes on its screen that she is
    locked in and beaten. Her screen answers as it does to any message."""
    await desk.onboard(ALICE, "ru")
    await open_ordinary_case(desk, ALICE, reason="passport_taken")
    await desk.tap(ALICE, "help")
    ordinary = await desk.say(ALICE, "Паспорт у бригадира, адрес я напишу позже")
    [before] = await cases(desk.app)
    assert not before.urgent

    words = "Меня заперли в комнате и бьют, помогите"
    reply = await desk.say(ALICE, words)

    assert reply["text"] == ordinary["text"]
    assert button_ids(reply) == button_ids(ordinary)
    await urgent_for_operators(desk, words)
    again = await desk.say(ALICE, "Они ещё здесь, бьют")  # once is enough
    assert again["text"] == ordinary["text"]
    [thread] = await threads(desk.app)
    alarm = t(desk.app, help_cases.WORDS_OF_DANGER)
    assert len([text for text in texts_in(desk, thread.topic_id) if alarm in text]) == 1


async def test_in_the_description(desk: TelegramHarness) -> None:
    """A description that names danger makes the request urgent when it opens; the person
    is told it was sent, as anyone is."""
    await desk.onboard(ALICE, "uz_Latn")
    await desk.tap(ALICE, "help")
    await desk.tap(ALICE, "passport_taken")
    words = "Xoʻjayin pasportimni oldi, meni omborda qamab qoʻyishdi"
    await desk.say(ALICE, words)
    await desk.tap(ALICE, "skip")  # location
    reply = await desk.tap(ALICE, "skip")  # files: sent

    [case] = await cases(desk.app)
    assert case.reason == "passport_taken"
    await urgent_for_operators(desk, words)
    assert t(desk.app, "I am in danger now", "uz_Latn") not in reply["text"]


async def test_a_description_without_danger_stays_ordinary(
    desk: TelegramHarness,
) -> None:
    await desk.onboard(ALICE, "ru")
    await open_ordinary_case(desk, ALICE)
    [case] = await cases(desk.app)
    [thread] = await threads(desk.app)
    assert not case.urgent
    assert not thread.urgent
    assert t(desk.app, "URGENT") not in thread.topic_name


async def test_in_an_answer_to_an_operator(desk: TelegramHarness) -> None:
    app = desk.app
    await desk.onboard(ALICE, "uz_Cyrl")
    await open_ordinary_case(desk, ALICE)
    [thread] = await threads(app)
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, thread.topic_id, "Qayerdasiz?")

    words = "Эрим мени уряпти, уйдан чиқармаяпти"
    await desk.say(ALICE, words)

    await urgent_for_operators(desk, words)
    assert (await desk.state(ALICE)).step == "reply"


async def test_her_sos_afterwards_still_reaches_the_operators(
    desk: TelegramHarness,
) -> None:
    """Urgent for the operators only: her own «SOS» later marks it urgent as hers, and the
    staff group hears that she says so."""
    app = desk.app
    await desk.onboard(ALICE, "ru")
    await open_ordinary_case(desk, ALICE)
    await desk.tap(ALICE, "help")
    await desk.say(ALICE, "Меня закрыли в квартире")

    await desk.say(ALICE, "SOS")

    [case] = await cases(app)
    async with app.db.sessions() as session:
        assert await help_cases.person_marked_urgent(session, case)
    [thread] = await threads(app)
    assert texts_in(desk, thread.topic_id)[-1].endswith(
        t(app, "The person says they are in danger now.")
    )
