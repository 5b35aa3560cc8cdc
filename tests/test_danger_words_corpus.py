"""A native speaker's corpus of what migrants type (2026-12-07): everyday consular messages,
none of which may open the urgent path, and messages of danger, each of which must —
thoughts of suicide («Oʻzimni oʻldirmoqchiman», «жить не хочу»), a child taken away
(«Bolamni oʻgʻirlab ketishdi», «ребенка украли»), someone held with words between «меня» and
the verb («меня хозяин закрыл»), Uzbek threats («Erim pichoq bilan qoʻrqityapti», «ketsang
oʻldiramiz deyapti»); and the hyperbole that must not («жара убивает», «Bu navbat meni
oʻldiradi», «цены бьют по карману», «я сбежал с урока», «ishga chiqolmayapman kasalman»)."""

import pytest

from handlers.help import distress_language
from models import HelpCase
from services.contacts import emergency_contacts
from tests.harness import TelegramHarness
from tests.test_danger_words_first import ALICE, reach
from tests.test_journey_help import cases
from tests.test_staff_group import STAFF_CHAT, StaffRecordingSession

# Everyday consular messages: none may open the urgent path.
MUST_NOT_OPEN = [
    # greetings
    "Assalomu alaykum",
    "Салом",
    "salom aka",
    "Здравствуйте",
    "привет",
    "Ассалому алайкум",
    "Hayrli kun",
    "rahmat",
    "рахмат катта",
    "спасибо большое",
    "ok",
    "xop",
    "хоп",
    "ладно",
    # patents
    "Patent qancha turadi",
    "патентни қандай узайтирсам бўлади",
    "patentni qanday uzaytiraman",
    "сколько стоит патент в москве",
    "патент просрочил на 3 дня что будет",
    "patentim tugab qoldi nima qilay",
    "patent uchun chek tolash kerakmi",
    "Патент оплатил а чек потерял",
    "патент на 2 месяца можно оплатить",
    "патентни пулини тулашни унутдим",
    "patent olish uchun qanday hujjat kerak",
    "можно ли работать в другой области по патенту",
    # registration
    "Регистрацию где сделать",
    "ro'yxatdan o'tish qayerda",
    "регистрация закончилась что делать",
    "рўйхатдан ўтиш учун нима керак",
    "хозяин квартиры не хочет делать регистрацию",
    "royxatdan chiqib ketdim qayta qanday otaman",
    "регистрацию сделали но адрес неправильный",
    "propiska qancha turadi",
    "Миграционный учет продлить как",
    # passports
    "Pasportim yo'qolib qoldi",
    "паспорт потерял что делать",
    "pasport muddati tugayapti",
    "пасспорт алмаштириш керак",
    "загранпаспорт сколько делается",
    "yangi pasport olish uchun navbat",
    "паспортимни ўғирлаб кетишди",
    "у меня украли паспорт в метро",
    "pasportimni o'g'irlatib qo'ydim",
    "Паспорт забрал работодатель на оформление вернёт?",
    "ID karta olsam bo'ladimi",
    "ребенку паспорт сделать в консульстве",
    "паспорт порвался можно ли с ним лететь",
    # tickets home
    "Toshkentga bilet qancha",
    "билет домой на самолет",
    "uyga qaytmoqchiman bilet yoq",
    "чиптага пул йок уйга кетолмаяпман",
    "pulim yo'q uyga ketolmayapman yordam bering chipta uchun",
    "Рейс отменили застряли в аэропорту",
    "Aeroportda qolib ketdik reys bekor",
    "поезд до ташкента есть?",
    "samolyotga chiqarishmadi pasport muammo",
    "Меня не пустили на рейс",
    "меня не выпускают из россии из за долгов",
    "чегарадан утказишмади",
    # salaries / employer complaints
    "Ish haqi bermayapti 3 oy",
    "зарплату не платят третий месяц",
    "хозяин зарплату не дал",
    "работодатель обманул с зарплатой",
    "xo'jayin pulimni bermayapti",
    "хужайин пулимни бермаяпти",
    "на работе штрафуют ни за что",
    "бригадир кричит на нас каждый день",
    "xo'jayin baqiryapti",
    "начальник орёт матом",
    "работодатель угрожает уволить",
    "угрожают штрафом за опоздание",
    "zavodda ish og'ir 12 soat ishlaymiz",
    "по 14 часов работаем без выходных",
    "работаем без договора это законно?",
    "меня уволили без расчета",
    "Ishdan haydashdi pulimni bermadi",
    "ишдан хайдашди",
    "трудовой договор не дают",
    "работодатель не отдает трудовую",
    "у нас на работе бьют по зарплате штрафами",
    "Хозяин сказал если уйдешь денег не получишь",
    "ishdan ketmoqchiman lekin xo'jayin qo'ymayapti",
    "не отпускают в отпуск",
    "xo'jayin ruxsat bermayapti uyga borishga",
    "прораб сказал закроет наряд только в конце месяца",
    # landlords
    "хозяин квартиры выгоняет",
    "kvartira egasi chiqarib yubormoqchi",
    "хозяйка не отдает залог",
    "Квартиру закрыли за долги, вещи внутри",
    "uy egasi kalitni olib qo'ydi",
    "Хозяин поменял замок вещи остались внутри",
    "ключи потерял от квартиры",
    "дверь сломалась хозяин не чинит",
    "eshik qulfi buzildi",
    # police checks
    "Politsiya to'xtatdi hujjat tekshirdi",
    "полиция остановила проверили документы",
    "менты забрали в отдел на 3 часа",
    "Meni militsiya olib ketdi hujjat tekshirish uchun",
    "рейд на рынке всех забрали",
    "меня задержали на 48 часов за патент",
    "меня оштрафовали полиция",
    "Akam qamaldi advokat kerak",
    "Ukamni politsiya ushlab qoldi",
    "брата задержали в москве",
    "укамни ушлаб колишди",
    "Мени депорт қилишяпти",
    "депортация на 5 лет запрет въезда",
    "Меня закрыли на въезд 5 лет",
    "въезд закрыт до 2029",
    # children's documents
    "Bolamga tug'ilganlik guvohnomasi",
    "ребенку свидетельство о рождении",
    "bolamni maktabga berish uchun",
    "детский сад не берут без регистрации",
    "боламни паспортга ёздириш",
    "ребенок родился в москве документы",
    "o'g'limni pasportga yozdirish",
    "дочке нужен загранпаспорт",
    "bolam kasal shifoxonaga olmayapti",
    "ребенок заболел полис нет",
    "Qizim maktabda urishib qoldi",
    "сын подрался в школе",
    "Bolani ona tiliga yozdirish",
    "ребенка не берут в школу",
    # family news
    "Onam kasal uyga borishim kerak",
    "отец умер как отправить тело",
    "dadam vafot etdi",
    "Xotinim tug'di qiz bo'ldi",
    "жена родила",
    "Ukam uylandi to'yga borolmadim",
    "бувим касал",
    "Onam meni urishdi uyga qo'ng'iroq qilmaganim uchun",
    "Dadam urishdi pul yubormadim",
    "otam kasalxonada",
    "Сестра выходит замуж",
    "Акамни уйига кириб кетишди",
    "brat pogib v avarii",
    "Ukamni mashina urib ketdi",
    "Машина сбила брата",
    "бабушку положили в больницу",
    # jokes/idioms
    "Убить готов за плов",
    "я тебя убью шучу",
    "Время убить нечем скучно",
    "убить время в очереди",
    "бьют тревогу в новостях",
    "пристал как банный лист с этим патентом",
    "жара убивает",
    "очередь меня убивает",
    "интернет убивает",
    "Bu navbat meni o'ldiradi",
    "Мени ўлдиради бу иш",
    "сердце бьётся",
    "yuragim uryapti imtihondan",
    "часы бьют 12",
    "Закрыли кафе на ремонт",
    "консульство закрыто?",
    "Опасно ли лететь через Стамбул",
    "Есть ли опасность депортации?",
    "patentsiz ishlasam xavf bormi",
    "xavf yo'q",
    "Я не в опасности, просто вопрос",
    "опасность миновала спасибо",
    "футбол узбекистан убил всех 3 0",
    "наши их разбили 2:0",
    "zo'r",
    "зўр бўлди",
    "ишда сиқилиб кетдим",
    # other everyday
    "Кредит не дают",
    "коллекторы звонят каждый день",
    "коллекторы угрожают",
    "bank kartam blok",
    "Телефон украли",
    "Telefonimni o'g'irlab ketishdi",
    "сумку украли в автобусе",
    "Tibbiy ko'rik qayerda",
    "медкомиссия для патента",
    "экзамен по русскому языку где сдать",
    "ИНН как получить",
    "СНИЛС нужен?",
    "гражданство РФ получить",
    "vnj olish",
    "Qaysi kunlari konsullik ishlaydi",
    "консульство работает в субботу",
    "konsulga yozilish",
    "Turkiyaga ishga ketmoqchiman",
    "в корею по программе как",
    "Koreyaga ishga qanday boraman",
    "posrednik pulimni olib qochdi",
    "посредник деньги забрал и пропал",
    "агентство обмануло",
    "Vositachi aldadi",
    "мени алдашди",
    "fotosuratni qayerga yuboraman",
    "ariza qoldirdim javob yo'q",
    "Мой номер заявки",
    "operator bilan gaplashmoqchiman",
    "оператор ответьте пожалуйста",
    "нужна помощь с регистрацией",
    "yordam bering patent bo'yicha",
    "помогите с билетом",
    "Qo'rqaman patentim tugadi",
    "боюсь депортации",
    "страшно идти в полицию без документов",
    "Я сбежал от скуки в кино",
    "уйдём с работы пораньше",
    "Ishdan qochib ketgan ishchini qidiryapman",
    "работник сбежал с авансом",
    "Рабочий убежал",
    "kelinim qochib ketdi",
    "муж пьет и не работает",
    "erim ichadi pul bermaydi",
    "Erim bilan ajrashmoqchiman",
    "хочу развестись",
    "алименты как получить",
    "жена ушла с детьми",
    "Xotinim bilan urishib qoldik",
    "поругались с женой",
    "сосед шумит ночью",
    "qo'shni bilan janjal",
    "qo'shnim urishadi har kuni xotini bilan",
    "соседи дерутся за стенкой",
    "Помогите пожалуйста срочно нужен номер консульства",
    "tez yordam raqami",
    "скорую вызвать как",
    "103",
    "политсия номер",
    "Вызвал полицию на соседа",
    "Хочу уехать домой навсегда",
    "uyga qaytish uchun nima kerak",
    "Туркияда визам тугади",
    "в Турции забрали в депорт центр",
    "Koreyada vizam tugadi",
    "онам мени уришди",
    "Onam urishdi",
    "Ayam urishyapti uyga kel deb",
    "пиши мне на вотсап",
    "Shu botni kim qilgan",
    "бот не работает",
    "кнопка не нажимается",
    "ishxonada qulflab ketishdi telefonimni shkafda",
    "Менга ёрдам беринг регистрация",
    "Мени ишга олишмаяпти",
    "меня не берут на работу",
    "Meni ishga olishmadi",
    "ishga chiqolmayapman kasalman",
    "не могу выйти на работу заболел",
    "chiqolmayapman ishdan pul bermasa",
    "Rossiyadan chiqolmayapman sud bor",
    "Uzbekistonga chiqolmayapman",
    "kasal bo'lib ishga chiqolmadim",
    "bugun ishga chiqolmayman",
    "ишга чиқолмаяпман касалман",
    "ertaga ishga chiqolmayman isitmam bor",
    "цены бьют по карману",
    "бьют рекорды цены на билеты",
    "эта работа меня убивает",
    "бу иш мени ўлдиради",
    "charchoq meni o'ldiryapti",
    "я сбежал с урока",
    "мы убежали с работы пораньше",
]

# Messages of danger: each must open the urgent path.
MUST_OPEN = [
    # violence
    "Erim meni uryapti",
    "erim urvotti yordam",
    "Эрим мени уряпти",
    "эрим мени урди бошим ёрилди",
    "муж бьёт",
    "муж меня избил",
    "меня избили на работе",
    "хозяин бьет нас",
    "бригадир ударил меня",
    "Xo'jayin bizni kaltaklayapti",
    "хужайин калтаклади",
    "meni kaltaklashdi",
    "бизни калтаклашяпти",
    "меня бьют",
    "Нас бьют каждый день",
    "xojayin urdi",
    "Меня побили скинхеды",
    "Erim pichoq bilan qo'rqityapti",
    "Meni qo'rqityapti",
    "o'ldiraman deb qo'rqitdi",
    "угрожают расправой",
    "муж угрожает ножом",
    "мне угрожают убить",
    "хозяин сказал убьет если уйду",
    "meni o'ldiraman deyapti",
    "Erim meni o'ldiradi",
    "эрим мени улдиради",
    "Meni o'ldirishadi",
    "меня хотят убить",
    # confinement
    "Meni uydan chiqarmayapti",
    "Мени уйдан чиқармаяпти",
    "нас закрыли в подвале",
    "меня заперли",
    "заперли в квартире",
    "Меня держат в доме не выпускают",
    "bizni omborda qamab qo'yishdi",
    "meni xonada qamab qoyishdi",
    "не выпускают из общежития",
    "меня не выпускают из дома",
    "Bizni podvalda qamab qo'ygan chiqolmayapmiz",
    "eshikni qulflab ketdi chiqolmayapman",
    "закрыли нас на складе",
    "сидим взаперти",
    "меня тут держат",
    "нас здесь держат",
    "меня хозяин закрыл",
    "нас тут закрыли",
    "меня в комнате держат",
    "меня хозяин держит в подвале",
    "меня насильно держат",
    "bizni bu yerda ushlab turishibdi",
    # passport with threats
    "Паспорт забрали и угрожают мне",
    "pasportimni olib qo'yishdi ketsang o'ldiramiz deyapti",
    "паспорт забрали не отпускают",
    "pasportimni berishmayapti qochsam politsiyaga topshiramiz deyapti",
    # trafficking
    "Нас продали",
    "meni sotib yuborishdi",
    "Меня продали хозяину",
    "bizni sotishdi",
    "мени сотиб юборишди",
    "нас привезли и держат",
    "Meni qul qilib ishlatishyapti",
    # sexual harassment / violence
    "хозяин пристает ко мне",
    "xo'jayin shilqimlik qilyapti",
    "меня изнасиловали",
    "meni zo'rlashdi",
    "мени зўрлашди",
    "мени зурлашди",
    "хозяин домогается",
    "начальник хочет чтобы я с ним спала иначе уволит",
    "xojayin menga tegajoqlik qilyapti",
    # forced labour
    "Bizni majburan ishlatishyapti",
    "принуждают работать без денег",
    "заставляют работать силой",
    "мажбурлаб ишлатишяпти",
    # kidnapping
    "Meni o'g'irlab ketishdi",
    "меня похитили",
    "Ukamni o'g'irlab ketishdi",
    "Bolamni o'g'irlab ketishdi",
    "ребенка украли",
    "дочку украли",
    "брата похитили",
    "Меня увезли в лес",
    "мени угирлаб кетишди",
    # suicidal thoughts
    "O'zimni o'ldirmoqchiman",
    "жить не хочу",
    "хочу покончить с собой",
    "ўзимни ўлдираман",
    "yashagim kelmayapti",
    "o'zimni o'ldiraman",
    "покончу с собой",
    "не хочу жить",
    "суицид",
    "Hammasi tugadi o'zimni osaman",
    "хочу умереть",
    # child in danger
    "Bolamni urishyapti",
    "ребенка бьют",
    "Боламни олиб кетишди",
    "ребенка похитили",
    "qizimni o'g'irlab ketishdi",
    "Отчим бьёт дочку",
    "Bolamni erim uryapti",
    # escape / calls
    "Qochib ketdim yordam bering",
    "я сбежала",
    "qutqaring",
    "спасите",
    "SOS",
    "помогите",
    "Yordam bering",
    "ёрдам беринг",
    "ердам беринг",
]

# Near variants of the reviewer's misses, by the same rules.
MORE_DANGER = [
    # suicide
    "o'zimni o'ldirib qo'yaman",
    "joniga qasd qilmoqchiman",
    "o'z joniga qasd qilaman",
    "ўзимни осаман",
    "tomirimni kesaman",
    "venamni kesaman",
    "o'lgim kelyapti",
    "убью себя",
    "повешусь",
    "наложу на себя руки",
    "вскрою вены",
    "вены вскрою",
    "думаю о самоубийстве",
    # a child or relative taken away
    "o'g'limni o'g'irlab ketishdi",
    "сына украли",
    "ребенка увезли силой",
    "дочку забрали силой",
    # held, with words between
    "Помогите, меня хозяин держит в подвале",
    "меня тут держат, не выпускают",
    "меня хозяин закрыл в комнате",
    "нас закрыли и держат",
    # threats
    "xo'jayin meni qo'rqityapti",
    "угрожают расправой если уйду",
    "qochsang o'ldiramiz",
    "ketsang o'ldiraman dedi",
    # forced labour, coercion, killing said of a person
    "нас заставляют работать силой",
    "начальник требует переспать иначе уволит",
    "муж убивает меня",
    "помогите убивают",
    "отец убивает маму",
    "хозяин сказал убьёт если работа не будет сделана",
    "Erim meni o'ldiraman deb xabar yubordi",
    "Erim meni o'ldiradi",
    "эрим мени улдиради",
]
MORE_EVERYDAY = [
    # ways of speaking
    "умереть со смеху", "умираю хочу есть", "от скуки умру", "хочу умереть со смеху",
    "Bu xabar meni qo'rqitdi", "issiq meni o'ldiryapti", "цены убивают", "пробки убивают",
    "меня работа убивает", "нас держат в курсе", "O'zimni osoyishta his qilyapman",
    # things stolen, relatives taken to a hospital, a kindergarten, the police
    "телефон украли", "паспорт украли", "у меня украли паспорт", "у брата украли телефон",
    "бабушку увезли в больницу", "меня увезли в больницу", "сына забрали из садика",
    "Bolamni bog'chaga olib ketishdi", "onamni kasalxonaga olib ketishdi",
    # «меня … закрыли» that is no confinement
    "меня закрыли на 5 лет", "Фирму закрыли, меня уволили", "нас закрыли на карантин",
    "меня уволили и фирму закрыли", "меня бесит что магазин закрыли",
    "меня уже три раза закрыли на въезд",
    # leaving a job, with no threat
    "ishdan ketsam pulimni bermaydi deyapti", "ishdan ketsam hujjat topshirishim kerakmi",
]  # fmt: skip


@pytest.mark.parametrize("typed", MUST_OPEN + MORE_DANGER)
def test_danger_opens(typed: str) -> None:
    assert distress_language(typed) is not None


@pytest.mark.parametrize("typed", MUST_NOT_OPEN + MORE_EVERYDAY)
def test_everyday_does_not_open(typed: str) -> None:
    assert distress_language(typed) is None


@pytest.mark.parametrize(
    ("typed", "language"),
    [
        ("O'zimni o'ldirmoqchiman", "uz_Latn"), ("ўзимни ўлдираман", "uz_Cyrl"),
        ("хочу покончить с собой", "ru"), ("Bolamni o'g'irlab ketishdi", "uz_Latn"),
        ("Erim pichoq bilan qo'rqityapti", "uz_Latn"), ("меня хозяин закрыл", "ru"),
    ],
)  # fmt: skip
def test_the_words_tell_the_language(typed: str, language: str) -> None:
    assert distress_language(typed) == language


AT_THE_MENU = [
    ("uz_Latn", "O'zimni o'ldirmoqchiman"), ("ru", "хочу покончить с собой"),
    ("uz_Latn", "Bolamni o'g'irlab ketishdi"), ("ru", "меня тут держат"),
    ("uz_Latn", "Erim pichoq bilan qo'rqityapti"), ("ru", "меня хозяин закрыл"),
]  # fmt: skip
EVERYDAY_AT_THE_MENU = [
    ("uz_Latn", "ishga chiqolmayapman kasalman"), ("ru", "жара убивает"),
    ("uz_Cyrl", "бу иш мени ўлдиради"), ("ru", "цены бьют по карману"),
    ("ru", "я сбежал с урока"),
]  # fmt: skip


@pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)
@pytest.mark.parametrize(("locale", "typed"), AT_THE_MENU)
async def test_danger_at_the_menu_opens_an_urgent_case(
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


@pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)
@pytest.mark.parametrize(("locale", "typed"), EVERYDAY_AT_THE_MENU)
async def test_everyday_at_the_menu_opens_nothing(
    telegram: TelegramHarness, locale: str, typed: str
) -> None:
    app = telegram.app
    await reach(telegram, "menu", locale)
    reply = await telegram.say(ALICE, typed)
    translator = app.catalogs.translator(locale)
    consulates = app.engine.journey_settings.consulates
    assert not reply["text"].startswith(emergency_contacts(translator, None, consulates))
    assert await telegram.count(HelpCase) == 0
