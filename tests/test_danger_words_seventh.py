"""More of what a person in danger types in a hurry on a cheap phone, and the everyday
consular messages that share its words.

Danger: «can't get out, the door is locked» (Russian «не могу выйти» only with a door, a lock
or a key in the message: «не могу выйти на работу» is a sick day), harassment («пристаёт
хозяин», «shilqimlik qilyapti»), an escape told in the first person («qochib ketdim», «я
сбежала»), being locked up oneself («men qamaldim»), forced labour («majburan
ishlatishyapti», «принуждают работать»). Not danger: a quarantine («нас закрыли на
карантин»), a parent's scolding («Onam meni urishdi»: urishmoq is «scold» — with «xoʻjayin» or
«erim» it is read as a beating), a runaway worker asked about by an employer, a relative
detained, a prison term long served, mandatory insurance («majburiy sugʻurta»), a bailiff
(«пристав»), a fear of a missed deadline."""

import pytest

from handlers import checkin
from handlers import help as help_journey
from models import HelpCase
from services.contacts import emergency_contacts
from tests import test_danger_words_corpus as corpus
from tests.harness import TelegramHarness
from tests.test_danger_words_first import ALICE, reach
from tests.test_journey_help import cases, plain
from tests.test_staff_group import STAFF_CHAT, StaffRecordingSession

# (the language the words tell, what she types): each must open the urgent path.
MUST_OPEN = [
    # Can't get out, the door locked: Russian, with typos, with and without punctuation.
    ("ru", "не могу выйти двери закрыты"), ("ru", "Не могу выйти, двери закрыты"),
    ("ru", "немогу выйти дверь заперта"), ("ru", "выйти не могу дверь закрыли снаружи"),
    ("ru", "не можем выбраться дверь на замке"), ("ru", "не могла выйти хозяин забрал ключи"),
    ("ru", "не дают выйти двери на замок закрыли"), ("ru", "не могу выйти всё заперто"),
    ("ru", "ни могу выйти дверь замкнули"),
    ("uz_Latn", "chiqa olmayapman eshik qulflangan"), ("uz_Latn", "uydan chiqolmadim"),
    ("uz_Cyrl", "чиқа олмаяпмиз эшик қулф"), ("uz_Cyrl", "чика олмаяпман"),
    # Harassment.
    ("ru", "пристаёт хозяин боюсь"), ("ru", "пристает хозяин боюсь"), ("ru", "Пристаит хозяин"),
    ("ru", "хозяин ко мне пристаёт"), ("ru", "начальник пристает по ночам"),
    ("ru", "хозяин квартиры приставал ко мне"), ("ru", "бригадир домогается"),
    ("ru", "пристают мужчины на работе боюсь"),
    ("uz_Latn", "xo'jayin shilqimlik qilyapti"), ("uz_Latn", "xojayin menga shilqimlik qilvotti"),
    ("uz_Cyrl", "Хўжайин менга шилқимлик қиляпти"), ("uz_Cyrl", "хужайин шилкимлик киляпти"),
    # She ran away, in the first person.
    ("uz_Latn", "qochib ketdim yordam bering"), ("uz_Latn", "Ishxonadan qochib ketdim"),
    ("uz_Latn", "qochib kettim"), ("uz_Latn", "Xo'jayindan qochdim pasportim unda qoldi"),
    ("uz_Latn", "qochib chiqdik"), ("uz_Latn", "qochib qutuldim"),
    ("uz_Latn", "qochmoqchiman yordam kerak"),
    ("uz_Cyrl", "қочиб кетдим ёрдам беринг"), ("uz_Cyrl", "кочиб кетдим ердам беринг"),
    ("ru", "я сбежала от хозяина"), ("ru", "Мы сбежали помогите"), ("ru", "хочу сбежать от мужа"),
    ("ru", "Я убежал с работы паспорт у них"), ("ru", "удалось сбежать что делать"),
    # Locked up or detained herself.
    ("uz_Latn", "men qamaldim"), ("uz_Latn", "Men qamaldim yordam bering"),
    ("uz_Latn", "kamaldik"), ("uz_Cyrl", "мен қамалдим"), ("uz_Cyrl", "мен камалдим"),
    ("uz_Latn", "bizni qamashdi"), ("uz_Latn", "meni qulflab qo'yishdi"),
    ("uz_Latn", "Meni qulflab ketdi"), ("uz_Cyrl", "Мени қулфлаб қўйишди"),
    ("uz_Cyrl", "мени кулфлаб куйишди"),
    # Forced labour.
    ("uz_Latn", "Majburan ishlatishyapti"), ("uz_Latn", "Bizni majburlab ishlatishyapti"),
    ("uz_Latn", "zo'rlab ishlatishyapti"), ("uz_Latn", "zorlab ishlatyapti"),
    ("uz_Latn", "zoʻrlik bilan ishlatishmoqda"), ("uz_Latn", "meni ishlashga majburlashyapti"),
    ("uz_Cyrl", "Мажбуран ишлатишяпти"), ("uz_Cyrl", "мажбурлаб ишлатишяпти"),
    ("uz_Cyrl", "зурлаб ишлатишяпти"), ("uz_Latn", "Bizni qul qilib ishlatishyapti"),
    ("uz_Latn", "zo'rlik ishlatishdi"),
    ("ru", "нас принуждают работать"), ("ru", "насильно заставляют работать"),
    ("ru", "Силой заставляют работать без денег"),
    # «urishdi» of a boss or a husband: a beating.
    ("uz_Latn", "xo'jayin meni urishdi"), ("uz_Latn", "Xojayin meni urishdi"),
    ("uz_Latn", "erim meni urdi"), ("uz_Cyrl", "хўжайин мени уришди"),
    # Kidnapped: «oʻgʻirlab ketishdi» with «meni» (a phone stolen without it).
    ("uz_Cyrl", "Мени ўғирлаб кетишди"), ("uz_Latn", "meni o'g'irlab ketishdi"),
    ("uz_Cyrl", "мени угирлаб кетишди"),
]  # fmt: skip

# Everyday consular messages (and the known false alarms) that share these words.
MUST_NOT_OPEN = [
    # A quarantine.
    "Нас закрыли на карантин в общежитии", "нас закрыли на карантин",
    "Нас заперли на карантине в общаге", "Общежитие закрыли на карантин нас не выпускают",
    "Bizni karantinga qamab qo'yishdi", "Консульство закрыли на карантин?", "карантин",
    "Нужен ли карантин после приезда?",
    # A parent's scolding: urishmoq.
    "Onam meni urishdi", "Dadam meni urishdi", "Otam urishdi uyga qaytmoqchiman",
    "Онам мени уришди", "oyim meni urishyapti", "Ota-onam meni urishadi",
    # Doors, keys and «не могу выйти» of everyday life.
    "Дверь в консульство закрыта?", "Двери консульства закрыты, когда откроют?",
    "Консульство закрыто не могу войти", "Eshik yopiqmi? Konsullik bugun ishlaydimi",
    "не могу выйти на работу болею что с патентом", "Не могу выйти из гражданства России",
    "не могу выйти замуж без справки", "Не могу выйти из аккаунта Госуслуг",
    "Не могу выйти на связь с работодателем дверь офиса закрыта",
    "Ключи от квартиры хозяин не отдаёт",
    # Someone else ran away.
    "qochib ketgan ishchi haqida", "Ishchimiz qochib ketdi pasporti bizda qoldi",
    "Xotinim qochib ketdi, ajrashmoqchiman", "Uyqum qochib ketdi",
    "Qochqin maqomini olsa boʻladimi",
    "Работодатель сбежал, не заплатив зарплату", "Бригадир убежал с нашими деньгами",
    # A landlord, a fear of a deadline, bailiffs and collectors.
    "хозяин квартиры не отдаёт залог", "Хозяин квартиры не хочет регистрировать",
    "боюсь не успею продлить патент", "Боюсь опоздать на рейс", "боюсь потерять работу",
    "Qo'rqaman, patentim tugab qoldi", "Приставы арестовали счёт, что делать",
    "Судебный пристав звонит по долгу", "Коллекторы пристают по кредиту",
    # «majburiy» is mandatory; «majburan ishlayapman» working unwillingly, for the money.
    "majburiy sug'urta", "Majburiy tibbiy ko'rik qayerda", "Мажбурий суғурта канча",
    "Kechasi ham ishlashga majburman", "Pul uchun majburan ishlayapman",
    "Суд назначил принудительные работы, можно ли уехать?",
    "Работодатель принуждает уволиться по собственному", "принуждают подписать трудовой договор",
    "Zoʻrlab shartnoma imzolatishdi",
    # A relative detained, a term long served, stuck on the way.
    "qamalgan akam uchun advokat", "Akam qamaldi advokat kerak", "Ukam qamalgan qaysi sudda",
    "Men hech qachon qamalmaganman, ma'lumotnoma kerak",
    "2015 yilda qamaldim endi pasport olsam boʻladimi", "Aeroportda qamaldim reys bekor boʻldi",
    # An escape long ago, a question now; a phone stolen.
    "Я сбежала от мужа 2 года назад, хочу развод", "Я сбежал из дома в 16 лет паспорт нужен",
    "3 yil oldin ishdan qochib ketdim endi qaytsam boʻladimi", "Telefonimni o'g'irlab ketishdi",
]  # fmt: skip


@pytest.mark.parametrize(("locale", "typed"), MUST_OPEN)
def test_danger_is_heard(locale: str, typed: str) -> None:
    assert help_journey.names_danger(typed)
    assert help_journey.distress_language(typed) == locale
    assert help_journey.asks_for_help_at_the_check_in(typed, checkin.NOT_SAFE_WORDS)


@pytest.mark.parametrize("typed", MUST_NOT_OPEN)
def test_an_everyday_message_is_no_danger(typed: str) -> None:
    assert not help_journey.names_danger(typed)
    assert help_journey.distress_language(typed) is None


# At the main menu, through the chat: the known misses open the urgent path, the known false
# alarms and a few everyday neighbours do not.
AT_THE_MENU_OPEN = [
    ("ru", "не могу выйти двери закрыты"), ("ru", "пристаёт хозяин боюсь"),
    ("uz_Latn", "qochib ketdim yordam bering"), ("uz_Latn", "men qamaldim"),
    ("uz_Latn", "Majburan ishlatishyapti"), ("uz_Cyrl", "Мажбуран ишлатишяпти"),
    ("uz_Latn", "xo'jayin meni urishdi"),
]  # fmt: skip
AT_THE_MENU_NOT = [
    ("ru", "Нас закрыли на карантин в общежитии"), ("uz_Latn", "Onam meni urishdi"),
    ("ru", "Дверь в консульство закрыта?"), ("uz_Latn", "qochib ketgan ishchi haqida"),
    ("uz_Latn", "majburiy sug'urta"), ("uz_Latn", "qamalgan akam uchun advokat"),
]  # fmt: skip


@pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)
@pytest.mark.parametrize(("locale", "typed"), AT_THE_MENU_OPEN + corpus.AT_THE_MENU)
async def test_at_the_menu_danger_opens_the_urgent_path(
    telegram: TelegramHarness, locale: str, typed: str
) -> None:
    app = telegram.app
    await reach(telegram, "menu", locale)

    reply = await telegram.say(ALICE, typed)

    translator = app.catalogs.translator(locale)
    consulates = app.engine.journey_settings.consulates
    assert reply["text"].startswith(emergency_contacts(translator, None, consulates))
    [case] = await cases(app)
    assert (case.reason, case.urgent) == ("danger", True)
    assert plain(app, case.description) == typed


@pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)
@pytest.mark.parametrize(("locale", "typed"), AT_THE_MENU_NOT + corpus.EVERYDAY_AT_THE_MENU)
async def test_at_the_menu_an_everyday_message_opens_nothing(
    telegram: TelegramHarness, locale: str, typed: str
) -> None:
    app = telegram.app
    await reach(telegram, "menu", locale)

    reply = await telegram.say(ALICE, typed)

    translator = app.catalogs.translator(locale)
    consulates = app.engine.journey_settings.consulates
    assert not reply["text"].startswith(emergency_contacts(translator, None, consulates))
    assert await telegram.count(HelpCase) == 0
    assert (await telegram.state(ALICE)).journey != "help"
