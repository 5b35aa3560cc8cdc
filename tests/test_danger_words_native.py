"""A native speaker's messages read for danger: the sentences of «no, help me» that answer
«Are you safe?», the everyday forms of «they kill / hold / sold / threaten me» (Uzbek typed on
a Russian keyboard too), the consular matters that only look like danger (an entry ban's
slang, a stamp, a relative detained, a theft, a bank card), and the language of a message
that mixes Uzbek with a Russian address."""

import pytest

from handlers import checkin
from handlers import help as help_journey
from models import CheckinStatus
from services.clock import ManualClock
from tests.harness import TelegramHarness, button_ids
from tests.test_checkins import ALICE, STAFF_CHAT, asked_are_you_safe, cases, checkin_rows

# «Are you safe?» answered with a sentence of «no», pleas and calls.
CHECKIN_HELP = [
    ("ru", "Я в опасности, помогите"), ("ru", "Нет, помогите"), ("ru", "SOS помогите"),
    ("uz_Latn", "Yo'q, yordam kerak"), ("uz_Latn", "Men xavf ostidaman yordam bering"),
    ("uz_Latn", "yoq xavfsiz emasman"), ("uz_Cyrl", "Йўқ, ёрдам беринг илтимос"),
]  # fmt: skip


@pytest.mark.app(operator_chat_id=STAFF_CHAT, checkin_grace_hours=6)
@pytest.mark.parametrize(("locale", "typed"), CHECKIN_HELP)
async def test_a_sentence_of_no_and_help_answers_the_check_in(
    telegram: TelegramHarness, clock: ManualClock, locale: str, typed: str
) -> None:
    await asked_are_you_safe(telegram, clock, locale)

    await telegram.say(ALICE, typed)

    [row] = await checkin_rows(telegram.app)
    assert row.status == CheckinStatus.HELP
    [case] = await cases(telegram.app)
    assert case.urgent
    assert telegram.app.cipher.decrypt_text(case.description) == typed


@pytest.mark.app(operator_chat_id=STAFF_CHAT, checkin_grace_hours=6)
@pytest.mark.parametrize(("locale", "typed"), [("ru", "Нет, спасибо"), ("uz_Latn", "Iltimos")])
async def test_no_with_other_words_or_politeness_alone_is_asked_again(
    telegram: TelegramHarness, clock: ManualClock, locale: str, typed: str
) -> None:
    await asked_are_you_safe(telegram, clock, locale)

    reply = await telegram.say(ALICE, typed)

    assert button_ids(reply) == ["safe", "need_help"]
    [row] = await checkin_rows(telegram.app)
    assert row.status == CheckinStatus.ASKED


@pytest.mark.parametrize(("locale", "typed"), CHECKIN_HELP)
def test_the_check_in_reads_its_no_words_with_pleas(locale: str, typed: str) -> None:
    assert help_journey.asks_for_help_at_the_check_in(typed, checkin.NOT_SAFE_WORDS)


def test_no_is_no_plea_on_other_screens() -> None:
    assert not help_journey.is_a_plea("Нет, помогите")
    assert help_journey.distress_language("Нет, помогите") is None
    assert not help_journey.asks_for_help_at_the_check_in("Нет, спасибо", checkin.NOT_SAFE_WORDS)


# Genuine distress: the words of harm anywhere in a message.
MISSES = [
    "меня убивают", "Помогите! Убивают!", "помогите убивают",
    "помогите меня держат", "меня держат в подвале", "нас держат в доме не дают выйти",
    "меня продали", "нас продали посредники работаем бесплатно",
    "меня избевают каждый день",  # the usual misspelling
    "мне угрожают", "угрожает ножом", "хочет зарезать меня",
    "meni sotib yuborishdi", "bizni sotishdi",
    # Uzbek typed on a Russian keyboard: у for ў.
    "Мени улдиришади", "мени улдиради", "Мени зурлашди", "Мени куйиб юбормаяпти",
    "meni urishadi", "Мени урвотти", "xo'jayin urvotdi", "urvotishdi",
    "erim meni urib tashladi", "Мени уриб кетишди",
    "eshikni qulflab ketdi chiqolmayapman",
]  # fmt: skip


@pytest.mark.parametrize("typed", MISSES)
def test_distress_is_heard(typed: str) -> None:
    assert help_journey.names_danger(typed)
    assert help_journey.asks_for_help_at_the_check_in(typed)
    assert help_journey.distress_language(typed) is not None


# Everyday consular matters that only look like danger.
FALSE_ALARMS = [
    "Меня закрыли на 5 лет, как узнать когда откроют въезд",  # an entry ban's slang
    "меня закрыли в базе, запрет въезда, можно проверить?",
    "Pasportimga chiqish pechatini urishdi, endi nima qilaman",  # a stamp
    "Chegarada pasportga shtamp urdi, muddati qancha", "Migratsiya muhr urdi",
    "Tok urdi ishda, qo'lim kuydi, kasalxonadaman",  # an electric shock
    "Bugun yuragim tez uryapti, shifokor kerak",  # a heartbeat
    "Akamni politsiya qamab qo'ydi, konsulga murojaat qilmoqchiman",  # a detention
    "Акамни камаб куйишди, адвокат керак",
    "У меня похитили паспорт и деньги в метро, как сделать новый",  # a theft
    "Документы похитили из машины, нужна справка",
    "Есть ли опасность депортации если просрочил патент?",  # the bare noun in a sentence
    "Patentsiz ishlasam xavf bormi?",
    "Банк не выпускает карту без регистрации", "Начальник не отпускает на больничный что делать",
    "Не отпускают в декрет", "Не отпускает на выходной",
    "Консульство было заперто, я приходила в 10 утра",
    "В Москве все бьют тревогу из-за новых правил патента, что делать",
    "Мигранты бьют тревогу: не выдают патент",
    "Чем убить время пока жду паспорт 2 месяца?",
    "Что мне угрожает за просрочку патента?", "Мне угрожает депортация?",
    "у меня продали квартиру",  # «меня» after a preposition is no object
    "Rossiyadan chiqolmayapman, qarzim bor",  # an exit ban
    "Mashinamni sotdi",
]  # fmt: skip


@pytest.mark.parametrize("typed", FALSE_ALARMS)
def test_an_everyday_matter_is_no_danger(typed: str) -> None:
    assert not help_journey.names_danger(typed)
    assert help_journey.distress_language(typed) is None


@pytest.mark.parametrize(
    "typed",
    [
        "Опасность!",
        "Xavf, qutqaring",
        "Здравствуйте, опасность, я на улице Ленина 5",
        "Meni politsiya qamab qoʻydi",
        "Uyda qamab qoʻyishdi",
    ],
)
def test_the_bare_noun_alone_and_a_detention_of_oneself_still_count(typed: str) -> None:
    assert help_journey.names_danger(typed)


@pytest.mark.parametrize(
    ("typed", "locale"),
    [
        ("Meni xo'jayin uryapti. Адрес: ул. Ленина 5", "uz_Latn"),
        ("Men xavf ostidaman, Москва, Люблино", "uz_Latn"),
        ("Yordam bering, пожалуйста", "uz_Latn"),
        ("Помогите, meni erim uryapti", "uz_Latn"),  # two Uzbek words to one Russian
        ("SOS мени уряпти", "uz_Cyrl"),
        ("Помогите, меня бьют", "ru"),
        ("Помогите, erim uryapti", "ru"),  # one word each: Russian
        ("pomogite menya byut", "ru"),
    ],
)
def test_the_language_of_a_mixed_message_is_that_of_its_words_of_distress(
    typed: str, locale: str
) -> None:
    assert help_journey.distress_language(typed) == locale
