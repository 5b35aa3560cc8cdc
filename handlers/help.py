"""Help: a request to the consulate's operators, and the open request's screen.

First the person says what happened (triage). "I am in danger now" gets the emergency numbers
for their country and an urgent case in the very first reply; only then, and only if they
can, their country, location and a few words are asked — each added to the case at once.
Any other reason: a short description, optionally the location and photos, then a case with a
number in the operators' queue. Words under a file sent on any of these screens (the triage
too) are kept with it, in the description: many tell the whole story there.

A closed request can be reopened for CASE_REOPEN_DAYS: the Help screen offers it for the latest
one (and a typed HR-… number shows a closed request with that offer); reopening puts it back
in the operators' queue and shows its screen again. After that time, the person is told so
and asked what happened, for a new request.

While a case is open, the Help screen is that case: whatever the person sends (text, photos,
documents, voice, location) is added to it, until they leave for the menu or close it. Its
options are listed (numbered on WhatsApp, where the number is the only way to pick one), so a
lone number of a listed option picks it — «1» is «I am in danger now» — and any other number
is a message for the operator. Once an operator has written, the person's next message is
their answer (services.staff moves their conversation to the REPLY screen when the operator's
message goes out): that screen lists no options, so «3» answers "how many of you are there?";
«SOS» and «menu» work there as everywhere.

A case a missed safety check-in opened is urgent for the operators only: its screen calls it
«Opened by the consulate» (never «I am in danger now», which the person did not say and whoever
holds the phone may read) and does not say it is urgent, so the person's own «SOS» marks it
urgent like any other request (the staff group hears it) and asks where they are.

Words of distress are this module's (DANGER_CALLS, HARM_WORDS, PLEA_WORDS; onboarding reads
them too). A call for rescue typed alone («SOS», «Я в опасности») opens the urgent path from
any screen. Where the question asked takes none of the person's own words (the main menu, a
survey's question, a form's options), words of danger anywhere in a message («меня бьют»,
«bizni qamab qoʻyishdi») open it too, with the message kept for the operator, and a plea that
is the whole message («Помогите!», «Yordam bering», «help») shows the Help screen, or joins
the open request. On free-text screens (an appeal's text, an answer to an operator) they are
the person's words, and the check-in's «Are you safe?» answers them itself.

Without a staff group (settings.staff_enabled false) requests are kept, but nobody answers in
the chat: the person is told so and given the emergency contacts, and the urgent path asks
only the country (for its numbers).

What the journey collects before a case exists (a draft) stays in the conversation's answers
(encrypted) until it is sent or cancelled, so leaving for the menu loses nothing.
"""

import functools
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from babel.dates import format_datetime

from handlers.conversation import (
    WAITING_QUESTION,
    Answer,
    Context,
    Go,
    GoHome,
    Journey,
    Outcome,
    Question,
    Repeat,
    listed_pick,
)
from handlers.incoming import Incoming, Kind
from handlers.pickers import CountryPicker
from models import CaseStatus, HelpCase, HelpReason
from services import checkins, references
from services.appeals import NewAttachment
from services.contacts import emergency_contacts
from services.help_cases import (
    DESCRIPTION_LIMIT,
    PERSON,
    REASON_LABELS,
    STATUS_LABELS,
    add_person_location,
    add_person_message,
    can_reopen,
    case_of_person,
    close_case,
    last_case_of,
    mark_urgent,
    mark_urgent_for_operators,
    open_case,
    open_case_of,
    person_marked_urgent,
    reason_for_person,
    reopen_case,
    set_case_country,
)
from services.i18n import N_
from services.local_time import zone_of
from services.messages import Choice
from services.staff import ANSWER_SCREEN
from services.text import clean_text, match_key, parse_number, word_key

log = logging.getLogger(__name__)

journey = Journey("help", first_step="start", needs_consent=True, prompts_wait=True)

# Steps.
START, DESCRIBE, PLACE, FILES, CLOSE = "start", "describe", "place", "files", "close"
CLOSED = "closed"  # one closed request, opened by its typed number
REPLY = ANSWER_SCREEN[1]  # the open request, after an operator wrote: answers only
DANGER_COUNTRY, DANGER_PLACE, DANGER_DESCRIBE = "danger_country", "danger_place", "danger_describe"
DRAFT_STEPS = (DESCRIBE, PLACE, FILES)

# Choice ids (the reasons use HelpReason's values).
DANGER = HelpReason.DANGER.value
CLOSE_CASE, LEAVE = "close", "leave"
CLOSE_YES, CLOSE_NO = "close_yes", "close_no"
SKIP, DONE, KEEP, CONTINUE = "skip", "done", "keep", "continue"
REOPEN_PREFIX, NEW = "reopen:", "new"  # "reopen:HR-2026-000123"

# Notes for the next showing of the first step.
NOTE = "note"
NOTE_ADDED, NOTE_OPENED, NOTE_CLOSED = "added", "opened", "closed"
NOTE_FRESH = "fresh"  # the person chose a new request: no offer to reopen the old one
VIEWING = "viewing"  # the closed request shown by the CLOSED step (its number)

# What a person's message to their request can be (anything else gets a hint).
KEPT_KINDS = frozenset({Kind.TEXT, Kind.MEDIA, Kind.LOCATION, Kind.CONTACT})
PLACE_LIMIT = 500  # a typed address or landmark
MAX_FILES = 10  # per draft; more can be sent once the case is open
QUOTE_LIMIT = 200  # how much of a kept description is shown back
KEPT_TEXT_MIN = 20  # text this long typed instead of a choice is kept as a description
# Files kept with a request or added to a case (stickers and animations are not).
KEPT_MEDIA = frozenset({"photo", "document", "voice", "audio", "video", "video_note"})
SPOKEN = frozenset({"voice", "audio", "video_note"})  # a description in the person's voice

# -- words of distress, for the whole chat (handlers/onboarding.py too) ----------------------
# By the language they tell ("" for none: the same in every language). match_key folds
# Uzbek's two scripts and every apostrophe into one form: the letters typed tell the script.
#
# Calls for rescue. Typed alone they open the urgent path on every screen, a message to an
# operator too («SOS»); anywhere in a message where the person's own words are not asked for.
DANGER_CALLS: dict[str, tuple[str, ...]] = {
    "uz": (
        "xavf ostidaman", "men xavf ostidaman", "men hozir xavf ostidaman", "xavfdaman",
        "men xavfdaman", "xavf ostidamiz", "qutqaring", "qutqaringlar",
        "xavf yoʻq emas",  # «it is not that there is no danger»
    ),
    "ru": (
        "спасите", "в опасности", "я в опасности", "я сейчас в опасности",
        "мне угрожает опасность", "опасность не миновала",
        # As often typed.
        "в опастности", "я в опастности", "я сейчас в опастности",
    ),
    "": ("sos", "in danger"),
}  # fmt: skip
# The bare noun «danger»: a call only as a clause of its own («Опасность!», «Xavf, qutqaring»).
# In a sentence it is mostly a question about a risk («Есть ли опасность депортации?»,
# «Patentsiz ishlasam xavf bormi?»), for an ordinary request.
CALL_NOUNS: dict[str, tuple[str, ...]] = {"uz": ("xavf",), "ru": ("опасность", "опастность")}
# Calls said in the negative, which tell the opposite: «Я не в опасности», «Xavf yoʻq»,
# «xavf ostida emasman», «опасность миновала». Not the words of harm: «меня не бьют, но…» is
# read as it reads, and a call elsewhere in the message still counts («xavf yoʻq, qutqaring»).
NEGATED_CALLS: tuple[str, ...] = (
    "xavf yoʻq", "xavf yoʻqdir", "xavf ostida emas", "xavf ostida emasman", "xavf ostida emasmiz",
    "xavf oʻtdi", "xavf oʻtib ketdi", "xavf tugadi",
    "не в опасности", "не в опастности", "не угрожает опасность", "не угрожает никакая опасность",
    "опасность миновала", "опасность позади", "опасность прошла",
    "not in danger", "no longer in danger", "not in any danger",
)  # fmt: skip
# What is being done to them: anywhere in a message where the person's own words are not
# asked for (in a message to an operator or an appeal's text they are what it tells; there
# they make the request urgent for the operators: _add_to_case). As words of their own,
# within one clause (_CLAUSE_BREAK: «Фирму закрыли, меня уволили» is two); a word ending in
# «*» is any word that begins so («избива*»: избивает, избивала, избивают), used where no
# everyday word begins so. Uzbek typed on a Russian keyboard has к for қ and у for ў: «камаб
# куйди» is «qamab qoʻydi» (_harm_key, _typed_forms).
#
# «urmoq» (beat) as conjugated and as spoken («urvotti», «urvotishdi»: uryapti, urishyapti).
STRIKES = (
    "uradi", "uradilar", "urdi", "uryapti", "uryaptilar", "urayapti", "urishyapti",
    "urishyaptilar", "urishdi", "urishishdi", "urvot*",
)  # fmt: skip
# «urmoq» (beat) and «urishmoq» (scold, quarrel) share these forms: with a parent as the one
# who does it («Onam meni urishdi») it is a scolding (HARMLESS_BESIDE); with «xoʻjayin» or
# «erim» it is read as a beating, as the person most likely means it.
SCOLDS = ("urishdi", "urishishdi", "urishyapti", "urishyaptilar", "urishadi")
PARENTS = (
    "onam", "onamlar", "onajonim", "oyim", "oyijonim", "ayam", "otam", "otamlar", "otajonim",
    "dadam", "dadamlar", "dadajonim", "ota onam", "ota onamlar", "mamam", "papam",
)  # fmt: skip
# Harassment: «пристаёт» (not «пристав», a bailiff), «shilqimlik qilyapti».
HARASSMENT = {
    "uz": ("shilqimlik*", "tegajoqlik*"),
    "ru": ("пристаё*", "пристае*", "пристаю*", "пристаи*", "приставал*", "приставать", "домога*"),
}
# An escape, in the first person only: «Ishchim qochib ketdi» is an employer asking about a
# worker, «Работодатель сбежал» one who left without paying.
ESCAPED = {
    "uz": (
        "qochib ketdim", "qochib ketdik", "qochib kettim", "qochib kettik", "qochib chiqdim",
        "qochib chiqdik", "qochib qutuldim", "qochib qutuldik", "qochdim", "qochdik",
        "qochib keldim", "qochib keldik", "qochmoqchiman", "qochmoqchimiz",
        "qochib ketmoqchiman", "qochib ketmoqchimiz", "qochib ketyapman", "qochib ketyapmiz",
    ),
    "ru": (
        "я сбежал*", "я убежал*", "мы сбежали", "мы убежали", "удалось сбежать",
        "удалось убежать", "хочу сбежать", "хочу убежать", "хотим сбежать", "хотим убежать",
        "помогите сбежать", "помогите убежать",
    ),
}  # fmt: skip
# An escape that is a lesson skipped or work left early: «я сбежал с урока», «мы убежали с
# работы пораньше», «сбежал от скуки в кино».
TRUANCY = ("с урок*", "с пар*", "со школ*", "с лекци*", "пораньше", "от скуки", "в кино")
# Locked up herself, told in the first person: «Men qamaldim». «Akam qamaldi» is a relative
# detained, an ordinary request; «qamalganman» most often a past term.
LOCKED_UP = ("qamaldim", "qamaldik")
# Thoughts of suicide, in the first person: «Oʻzimni oʻldirmoqchiman», «жить не хочу».
SELF_HARM = {
    "uz": (
        # «oʻzimni os-» (hang myself) in its forms: «oʻzimni osoyishta his qilaman» is calm.
        "oʻzimni oʻldir*", "oʻzimni osaman", "oʻzimni osib", "oʻzimni osmoqchi*",
        "oʻzimni osay*", "oʻzimni osdim", "oʻzimga qasd*", "joniga qasd*", "jonimga qasd*",
        "oʻz joniga qasd*", "yashagim kelmay*", "yashagim kelmadi", "yashashni xohlamay*",
        "yashashdan charchadim", "tomirimni kes*", "venamni kes*", "oʻlgim kel*",
        "oʻlmoqchiman",
    ),
    "ru": (
        "жить не хочу", "жить не хочется", "не хочу жить", "не хочется жить", "хочу умереть",
        "хочется умереть", "покончу с собой", "покончить с собой", "покончить с жизнью",
        "покончу с жизнью", "суицид*", "самоубийств*", "убью себя", "убить себя", "убьюсь",
        "повешусь", "повеситься", "наложу на себя руки", "наложить на себя руки", "вскрою вены",
        "вскрыть вены", "вены вскрою", "вскрою себе вены", "порежу вены", "вены порежу",
    ),
}  # fmt: skip
# «хочу умереть со смеху», «от скуки умру»: a way of speaking.
LAUGHING = ("со смеху", "от смеха", "от скуки")
HARM_WORDS: dict[str, tuple[str, ...]] = {
    "uz": (
        *STRIKES, "kaltakla*", "doʻpposla*", "zoʻrla*", "oʻldirishadi", *HARASSMENT["uz"],
        *ESCAPED["uz"], *LOCKED_UP, "ishlashga majburla*", "ishga majburla*", *SELF_HARM["uz"],
    ),
    "ru": (
        "бьёт", "бьет", "бьют", "избива*", "избева*", "избил*", "избит*", "запер", "заперла",
        "заперли", "заперт*", "взаперти", "насилие", "насилует", "насилуют", "насиловал*",
        "изнасил*", "похитил*", "убьёт", "убьет", "убьют", "убью", "убить", "убива*",
        *HARASSMENT["ru"], *ESCAPED["ru"], *SELF_HARM["ru"],
    ),
}  # fmt: skip
# What a stem above takes that tells no harm: «zoʻrlab» is «by force» («zoʻrlab
# imzolatishdi»: made to sign, a question for an appeal), as «насильно» is; «заперто» is a
# door or an office («Консульство было заперто»), never a person.
NOT_HARM_FORMS = ("zoʻrlab", "заперто")
# Set phrases made with a word of harm: «бьют тревогу» (raise the alarm), «убить время».
# «бьют по карману», «бьют рекорды», «часы бьют», «убить готов за плов», «держат в курсе».
BEATS = ("бьют", "бьёт", "бьет")
IDIOMS = (
    *(
        f"{beats} {what}"
        for beats in BEATS
        for what in ("тревог*", "по карман*", "по кошел*", "по зарплат*", "по бюджет*", "рекорд*")
    ),
    *(f"{what} {beats}" for beats in BEATS for what in ("рекорд*", "часы")),
    "уби* время", "время уби*", "убить готов*", "готов* убить за", "держ* в курсе",
)  # fmt: skip
# Words that tell of harm only with «меня»/«нас» («meni»/«bizni») as their object: «закрыли»
# alone is more often the consulate or a shop, and «у меня закрыли счёт» is a bank (a pronoun
# after a preposition is no object). Russian has it just before the verb, or just after it
# (after «закрыли» only where the clause ends there or a place follows, THEM_THEN: «закрыли
# меня в комнате», not «закрыли меня не предупредив»); Uzbek up to two words before («erim
# meni albatta oʻldiradi»). «oʻldir-» (kill) typed without its ʻ is «oldir-» (have something
# taken: «rasm oldirdim»), hence only with «meni».
# «urishadi» is also «they quarrel», «urib ketdi» also «hit by a car» («Ukamni mashina urib
# ketdi»), «sotdi» any sale («Mashinamni sotdi»), «держат» and «продали» things too; with
# «meni»/«меня» they are a beating, a person held or sold (trafficking's own words). «qamab
# qoʻy-» of a relative is a detention («Akamni politsiya qamab qoʻydi»), an ordinary request:
# harm with «meni» or a home place (LOCKED_IN); so are «qamashdi», «qulflab qoʻy-» (locked
# up) and «oʻgʻirlab ket-» (taken away: «Telefonimni oʻgʻirlab ketishdi» is a theft).
STRIKES_THEM = ("urishadi", "urib tashla*", "urib ket*")
HARM_TO_THEM: dict[str, tuple[str, ...]] = {
    "uz": (
        *STRIKES_THEM, "qamab qoʻy*", "sotib yubor*", "sotishdi", "sotdi", "qoʻyib yubormay*",
        "qoʻyib yuborishmay*", "oʻldir*", "qamashdi", "qamadi", "qamab ket*", "qulflab qoʻy*",
        "qulflab ket*", "oʻgʻirlab ket*", "oʻgʻirlashdi", "oʻgʻirladi", "ushlab tur*",
    ),
    "ru": (
        "закрыли", "закрыл", "закрыла", "закрыва*", "побили", "побил", "побила", "ударил*",
        "били", "бил", "била", "держат", "держит", "держали", "продали", "продал", "продала",
        "зарез*", "зареж*", "увезли", "увёз", "увез",
    ),
}  # fmt: skip
THEM = {"uz": ("meni", "mani", "bizni", "bizi"), "ru": ("меня", "нас")}
# How many words may stand between the object and the verb: in Russian only with the verb
# ending the clause or a place after it (_them_near: «меня хозяин закрыл», «меня тут держат»).
THEM_BEFORE = {"uz": 2, "ru": 3}
# Words that end what «меня … закрыли» may have between: «меня бесит, что магазин закрыли».
NOT_BETWEEN = ("что", "чтобы", "а", "но", "когда", "если", "потому", "ли", "или", "где", "как")
# A threat: with «мне»/«нам» next to it («мне угрожают») or a weapon in the clause («угрожает
# ножом»). «угрожает» alone is as often a penalty (HARMLESS_BESIDE).
# Uzbek «qoʻrqit-» (frighten, threaten): with «meni»/«bizni» or a weapon or a word of killing
# in the clause («Erim pichoq bilan qoʻrqityapti», «oʻldiraman deb qoʻrqitdi»).
THREATS: dict[str, tuple[str, ...]] = {"ru": ("угрожа*",), "uz": ("qoʻrqit*", "poʻpisa*")}
TO_THEM = {"ru": ("мне", "нам"), "uz": ("meni", "mani", "bizni", "bizi")}
WEAPONS = (
    "нож*", "пистолет*", "оружи*", "ствол*", "топор*", "расправ*", "смерт*", "убийств*",
    "pichoq*", "qurol*", "bolta*", "oʻldir*",
)  # fmt: skip
# «Leave and we kill you»: leaving or fleeing as a condition («ketsang», «qochsam») with what
# will be done then, in the clause («ketsang oʻldiramiz», «qochsam politsiyaga topshiramiz»).
IF_YOU_LEAVE = {"uz": ("ketsa*", "qochsa*")}
THEN_HARM = (
    "oʻldir*", "politsiyaga topshir*", "militsiyaga topshir*", "urib", "uraman", "uramiz",
    "qamataman", "qamatamiz", "soʻyaman", "soʻyamiz",
)  # fmt: skip
# A child or a relative taken away («Bolamni oʻgʻirlab ketishdi», «ребенка украли», «сына
# увезли силой»), or they themselves («Меня увезли в лес»: HARM_TO_THEM); not the passport or
# the phone (HARMLESS_BESIDE), nor to a hospital, the police or work (TAKEN_NOT_HARM).
KIN = (
    "bolamni", "bolalarimni", "farzandimni", "qizimni", "oʻgʻlimni", "ukamni", "singlimni",
    "akamni", "opamni", "xotinimni", "erimni", "onamni", "otamni",
    "ребенка", "ребёнка", "детей", "дочку", "дочь", "сына", "сестру", "брата", "жену", "мужа",
    "маму", "мать", "отца", "внука", "внучку",
)  # fmt: skip
TAKEN_AWAY = {
    "uz": ("oʻgʻirlab ket*", "oʻgʻirlashdi", "oʻgʻirladi", "olib ketishdi", "olib qoch*"),
    "ru": (
        "украл*", "увезли силой", "забрали силой", "силой увезли", "силой забрали",
        "насильно увезли", "насильно забрали",
    ),
}  # fmt: skip
# Not a danger beside a word of taking away: a hospital, the police, things.
TAKEN_NOT_HARM = (
    "больниц*", "скор*", "полици*", "kasalxona*", "shifoxona*", "tez yordam*", "politsiya*",
    "militsiya*", "bolnitsa*", "bogʻcha*", "maktab*", "uyga", "uyiga", "отдел*", "аэропорт*",
    "вокзал*", "домой", "на работу", "на объект*", "в суд", "депорт*", "спецпри*",
)  # fmt: skip
# Sex demanded by a boss, under a threat: «хочет, чтобы я с ним спала, иначе уволит».
SEX_DEMANDED = {"ru": ("с ним спала", "с ним спать", "спала с ним", "спать с ним", "переспа*")}
UNDER_THREAT = ("иначе", "а то", "уволит", "уволю", "не заплат*", "заставля*", "требует")
# Hyperbole: a kill said of what is no one («жара убивает», «Bu navbat meni oʻldiradi»).
KILLS = ("убива*", "убьёт", "убьет", "убьют", "убью", "oʻldir*")
NO_ONE = (
    "жара", "очередь", "очереди", "эта работа", "такая работа", "работа меня", "работа убива*",
    "интернет", "цены", "скука", "пробки", "учеба", "учёба", "холод", "погода", "шучу", "шутка",
    "шутя",
    "navbat*", "bu ish", "shu ish", "ishim", "charchoq*", "issiq*", "sovuq*", "narx*",
    "tirband*", "probka*", "hazil*",
)  # fmt: skip
# «Bu xabar meni qoʻrqitdi»: news that frightens.
NEWS = ("xabar*", "yangilik*", "kino*", "film*")
CLOSING = ("закрыли", "закрыл", "закрыла", "закрыва*")
THEM_THEN = ("в", "во", "на", "у", "по", "и")  # after «закрыли меня»: a place, or «and»
PREPOSITIONS = (
    "у", "от", "для", "без", "с", "со", "про", "к", "ко", "кроме", "около", "возле", "до",
    "после", "из", "на", "за", "в", "во", "о", "обо", "при", "через",
)  # fmt: skip
# «Not let out»: harm where it is the person who is held. «меня не выпускают за границу» is
# an exit ban, a legal question for an ordinary request, which the police numbers do not help
# with; «не отпускают в отпуск», «не отпустили на похороны» are about leave. Such words
# (LEAVING, anywhere in the clause; «из-за» only with «выпускать», the exit ban's verb: «не
# отпускают из-за долгов» is an employer's hold) make it no harm, unless the clause names
# where the person is held (HELD_IN: «не выпускают из дома из-за долгов»).
NOT_LET_OUT: dict[str, tuple[str, ...]] = {
    "ru": ("не выпуска*", "не выпуст*", "не отпуска*", "не отпуст*"),
    # «eshikni qulflab ketdi, chiqolmayapman», «chiqa olmayapman», «uydan chiqolmadim»
    "uz": ("chiqolma*", "chiqa olma*", "chiqib ketolma*", "chiqib keta olma*"),
}
# «Can't get out» said by the person: Russian only with a door, a lock or a key anywhere in the
# message (LOCKS: «Не могу выйти, двери закрыты»); «не могу выйти на работу / замуж / из
# гражданства» are a sick day, a marriage, a citizenship (HARMLESS_BESIDE).
CANNOT_GET_OUT = {
    "ru": (
        "не мог* вый*", "не мож* вый*", "немог* вый*", "немож* вый*", "ни мог* вый*",
        "ни мож* вый*", "вый* не мог*", "вый* не мож*", "не мог* выбрат*", "не мож* выбрат*",
        "не дают вый*", "не мог* выти",
    ),
}  # fmt: skip
LOCKS = ("двер*", "замок", "замке", "замком", "замкн*", "ключ*", "снаружи", "заперт*", "заперто")
LEAVING = (
    "за границу", "за границей", "за рубеж", "на границе", "через границу", "на выезд",
    "из россии", "из рф", "из страны", "из казахстана", "из турции", "из кореи",
    "из узбекистана", "в отпуск", "на отпуск", "на похороны", "на свадьбу", "на рейс",
    "в самолёт", "в самолет", "в аэропорту", "из аэропорта", "на больничный", "в декрет",
    "на выходной",
    "карт*",  # «Банк не выпускает карту»
    # Uzbek, for «chiqolmay-» (cannot get out): «Rossiyadan chiqolmayapman» is an exit ban,
    # «ishdan chiqolmayapman» a job she cannot quit.
    "rossiya*", "rfdan", "qozogʻiston*", "turkiya*", "koreya*", "oʻzbekiston*", "vatan*",
    "chegara*", "chet elga", "xorij*", "davlatdan", "mamlakatdan", "aeroport*", "samolyot*",
    "reys*", "roʻyxat*", "ishdan",
    "ishga",  # «ishga chiqolmayapman»: going out to work, a sick day
)  # fmt: skip
EXIT_BAN = {"не выпуска*": ("из-за",), "не выпуст*": ("из-за",)}
HELD_IN = (
    "из дома", "из квартиры", "из комнаты", "из общежития", "из общаги", "из подвала",
    "со склада", "uydan", "uyimdan", "xonadan", "xonamdan", "kvartiradan", "ombordan",
    "podvaldan", "yertoʻladan",
)  # fmt: skip
# Uzbek «not let out» (chiqarmay-): «meni»/«bizni» just before, with nothing between but the
# room or house they are kept in («Meni uydan chiqarmayapti», «Uydan meni chiqarmayapti»):
# «meni roʻyxatdan chiqarmayapti» is a landlord who will not de-register her, «meni ishdan
# chiqarishmayapti» an employer who will not let her quit.
LET_OUT_OF: dict[str, tuple[str, ...]] = {"uz": ("chiqarmay*", "chiqarishmay*")}
KEPT_IN = (
    "uydan", "uyimdan", "uyidan", "uyimizdan", "xonadan", "xonamdan", "xonasidan",
    "kvartiradan", "kvartiramdan", "ishxonadan", "ombordan", "podvaldan", "yertoʻladan",
    "tashqariga", "koʻchaga", "hech", "qayerga",
)  # fmt: skip
# «qamalib qol-» is «be locked in» and «get stuck» («Aeroportda qamalib qoldim»): harm only
# with a home or a room in the clause («Uyda qamalib qoldim»); so is «qamab qoʻy-» without
# «meni» («Uyda qamab qoʻyishdi»).
LOCKED_IN: dict[str, tuple[str, ...]] = {"uz": ("qamalib qol*", "qamab qoʻy*")}
LOCKED_IN_PLACES = (
    "uyda", "uyimda", "uyida", "uyimizda", "xonada", "xonamda", "xonasida", "kvartirada",
    "kvartiramda", "omborda", "podvalda", "yertoʻlada", "ichkarida",
)  # fmt: skip
# Forced labour: a word of force with a word of work of its language in the clause
# («Majburan ishlatishyapti», «нас принуждают работать»; «ishlashga majburla-» is in
# HARM_WORDS). «majburiy» is «mandatory» («majburiy sugʻurta»), «majburan ishlayapman» working
# unwillingly, for the money: not «ishlat-» (be made to work); «принудительные работы» a
# court's sentence, «Работодатель принуждает уволиться» no work forced.
FORCED_TO_WORK = {
    "uz": ("majburan", "majburla*", "zoʻrlab", "zoʻrlik*", "kuch bilan", "qul qilib"),
    "ru": ("принужда*", "принудил*", "насильно", "силой"),
}
MADE_TO_WORK = {
    "uz": ("ishlat*",),
    "ru": ("работат*", "работаю*", "работаем", "работал*", "к работе", "к труду", "трудит*"),
}
QUARANTINE = ("карантин*", "самоизоляц*", "обсерватор*")
LONG_AGO = ("назад", "# год*", "# лет", "в # году", "yil*", "oldin", "avval", "ilgari", "yoshimda")
# Words of harm that tell none beside these words in their clause. «#» is any number.
HARMLESS_BESIDE: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    # «Меня закрыли на 5 лет», «меня закрыли в базе»: an entry ban, as it is said.
    (CLOSING, ("въезд*", "базе", "базу", "запрет*", "на # лет", "на # год*")),
    # «pechatini urishdi», «muhr urdi»: a stamp put; «tok urdi»: an electric shock;
    # «yuragim uryapti»: a heartbeat.
    (
        STRIKES + STRIKES_THEM,
        ("pechat*", "shtamp*", "muhr*", "tamgʻa*", "tok", "yurak*", "yurag*"),
    ),
    # «У меня похитили паспорт»: a theft, for a new passport.
    (
        ("похитил*",),
        ("паспорт*", "документ*", "деньги", "денег", "телефон*", "карт*", "сумк*", "кошел*"),
    ),
    (
        TAKEN_AWAY["ru"],
        ("паспорт*", "документ*", "деньги", "денег", "телефон*", "карт*", "сумк*", "кошел*"),
    ),
    # «Нас закрыли на карантин», «bizni karantinga qamab qoʻyishdi»: a quarantine.
    (
        (
            *CLOSING, "запер", "заперла", "заперли", "заперт*", "взаперти", *NOT_LET_OUT["ru"],
            *NOT_LET_OUT["uz"], *LOCKED_IN["uz"], *LOCKED_UP, "qamashdi", "qamadi",
        ),
        QUARANTINE,
    ),
    (TAKEN_AWAY["uz"] + TAKEN_AWAY["ru"] + ("увезли", "увёз", "увез"), TAKEN_NOT_HARM),
    (ESCAPED["ru"], TRUANCY),
    (SELF_HARM["ru"], LAUGHING),
    (KILLS, NO_ONE),
    (THREATS["uz"], NO_ONE + NEWS),
    # «Onam meni urishdi»: a parent's scolding.
    (SCOLDS, PARENTS),
    # «Коллекторы пристают по кредиту»: debt collectors.
    (HARASSMENT["ru"], ("коллектор*", "кредит*", "займ*", "микрозайм*")),
    # «2015 yilda qamaldim», «Я сбежала от мужа 2 года назад»: long ago, a question now.
    (LOCKED_UP + ESCAPED["uz"] + ESCAPED["ru"], LONG_AGO),
    # «Aeroportda qamaldim», «Men sudlanganman, qamaldim»: stuck on the way, a term served.
    (
        LOCKED_UP,
        ("sudlan*", "ozod*", "aeroport*", "reys*", "samolyot*", "vokzal*", "tirband*", "probka*"),
    ),
    # «Не могу выйти на связь, дверь офиса закрыта», «не могу выйти замуж».
    (
        CANNOT_GET_OUT["ru"],
        (
            "на связь", "на работу", "замуж*", "из гражданств*", "из аккаунт*", "из приложени*",
            "из профил*",
        ),
    ),
    # «Что мне угрожает за просрочку?», «Мне угрожает депортация?»: a penalty asked about.
    (
        THREATS["ru"],
        (
            "что мне", "что нам", "чем", "какой", "какая", "какое", "какие", "депортац*",
            "выдвор*", "штраф*", "запрет*", "суд*", "уголовн*", "ответственност*",
        ),
    ),
)  # fmt: skip
# A plea for help: only as the whole message, give or take the words in AROUND_A_PLEA. In a
# sentence it mostly asks for help with something («нужна помощь с регистрацией»,
# «roʻyxatdan oʻtishda yordam bering»): that person wants the menu, not the police numbers.
PLEA_WORDS: dict[str, tuple[str, ...]] = {
    "uz": (
        "yordam", "yordam kerak", "menga yordam kerak", "bizga yordam kerak", "yordam bering",
        "yordam beringlar", "menga yordam bering", "menga yordam beringlar",
        "bizga yordam bering", "bizga yordam beringlar", "yordam qiling", "yordam qilinglar",
        "menga yordam qiling", "menga yordam qilinglar", "yordam beringiz", "yordam ber",
    ),
    "ru": (
        "помогите", "помоги", "помогите мне", "помоги мне", "помогите нам", "помощь",
        "нужна помощь", "мне нужна помощь", "нам нужна помощь",
    ),
    "": ("help", "help me"),
}  # fmt: skip
# Uzbek typed on a Russian keyboard has е for ё: «ердам» (match_key: "yerdam") for «ёрдам».
PLEA_WORDS["uz"] += tuple(
    word.replace("yordam", "yerdam") for word in PLEA_WORDS["uz"] if "yordam" in word
)
AROUND_A_PLEA = (
    "assalomu alaykum", "assalomu aleykum", "salom", "iltimos", "tez", "tezda", "shoshilinch",
    "здравствуйте", "привет", "добрый день", "пожалуйста", "срочно", "скорее", "очень",
    "hello", "hi", "please", "urgent", "urgently",
)  # fmt: skip
# The calls, as the words of «I am in danger now» (and words no code word may be).
DANGER_WORDS = tuple(
    word for table in (DANGER_CALLS, CALL_NOUNS) for words in table.values() for word in words
)
# (language, words): the calls and pleas, whose words tell the language of a message.
_TONGUE_PHRASES = tuple(
    (tongue, tuple(match_key(word).split()))
    for table in (DANGER_CALLS, CALL_NOUNS, PLEA_WORDS)
    for tongue, words in table.items()
    for word in words
)
_TONGUE_PHRASES_BY_FIRST: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
for _tongue, _phrase in _TONGUE_PHRASES:
    _TONGUE_PHRASES_BY_FIRST.setdefault(_phrase[0], []).append((_tongue, _phrase))
_NEGATED_KEYS = tuple(
    sorted({match_key(phrase) for phrase in NEGATED_CALLS}, key=len, reverse=True)
)
# A negated call not followed by «emas»/«эмас» or «ли» (match_key's forms of them).
_NEGATED = re.compile(
    r" (?:" + "|".join(re.escape(phrase) for phrase in _NEGATED_KEYS) + r") (?!(?:emas|li) )"
)
_CALL_KEYS = frozenset(match_key(word) for words in DANGER_CALLS.values() for word in words)
_NOUN_KEYS = frozenset(match_key(word) for words in CALL_NOUNS.values() for word in words)


def _harm_key(word: str) -> str:
    """A word read for harm: match_key's form with к for қ (match_key's q), as Uzbek is
    often typed on a Russian keyboard."""
    return word.replace("q", "k")


def _typed_forms(phrase: str) -> tuple[str, ...]:
    """`phrase` and, where it has «oʻ», its form typed on a Russian keyboard, with у for ў
    («oʻldir*»: «улдир*», match_key's «uldir»)."""
    if "oʻ" not in phrase:
        return (phrase,)
    return (phrase, phrase.replace("oʻ", "u"))


# A word of a pattern: its key, and whether any word beginning so matches.
_Word = tuple[str, bool]
ANY_NUMBER = "#"  # in a pattern: any number typed in digits («на 5 лет»)


def _pattern(phrase: str) -> tuple[_Word, ...]:
    """The words of `phrase` as read for harm («из-за» is two: match_key drops its hyphen)."""
    words: list[_Word] = []
    for word in phrase.split():
        keys = [ANY_NUMBER] if word == ANY_NUMBER else _harm_key(match_key(word)).split()
        words += [(key, word.endswith("*") and at == len(keys) - 1) for at, key in enumerate(keys)]
    return tuple(words)


# What each table of the words of harm needs besides its words.
_ANYWHERE, _TO_THEM, _LET_OUT = "anywhere", "to_them", "let_out"
_OUT_OF, _LOCKED, _THREAT = "out_of", "locked", "threat"
_DOOR, _FORCED = "door", "forced"
_IF_LEAVE, _KIN, _COERCED = "if_leave", "kin", "coerced"
# (tongue, words, what else they need): each table of the words of harm, by its rule.
_HARM_PATTERNS: tuple[tuple[str, tuple[_Word, ...], str], ...] = tuple(
    (tongue, _pattern(form), rule)
    for table, rule in (
        (HARM_WORDS, _ANYWHERE), (HARM_TO_THEM, _TO_THEM), (NOT_LET_OUT, _LET_OUT),
        (LET_OUT_OF, _OUT_OF), (LOCKED_IN, _LOCKED), (THREATS, _THREAT),
        (CANNOT_GET_OUT, _DOOR), (FORCED_TO_WORK, _FORCED), (IF_YOU_LEAVE, _IF_LEAVE),
        (TAKEN_AWAY, _KIN), (SEX_DEMANDED, _COERCED),
    )
    for tongue, phrases in table.items()
    for phrase in phrases
    for form in _typed_forms(phrase)
)  # fmt: skip


# _HARM_PATTERNS by their first word, or by its first two letters where it is a stem: a clause
# is compared only with the patterns its words can begin (a pattern is tried where a word of
# the clause is its first word, or begins as its stem does; one starting with a number or a
# one-letter stem always).
_PREFIX = 2
_HARM_BY_WORD: dict[str, list[int]] = {}
_HARM_BY_PREFIX: dict[str, list[int]] = {}
_HARM_ALWAYS: list[int] = []
for _index, (_tongue, _words, _rule) in enumerate(_HARM_PATTERNS):
    _first, _stem = _words[0]
    if _first == ANY_NUMBER or (_stem and len(_first) < _PREFIX):
        _HARM_ALWAYS.append(_index)
    elif _stem:
        _HARM_BY_PREFIX.setdefault(_first[:_PREFIX], []).append(_index)
    else:
        _HARM_BY_WORD.setdefault(_first, []).append(_index)


def _harm_candidates(words: list[str]) -> list[tuple[str, tuple[_Word, ...], str]]:
    """The patterns of _HARM_PATTERNS that may be in the clause `words`, in their order."""
    chosen = set(_HARM_ALWAYS)
    for word in words:
        chosen.update(_HARM_BY_WORD.get(word, ()))
        chosen.update(_HARM_BY_PREFIX.get(word[:_PREFIX], ()))
    return [_HARM_PATTERNS[index] for index in sorted(chosen)]


def _keys(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_harm_key(match_key(form)) for word in words for form in _typed_forms(word))


def _phrases(phrases: tuple[str, ...]) -> tuple[tuple[_Word, ...], ...]:
    return tuple(_pattern(form) for phrase in phrases for form in _typed_forms(phrase))


_THEM = {tongue: _keys(words) for tongue, words in THEM.items()}
_TO_THEM_KEYS = {tongue: _keys(words) for tongue, words in TO_THEM.items()}
_WEAPONS = _phrases(WEAPONS)
_CLOSING = _phrases(CLOSING)
_THEM_THEN = _keys(THEM_THEN)
_PREPOSITIONS = _keys(PREPOSITIONS)
_NOT_HARM_FORMS = _keys(NOT_HARM_FORMS)
_IDIOMS = _phrases(IDIOMS)
_LEAVING = _phrases(LEAVING)
_EXIT_BAN = {_pattern(verb): _phrases(phrases) for verb, phrases in EXIT_BAN.items()}
_HELD_IN = _phrases(HELD_IN)
_KEPT_IN = _keys(KEPT_IN)
_LOCKED_IN_PLACES = _keys(LOCKED_IN_PLACES)
_LOCKS = _phrases(LOCKS)
_MADE_TO_WORK = {tongue: _phrases(words) for tongue, words in MADE_TO_WORK.items()}
_NOT_BETWEEN = _keys(NOT_BETWEEN)
_THEN_HARM = _phrases(THEN_HARM)
_KIN_KEYS = _keys(KIN)
_UNDER_THREAT = _phrases(UNDER_THREAT)
_HARMLESS_BESIDE: dict[tuple[_Word, ...], tuple[tuple[_Word, ...], ...]] = {}
for _verbs, _beside in HARMLESS_BESIDE:
    for _verb in _phrases(_verbs):
        _HARMLESS_BESIDE[_verb] = _HARMLESS_BESIDE.get(_verb, ()) + _phrases(_beside)
# Where one clause ends: its punctuation, a line's end, a dash between words (not the hyphen
# of «из-за»).
_CLAUSE_BREAK = re.compile(r"[,.;:!?…\n]|\s-+\s|[–—]")
_PLEAS = frozenset(
    tuple(match_key(word).split()) for words in PLEA_WORDS.values() for word in words
)
_AROUND = frozenset(tuple(match_key(word).split()) for word in AROUND_A_PLEA)
_CYRILLIC = re.compile("[\u0400-\u04ff]")
# The check-in's «Are you safe?» (handlers/checkin.py, which imports this module): its own
# «I need help» takes pleas, and a way out of it would leave it unanswered, then missed.
CHECKIN_QUESTION = ("checkin", "ask")
# The guidance searches what is typed on its screens: «насилие» there is what to read about.
GUIDANCE = "guidance"
# Screens where a file is the person's own material (an appeal's evidence, a passport's
# photo), taken with the words under it; the others (free-text ones aside) read them.
FILE_SCREENS = frozenset({
    ("appeals", "files"), ("appeals", "confirm"), ("appeals", "view"),
    ("registration", "passport_photo"),
})  # fmt: skip

# Typed words that also pick "skip" or "done".
SKIP_WORDS = (
    "skip", "otkazib yuborish", "o'tkazib yuborish", "ўтказиб юбориш", "пропустить",
    "yoq", "yo'q", "йўқ", "нет", "no",
)  # fmt: skip
DONE_WORDS = ("done", "tayyor", "тайёр", "готово", "yuborish", "юбориш", "отправить")
# Typed words that also pick "reopen".
REOPEN_WORDS = (
    "reopen", "qayta ochish", "қайта очиш", "qayta oching", "қайта очинг", "открыть снова",
    "открыть заново", "возобновить",
)  # fmt: skip
SKIP_LABEL = N_("Skip")
REOPEN_LABEL = N_("Reopen my request {reference}")
COUNTRY_MISSES = "country_misses"  # texts that were no country, on the urgent path
# On the urgent path, the numbers shown were for the country already known (a registration,
# an earlier request): the place's screen offers to say they are elsewhere now (people move
# on, from Russia to Türkiye, and Russia's numbers do not help there).
COUNTRY_ASSUMED = "country_assumed"
ELSEWHERE = "elsewhere"
FILE_AND_WORDS_KEPT = N_(
    "Thank you, the file is kept, and the words under it are added to your description."
)

# Without a staff group nobody answers in the chat (settings.staff_enabled).
NO_DESK_URGENT = N_(
    "Your urgent help request {reference} is saved, but consulate operators do not answer in "
    "this chat yet. Please use the emergency contacts above."
)
NO_DESK_SENT = N_(
    "Your help request {reference} is saved, but consulate operators do not answer in this "
    "chat yet, so nobody may read it soon. If you need help now:"
)
NO_DESK_LINE = N_(
    "Consulate operators do not answer in this chat yet: what you send is kept with your "
    "request, but nobody may read it soon."
)


REASON_PROMPTS: dict[HelpReason, str] = {
    HelpReason.PASSPORT_TAKEN: N_(
        "Please tell briefly: who took your passport (the employer, an intermediary or "
        "someone else), when, and in which city you are."
    ),
    HelpReason.WAGES_UNPAID: N_(
        "Please tell briefly: the employer's name, the city, for how many months you have "
        "not been paid, and whether you have a contract."
    ),
    HelpReason.RECRUITER_FRAUD: N_(
        "Please tell briefly: who the intermediary was (name, company, phone), what was "
        "promised and what happened."
    ),
    HelpReason.ILLNESS_OR_ACCIDENT: N_(
        "Please tell briefly what happened, where you are now (city, hospital) and what "
        "help you need."
    ),
    HelpReason.DETENTION: N_(
        "Please tell briefly who was detained (you or a relative), when, in which city and, "
        "if you know, by whom."
    ),
    HelpReason.FAMILY_EMERGENCY: N_(
        "Please tell briefly what happened in your family and what help you need."
    ),
    HelpReason.OTHER: N_("Please tell briefly what happened and what help you need."),
}

country_picker = CountryPicker("country")


def distress_key(text: str) -> str:
    """match_key of a message read for distress: the SOS button of phone keyboards (🆘,
    which match_key drops with the other symbols) is the word «SOS»."""
    return match_key(text.replace("🆘", " sos "))


def _read_for_danger(text: str, key: str) -> str:
    """distress_key of `text` padded with spaces, its calls said in the negative (NEGATED_CALLS)
    taken out — unless the negative is itself denied or asked: «xavf yoʻq emas» (it is not
    that there is none), «не в опасности ли я»; a message that asks (ends in «?») or says
    «разве» is read as it stands («Разве я не в опасности!»). `key`: distress_key of `text`."""
    padded = f" {key} "
    if text.rstrip().rstrip("!").endswith("?") or " razve " in padded:
        return padded
    return _NEGATED.sub(" | ", padded)


def _word_is(word: str, key: str, stem: bool) -> bool:
    if key == ANY_NUMBER:
        return word.isdigit()
    if stem:
        return word.startswith(key) and word not in _NOT_HARM_FORMS
    return word == key


def _pattern_at(words: list[str], at: int, pattern: tuple[_Word, ...]) -> bool:
    if at + len(pattern) > len(words):
        return False
    return all(_word_is(words[at + i], key, stem) for i, (key, stem) in enumerate(pattern))


def _heads(words: list[str]) -> dict[str, list[int]]:
    """The places of `words` by each word, by its first letters (keyed «*» and them), and of
    the numbers (keyed ANY_NUMBER)."""
    heads: dict[str, list[int]] = {}
    for at, word in enumerate(words):
        heads.setdefault(word, []).append(at)
        heads.setdefault("*" + word[:_PREFIX], []).append(at)
        if word.isdigit():
            heads.setdefault(ANY_NUMBER, []).append(at)
    return heads


def _places(
    phrase: tuple[_Word, ...], words: list[str], heads: dict[str, list[int]]
) -> Iterator[int]:
    """Where `phrase` is in `words` (`heads`: _heads of them), each place read once."""
    first, stem = phrase[0]
    if stem and len(first) < _PREFIX:
        begins: Iterable[int] = range(len(words))
    else:
        begins = heads.get("*" + first[:_PREFIX] if stem else first, ())
    return (at for at in begins if _pattern_at(words, at, phrase))


def _says(
    words: list[str],
    phrases: tuple[tuple[_Word, ...], ...],
    heads: dict[str, list[int]] | None = None,
) -> bool:
    """Whether one of `phrases` is anywhere in `words` (`heads`: their _heads, if known)."""
    heads = _heads(words) if heads is None else heads
    return any(next(_places(phrase, words, heads), None) is not None for phrase in phrases)


def _without_idioms(words: list[str]) -> list[str]:
    """`words` with the set phrases (IDIOMS: «бьют тревогу») blanked out."""
    kept = list(words)
    heads = _heads(words)
    for idiom in _IDIOMS:
        for at in _places(idiom, words, heads):
            kept[at : at + len(idiom)] = ["|"] * len(idiom)
    return kept


def _is_them(tongue: str, words: list[str], at: int) -> bool:
    """Whether words[at] is «меня»/«meni», not after a preposition («у меня»)."""
    return words[at] in _THEM[tongue] and (at == 0 or words[at - 1] not in _PREPOSITIONS)


def _them_near(
    tongue: str, pattern: tuple[_Word, ...], words: list[str], start: int, end: int
) -> bool:
    """Whether «меня»/«нас» («meni»/«bizni») is the object of the verb `pattern` at
    words[start:end] of one clause: up to THEM_BEFORE words before it (in Russian, with words
    between, only where the clause ends with the verb or THEM_THEN follows it, and none of
    them is NOT_BETWEEN or an «и» but the one just before the verb: «меня хозяин закрыл»,
    «нас привезли и держат», not «меня уволили и фирму закрыли»), or, in Russian, just after
    it (after CLOSING only where the clause ends there or THEM_THEN follows: «закрыли меня в
    комнате»)."""
    ends_there = end == len(words) or words[end] in _THEM_THEN
    for at in range(max(0, start - 1 - THEM_BEFORE[tongue]), start):
        if not _is_them(tongue, words, at):
            continue
        between = words[at + 1 : start]
        if tongue != "ru" or not between:
            return True
        if ends_there and not any(
            word in _NOT_BETWEEN or (word == "i" and place < len(between) - 1)
            for place, word in enumerate(between)
        ):
            return True
    if tongue != "ru" or end >= len(words) or not _is_them(tongue, words, end):
        return False
    return pattern not in _CLOSING or end + 1 == len(words) or words[end + 1] in _THEM_THEN


def _threatened(tongue: str, words: list[str], start: int, end: int) -> bool:
    """Whether the threat at words[start:end] is made to them («мне угрожают», «угрожают
    нам») or with a weapon («угрожает ножом»)."""
    beside = words[max(0, start - 1) : start] + words[end : end + 1]
    return any(word in _TO_THEM_KEYS[tongue] for word in beside) or _says(words, _WEAPONS)


def _kin_taken(words: list[str]) -> bool:
    """Whether a child or relative (KIN) is in the clause `words`, not after a preposition
    («у брата украли телефон» is a theft)."""
    return any(
        word in _KIN_KEYS and (at == 0 or words[at - 1] not in _PREPOSITIONS)
        for at, word in enumerate(words)
    )


class _Message:
    """The match_keys of every word of a message, and whether a lock is named anywhere in it
    (LOCKS), read once: «Не могу выйти, двери закрыты»."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    @functools.cached_property
    def locked(self) -> bool:
        return _says([_harm_key(key) for key in self.keys], _LOCKS)


def _let_out_of(tongue: str, words: list[str], start: int) -> bool:
    """Whether «meni»/«bizni» stands before the Uzbek «not let out» at words[start] with
    nothing between but where they are kept (KEPT_IN): «Meni uydan chiqarmayapti»."""
    for at in range(max(0, start - 1 - THEM_BEFORE[tongue]), start):
        if _is_them(tongue, words, at) and all(word in _KEPT_IN for word in words[at + 1 : start]):
            return True
    return False


def _held(pattern: tuple[_Word, ...], words: list[str]) -> bool:
    """Whether «not let out» (NOT_LET_OUT) in the clause `words` tells of someone held: not
    leaving the country or going on leave (LEAVING, EXIT_BAN), unless where they are held is
    said too (HELD_IN)."""
    if _says(words, _HELD_IN):
        return True
    return not _says(words, _LEAVING + _EXIT_BAN.get(pattern, ()))


def _harm_by_rule(
    tongue: str,
    pattern: tuple[_Word, ...],
    rule: str,
    words: list[str],
    start: int,
    message: _Message,
) -> bool:
    """Whether the words of harm `pattern` at words[start] tell of harm by `rule` (`message`:
    the whole message, where a locked door may be told apart: «Не могу выйти, двери
    закрыты»)."""
    end = start + len(pattern)
    return (
        rule == _ANYWHERE
        or (rule == _TO_THEM and _them_near(tongue, pattern, words, start, end))
        or (rule == _OUT_OF and _let_out_of(tongue, words, start))
        or (rule == _LET_OUT and _held(pattern, words))
        or (rule == _LOCKED and any(word in _LOCKED_IN_PLACES for word in words))
        or (rule == _THREAT and _threatened(tongue, words, start, end))
        or (rule == _DOOR and message.locked)
        or (rule == _FORCED and _says(words, _MADE_TO_WORK[tongue]))
        or (rule == _IF_LEAVE and _says(words, _THEN_HARM))
        or (rule == _KIN and _kin_taken(words))
        or (rule == _COERCED and _says(words, _UNDER_THREAT))
    )


def _harm_at(
    tongue: str,
    pattern: tuple[_Word, ...],
    rule: str,
    words: list[str],
    heads: dict[str, list[int]],
    message: _Message,
) -> int | None:
    """Where the words of harm `pattern` tell of harm in the clause `words` (`heads`: their
    _heads) of `message`, by `rule` and not beside the words that make them harmless
    (HARMLESS_BESIDE); None where they do not."""
    starts = list(_places(pattern, words, heads))
    if not starts or _says(words, _HARMLESS_BESIDE.get(pattern, ()), heads):
        return None
    return next(
        (start for start in starts if _harm_by_rule(tongue, pattern, rule, words, start, message)),
        None,
    )


def _harm_places(keys: list[str], message: _Message) -> list[tuple[str, list[int]]]:
    """The words of harm in one clause (its words' match_keys) of `message` (all its words'
    match_keys), each as its language and the places of its words: the verb's, and
    «меня»/«meni» of the clause."""
    words = _without_idioms([_harm_key(key) for key in keys])
    heads = _heads(words)
    found = []
    for tongue, pattern, rule in _harm_candidates(words):
        start = _harm_at(tongue, pattern, rule, words, heads, message)
        if start is None:
            continue
        them = [at for at in range(len(words)) if tongue in _THEM and _is_them(tongue, words, at)]
        found.append((tongue, [*range(start, start + len(pattern)), *them]))
    return found


def _clauses(text: str) -> list[list[str]]:
    """The words of each clause of `text` (_CLAUSE_BREAK), as distress_key reads them."""
    clauses = [distress_key(clause).split() for clause in _CLAUSE_BREAK.split(text)]
    return [words for words in clauses if words]


def _names_harm(clauses: list[list[str]]) -> bool:
    """Whether words of harm (HARM_WORDS and the tables after it) are in one of the clauses
    (_clauses), as words of their own."""
    message = _Message([word for words in clauses for word in words])
    return any(_harm_places(words, message) for words in clauses)


def _a_call_alone(clauses: list[list[str]]) -> bool:
    """Whether a clause (_clauses) is only the noun «danger» (CALL_NOUNS): «Опасность!»."""
    return any(" ".join(words) in _NOUN_KEYS for words in clauses)


def names_danger(text: str) -> bool:
    """Whether one of DANGER_CALLS or the words of harm (HARM_WORDS, HARM_TO_THEM and the
    tables after them) is in `text`, as words of their own («бьют» in «бьютик» is not), or
    the noun «danger» is a clause of its own; a call not said in the negative («Я не в
    опасности»)."""
    return _clauses_name_danger(text, _clauses(text))


def _clauses_name_danger(text: str, clauses: list[list[str]]) -> bool:
    """names_danger of `text`, read as its `clauses` (_clauses): their words are those of the
    whole message's distress_key."""
    padded = _read_for_danger(text, " ".join(word for words in clauses for word in words))
    if any(f" {word} " in padded for word in _CALL_KEYS):
        return True
    return _a_call_alone(clauses) or _names_harm(clauses)


def _made_of(words: tuple[str, ...], pleas: frozenset[tuple[str, ...]]) -> bool:
    """Whether the message `words` (distress_key's) is made of `pleas` only (one at least),
    give or take the words around a plea (AROUND_A_PLEA)."""
    reached = {(0, False)}  # (words read, a plea among them)
    for start in range(len(words)):
        for at, plea in [state for state in reached if state[0] == start]:
            for phrases, is_plea in ((pleas, True), (_AROUND, False)):
                for phrase in phrases:
                    if words[at : at + len(phrase)] == phrase:
                        reached.add((at + len(phrase), plea or is_plea))
    return (len(words), True) in reached


def is_a_plea(text: str) -> bool:
    """Whether `text` is made of pleas only, give or take a greeting or «please»
    («Помогите!», «Iltimos, yordam bering», «help help»)."""
    return _made_of(tuple(distress_key(text).split()), _PLEAS)


def asks_for_help_at_the_check_in(text: str, refusals: tuple[str, ...] = ()) -> bool:
    """Whether an answer typed to «Are you safe?» means «I need help»: words of danger
    anywhere (a call not said in the negative: «Xavf yoʻq», «Я не в опасности» say the
    opposite), or a message made of pleas and the check-in's `refusals` only, give or take a
    greeting or «please» («Нет, помогите», «Yoʻq, yordam kerak»)."""
    refused = frozenset(tuple(match_key(word).split()) for word in refusals)
    clauses = _clauses(text)
    words = tuple(word for clause in clauses for word in clause)
    return _clauses_name_danger(text, clauses) or _made_of(words, _PLEAS | refused)


def _words_in_their_letters(clause: str) -> list[tuple[str, bool]]:
    """The words of `clause` as distress_key reads them, each with whether it was typed in
    Cyrillic letters."""
    return [
        (key, bool(_CYRILLIC.search(typed)))
        for typed in clause.split()
        for key in distress_key(typed).split()
    ]


def _phrase_places(keys: list[str]) -> list[tuple[str, list[int]]]:
    """The calls and pleas in one clause, each as its language and the places of its words."""
    return [
        (tongue, list(range(at, at + len(phrase))))
        for at, key in enumerate(keys)
        for tongue, phrase in _TONGUE_PHRASES_BY_FIRST.get(key, ())
        if tuple(keys[at : at + len(phrase)]) == phrase
    ]


def _words_by_tongue(text: str) -> dict[str, dict[int, bool]]:
    """For each language, the words of `text` its calls, pleas and words of harm matched (by
    their place in the message), each with whether it was typed in Cyrillic letters."""
    found: dict[str, dict[int, bool]] = {}
    offset = 0
    clauses = [_words_in_their_letters(clause) for clause in _CLAUSE_BREAK.split(text)]
    message = _Message([key for words in clauses for key, _ in words])
    for words in clauses:
        keys = [key for key, _ in words]
        for tongue, places in _phrase_places(keys) + _harm_places(keys, message):
            found.setdefault(tongue, {}).update((offset + at, words[at][1]) for at in places)
        offset += len(words)
    return found


def distress_language(text: str) -> str | None:
    """Whether `text` names danger (anywhere in it) or is a plea (the whole of it), and in
    which language: "ru", "uz_Latn", "uz_Cyrl", or "" when its words tell none («SOS»).
    None when it does neither. The language with more words of distress wins, Russian on a
    tie («Помогите, meni erim uryapti» is Uzbek); the script is that of the Uzbek words
    themselves, whatever else is typed («Men xavf ostidaman, Москва, Люблино»)."""
    clauses = _clauses(text)
    words = tuple(word for clause in clauses for word in clause)
    if not _made_of(words, _PLEAS) and not _clauses_name_danger(text, clauses):
        return None
    found = _words_by_tongue(text)
    russian, uzbek = found.get("ru", {}), found.get("uz", {})
    if not russian and not uzbek:
        return ""
    if len(uzbek) <= len(russian):
        return "ru"
    cyrillic = sum(uzbek.values())
    return "uz_Cyrl" if cyrillic > len(uzbek) - cyrillic else "uz_Latn"


# -- small helpers ----------------------------------------------------------------------------


def _draft(ctx: Context) -> dict[str, Any]:
    """This journey's answers, also when an interceptor runs inside another journey."""
    return ctx.state.answers_of(journey.name)


def _clear_draft(draft: dict[str, Any]) -> None:
    for key in ("reason", "description", "described", "files", "location", "place", "at"):
        draft.pop(key, None)


def _has_draft(draft: dict[str, Any]) -> bool:
    return bool(draft.get("described") or draft.get("files") or draft.get("location"))


# Where «cancel» discards an unsent draft: its own steps, and the Help screens that keep what
# was sent on them for it (the triage, a closed request's screen). The urgent path is not:
# what is sent there is in the request already.
CANCEL_ASKS_AT = frozenset({START, CLOSED, *DRAFT_STEPS})


@journey.asks_before_cancel
def holds_draft(ctx: Context) -> bool:
    """An unsent request with something of hers in it: what she wrote (or said in a voice
    message), a file, her location or a typed address."""
    if ctx.state.step not in CANCEL_ASKS_AT:
        return False
    draft = _draft(ctx)
    return _has_draft(draft) or bool(draft.get("place"))


def _to_case_screen(ctx: Context, note: str | None) -> Go:
    """Show the open case; "back" from there leads out of Help, not into a sent draft."""
    if note:
        _draft(ctx)[NOTE] = note
    ctx.state.history = [entry for entry in ctx.state.history if entry[0] != journey.name]
    return Go(journey.name, START, remember=False)


def _file_of(incoming: Incoming) -> dict[str, Any] | None:
    media = incoming.media
    if incoming.kind is not Kind.MEDIA or media is None or media.kind not in KEPT_MEDIA:
        return None
    return {
        "channel": incoming.channel,
        "kind": media.kind,
        "file_ref": media.file_ref,
        "mime_type": media.mime_type,
        "size": media.size,
    }


def _has_words(text: str) -> bool:
    return any(char.isalnum() for char in text)


def _offered(ctx: Context) -> list[str]:
    """The ids of the options this journey's question showed (not the engine's offer to
    answer a pushed question, added to any screen while one waits)."""
    return [entry[0] for entry in ctx.state.choices if entry[0] != WAITING_QUESTION]


def _shown(ctx: Context, choice: str) -> bool:
    """Whether the question asked showed this option: several steps ask another step's
    question when the request changed meanwhile, and its options tell which one it was."""
    return choice in _offered(ctx)


def _operator_awaits(ctx: Context) -> bool:
    """Whether an operator's message waits for the person's answer: services.staff asked
    for the answer screen, and the person is not there yet (a pushed question may wait
    while the person is on this journey's screens)."""
    return any(
        (asked.journey, asked.step) == ANSWER_SCREEN and asked.due <= ctx.now
        for asked in ctx.state.pending
    )


def _own_words(answer: Answer) -> bool:
    """Sent by the person rather than picked: a button, or typed words that name an
    option, pick it; a lone number does not (the operator may have asked «how many?»)."""
    if answer.kind is Kind.BUTTON:
        return False
    return answer.choice is None or parse_number(answer.text) is not None


async def _answer_to_operator(ctx: Context, answer: Answer) -> Outcome | None:
    """Right after an operator wrote, the person's own words on a screen of the request
    are their answer: they join the request, and the answer screen follows (which the
    operator's message asked for). None where that is not so."""
    if not _operator_awaits(ctx) or not _own_words(answer):
        return None
    case = await open_case_of(ctx.session, ctx.person.id)
    if case is None:
        return None
    ctx.state.pending = [
        asked for asked in ctx.state.pending if (asked.journey, asked.step) != ANSWER_SCREEN
    ]
    if hint := await _add_to_case(ctx, case, answer):
        ctx.say(hint)
    else:
        _draft(ctx)[NOTE] = NOTE_ADDED
    return Go(journey.name, REPLY, remember=False)


def _operators_answer(ctx: Context) -> bool:
    """Whether a staff group takes the requests (else they are only kept)."""
    return ctx.settings.staff_enabled


def _skip(ctx: Context) -> Choice:
    return ctx.choice(SKIP, SKIP_LABEL, *SKIP_WORDS)


def _reason_label(ctx: Context, reason: str) -> str:
    return ctx._(REASON_LABELS[HelpReason(reason)])


async def _case_label(ctx: Context, case: HelpCase) -> str:
    """What the case is about, as the person's screens say it: its reason, or a neutral
    line for a case they did not open (a missed check-in: never «I am in danger now»)."""
    return ctx._(await reason_for_person(ctx.session, case))


def _danger_choice(ctx: Context) -> Choice:
    return ctx.choice(DANGER, REASON_LABELS[HelpReason.DANGER], *DANGER_WORDS)


def _contacts(ctx: Context, country: str | None) -> str:
    return emergency_contacts(ctx.translator, country, ctx.settings.consulates)


def _not_added_hint(ctx: Context) -> str:
    return ctx._(
        "This cannot be added to your request. Please send text, a photo, a document, "
        "a voice message or your location."
    )


def _too_long_for_case(ctx: Context, text: str) -> str:
    return ctx._(
        "This message is too long ({count} characters). Please send it in several "
        "messages of up to {limit} characters."
    ).format(count=len(text), limit=DESCRIPTION_LIMIT)


# -- the first step: the open case, or what happened ------------------------------------------


@journey.asks(START)
async def ask_start(ctx: Context) -> Question:
    draft = _draft(ctx)
    note = draft.pop(NOTE, None)
    case = await open_case_of(ctx.session, ctx.person.id)
    if case is not None:
        urgent = await person_marked_urgent(ctx.session, case)
        return _case_question(ctx, case, note, urgent=urgent, about=await _case_label(ctx, case))
    reopenable = None if note == NOTE_FRESH else await _reopenable(ctx)
    about = await _case_label(ctx, reopenable) if reopenable is not None else ""
    return _triage_question(ctx, note, reopenable, about)


@journey.answers(START)
async def answer_start(ctx: Context, answer: Answer) -> Outcome:
    # Which screen was shown is read from its choices, not kept in the answers: at the case
    # screen the answers stay empty, so «cancel» there does not claim to discard anything.
    if _shown(ctx, CLOSE_CASE):
        case = await open_case_of(ctx.session, ctx.person.id)
        if case is None:
            return await _case_gone(ctx, answer)
        return await _answer_case(ctx, case, answer)
    return await _answer_triage(ctx, answer)


def _triage_question(
    ctx: Context, note: str | None, reopenable: HelpCase | None = None, about: str = ""
) -> Question:
    """`about`: what `reopenable` is about, as the person's screens say it (_case_label)."""
    draft = _draft(ctx)
    lines: list[str] = []
    if draft.get("reason") and _has_draft(draft):
        lines.append(
            ctx._(
                "You have a help request that is not sent yet: «{reason}». Choose «Continue» "
                "to finish it, or choose what happened."
            ).format(reason=_reason_label(ctx, draft["reason"]))
        )
    elif _has_draft(draft) and note != NOTE_CLOSED:
        lines.append(ctx._("What you sent is kept. Now please choose what it is about."))
    if reopenable is not None:
        lines.append(_reopen_offer(ctx, reopenable, about, closed_said=note == NOTE_CLOSED))
    lines.append(
        ctx._(
            "What happened? Choose what fits best. If you are in danger now, choose 1: "
            "you will get the emergency numbers at once."
        )
    )
    choices = [_danger_choice(ctx)]
    choices += [
        ctx.choice(reason.value, REASON_LABELS[reason])
        for reason in HelpReason
        if reason is not HelpReason.DANGER
    ]
    if draft.get("reason") and _has_draft(draft):
        choices.append(ctx.choice(CONTINUE, "Continue"))
    if reopenable is not None:
        choices.append(_reopen_choice(ctx, reopenable))
    return Question("\n\n".join(lines), tuple(choices))


async def _answer_triage(ctx: Context, answer: Answer) -> Outcome:
    draft = _draft(ctx)
    choice = answer.choice
    if choice == DANGER:
        return await open_danger(ctx)
    if choice and choice.startswith(REOPEN_PREFIX):
        return await _reopen(ctx, choice.removeprefix(REOPEN_PREFIX), late_hint=True)
    if choice in {reason.value for reason in HelpReason}:
        draft["reason"] = choice
        return Go(journey.name, DESCRIBE)
    if choice == CONTINUE and draft.get("reason"):
        step = draft.get("at")
        return Go(journey.name, step if step in DRAFT_STEPS else DESCRIBE)
    text = answer.text
    if answer.kind is Kind.TEXT and choice is None:
        if names_danger(text):
            return await open_danger_with(ctx, answer)
        if is_a_plea(text):
            return Repeat()  # this screen is the answer to a plea
    # Someone who starts telling instead of choosing: keep what they sent, then ask again.
    if answer.kind is Kind.TEXT and len(text) >= KEPT_TEXT_MIN and _has_words(text):
        if hint := _add_description(ctx, draft, text):
            return Repeat(hint)
        return Repeat(ctx._("Thank you, your message is kept."))
    if (file := _file_of(answer.incoming)) is not None:
        caption = _caption(answer.incoming)
        if names_danger(caption):  # as typed: the urgent path, the file with the words
            _keep_file(draft, file)
            return await open_danger_with(ctx, _typed(answer, caption))
        if is_a_plea(caption):
            caption = ""  # «Помогите!» under a photo: this screen is the answer to a plea
        kept = _keep_with_caption(
            ctx, draft, file, caption,
            file_kept=ctx._("Thank you, the file is kept."),
            both_kept=ctx._("Thank you, your message is kept."),
        )  # fmt: skip
        return Repeat(kept)
    if answer.kind is Kind.LOCATION and answer.incoming.location is not None:
        place = answer.incoming.location
        draft["location"] = [place.latitude, place.longitude]
        return Repeat(ctx._("Thank you, your location is kept."))
    return ctx.not_understood()


# -- the open case ----------------------------------------------------------------------------


def _added(ctx: Context, reference: str) -> str:
    if not _operators_answer(ctx):
        return ctx._("Added to your help request {reference}.").format(reference=reference)
    return ctx._(
        "Added to your help request {reference}. A consulate operator will answer you in this chat."
    ).format(reference=reference)


def _everything_added(ctx: Context, reference: str) -> str:
    return ctx._(
        "Everything you send here — text, photos, documents, voice messages, your "
        "location — is added to your request {reference}. To leave, type «menu»; to come "
        "back, choose «Help: talk to an operator» in the main menu."
    ).format(reference=reference)


def _case_question(
    ctx: Context, case: HelpCase, note: str | None, *, urgent: bool, about: str
) -> Question:
    """`urgent`: the person marked the case urgent (the urgency of a code word or a missed
    check-in is not shown); `about`: what it is about, as their screens say it (_case_label)."""
    reference = case.reference or ""
    if note == NOTE_ADDED:
        text = _added(ctx, reference)
    elif note == NOTE_OPENED:
        text = _everything_added(ctx, reference)
    else:
        lines = [
            ctx._("Your help request {reference}: «{reason}».").format(
                reference=reference, reason=about
            ),
            ctx._("Status: {status}").format(status=ctx._(STATUS_LABELS[CaseStatus(case.status)])),
        ]
        if urgent:
            lines.append(ctx._("It is marked urgent."))
        if not _operators_answer(ctx):
            about = f"{ctx._(NO_DESK_LINE)}\n{_everything_added(ctx, reference)}"
            return Question("\n".join(lines) + "\n\n" + about, _case_choices(ctx), free_text=True)
        text = (
            "\n".join(lines)
            + "\n\n"
            + ctx._(
                "A consulate operator will answer you in this chat. Everything you send here — "
                "text, photos, documents, voice messages, your location — is added to your "
                "request.\nTo leave, type «menu». To come back, choose «Help: talk to an "
                "operator» in the main menu. If your problem is solved, you can close the request."
            )
        )
    return Question(text, _case_choices(ctx), free_text=True)


def _case_choices(ctx: Context) -> tuple[Choice, ...]:
    return (
        _danger_choice(ctx),
        ctx.choice(CLOSE_CASE, "My problem is solved: close the request"),
        ctx.choice(LEAVE, "Main menu", "menu", "menyu", "меню"),
    )


async def _answer_case(ctx: Context, case: HelpCase, answer: Answer) -> Outcome:
    # Free text, but the options are listed: «1» alone is «I am in danger now» (on WhatsApp
    # the number is the only way to pick it); any other number is for the operator, and any
    # number at all right after the operator wrote.
    if (answered := await _answer_to_operator(ctx, answer)) is not None:
        return answered
    choice = listed_pick(answer, ctx.state.choices)
    if choice == DANGER:
        return await open_danger(ctx)
    if choice == CLOSE_CASE:
        return Go(journey.name, CLOSE)
    if choice == LEAVE:
        return GoHome()
    if hint := await _add_to_case(ctx, case, answer):
        return Repeat(hint)
    _draft(ctx)[NOTE] = NOTE_ADDED
    return Repeat()


async def add_to_open_case(ctx: Context, answer: Answer) -> Outcome | None:
    """What a person with an open request sends on a screen that cannot use it (the main
    menu) is most likely an answer to the operator: it joins the request, and the request's
    screen is shown. A code-word (covert) request, when no other is open, takes it too, but
    the reply is the one the screen gives anyway (none of its screens may show): the
    operator's questions are answered from the main menu. None when there is no open
    request or nothing to add."""
    if answer.kind not in KEPT_KINDS or not ctx.person.has_consented:
        return None
    case = await open_case_of(ctx.session, ctx.person.id)
    if case is None:
        covert = await open_case_of(ctx.session, ctx.person.id, include_covert=True)
        if covert is not None and await _add_to_case(ctx, covert, answer) is None:
            log.info("help case message from the menu case=%s", covert.id)
        return None
    if await _add_to_case(ctx, case, answer) is not None:
        return None
    log.info("help case message from the menu case=%s", case.id)
    return _to_case_screen(ctx, NOTE_ADDED)


async def keep_for_a_request(ctx: Context, answer: Answer) -> Outcome | None:
    """A voice message or a location sent on the main menu, with no request open: most
    likely what happened, told the only way the person can (many cannot write). It is kept
    for a new request, and the Help screen asks what it is about; it was «I do not
    understand». None for anything else, without consent, and while a code-word request is
    open: that one took it (add_to_open_case), and the Help screen must not show."""
    incoming = answer.incoming
    if not ctx.person.has_consented:
        return None
    if await open_case_of(ctx.session, ctx.person.id, include_covert=True) is not None:
        return None
    draft = _draft(ctx)
    if (file := _file_of(incoming)) is not None and file["kind"] in SPOKEN:
        if not _keep_file(draft, file):
            return None
    elif answer.kind is Kind.LOCATION and incoming.location is not None:
        draft["location"] = [incoming.location.latitude, incoming.location.longitude]
    else:
        return None
    return Go(journey.name)


async def _add_to_case(ctx: Context, case: HelpCase, answer: Answer) -> str | None:
    """Add what the person sent to their case; a hint when it cannot be added. Words (or a
    caption) that name danger make the case urgent for the operators (_urgent_for_operators)."""
    incoming = answer.incoming
    session, cipher, desk, now = ctx.session, ctx.cipher, ctx.staff, ctx.now
    if answer.kind is Kind.TEXT:
        if not answer.text:
            return _not_added_hint(ctx)
        if len(answer.text) > DESCRIPTION_LIMIT:
            return _too_long_for_case(ctx, answer.text)
        await add_person_message(
            session, cipher, desk, case, kind="text", now=now, text=answer.text
        )
        await _urgent_for_operators(ctx, case, answer.text)
    elif (file := _file_of(incoming)) is not None:
        caption = clean_text(incoming.text) or None
        await add_person_message(
            session, cipher, desk, case, kind=file["kind"], now=now, text=caption,
            attachment=NewAttachment(**file),
        )  # fmt: skip
        await _urgent_for_operators(ctx, case, caption or "")
    elif answer.kind is Kind.LOCATION and incoming.location is not None:
        await add_person_location(
            session, cipher, desk, case, latitude=incoming.location.latitude,
            longitude=incoming.location.longitude, now=now,
        )  # fmt: skip
    elif answer.kind is Kind.CONTACT and incoming.contact_phone:
        await add_person_message(
            session, cipher, desk, case, kind="contact", now=now, text=incoming.contact_phone
        )
    else:
        return _not_added_hint(ctx)
    log.info("help case message case=%s kind=%s", case.id, answer.kind)
    return None


async def _urgent_for_operators(ctx: Context, case: HelpCase, *words: str) -> None:
    """The person's own words on their request («меня заперли», «meni urishyapti») stay
    their words, on a screen that takes them; when they name danger, the case is urgent for
    the operators (help_cases.mark_urgent_for_operators). The person's screen is not told."""
    if not any(names_danger(text) for text in words if text):
        return
    if await mark_urgent_for_operators(ctx.session, ctx.cipher, ctx.staff, case, now=ctx.now):
        log.info("help case urgent for its words case=%s", case.id)


def _draft_words(draft: dict[str, Any]) -> tuple[str, str]:
    """What the person typed for a draft: its description and the place."""
    return draft.get("description", ""), draft.get("place", "")


async def _case_gone(ctx: Context, answer: Answer) -> Outcome:
    """The case was closed (by the consulate) while its screen was shown."""
    draft = _draft(ctx)
    last = await last_case_of(ctx.session, ctx.person.id)
    reference = (last.reference if last else None) or ""
    picked = listed_pick(answer, ctx.state.choices)
    if picked == DANGER:
        return await open_danger(ctx)
    if picked == LEAVE:
        return GoHome()
    kept = False
    if answer.kind is Kind.TEXT and answer.text and not picked:
        kept = _add_description(ctx, draft, answer.text) is None
    elif (file := _file_of(answer.incoming)) is not None:
        kept = _keep_file(draft, file)
        if _has_words(caption := _caption(answer.incoming)):
            kept = _add_description(ctx, draft, caption) is None or kept
    elif answer.kind is Kind.LOCATION and answer.incoming.location is not None:
        draft["location"] = [answer.incoming.location.latitude, answer.incoming.location.longitude]
        kept = True
    draft[NOTE] = NOTE_CLOSED
    if kept:
        return Repeat(
            ctx._(
                "Your help request {reference} has been closed by the consulate. What you "
                "just sent is kept: choose what it is about, and it will go into a new request."
            ).format(reference=reference)
        )
    return Repeat(
        ctx._(
            "Your help request {reference} has been closed. If you need help again, "
            "choose what happened."
        ).format(reference=reference)
    )


async def _gone(ctx: Context, answer: Answer) -> Outcome:
    """The case was closed while a later step of it was shown: as _case_gone (what was sent
    is kept), then the Help screen."""
    outcome = await _case_gone(ctx, answer)
    if not isinstance(outcome, Repeat):
        return outcome
    if outcome.hint:
        ctx.say(outcome.hint)
    return _to_case_screen(ctx, None)


@journey.asks(CLOSE)
async def ask_close(ctx: Context) -> Question:
    case = await open_case_of(ctx.session, ctx.person.id)
    reference = (case.reference if case else None) or ""
    return Question(
        ctx._(
            "Close your help request {reference}? Do this only if your problem is solved: "
            "the operators will stop working on it."
        ).format(reference=reference),
        (
            ctx.choice(CLOSE_YES, "Yes, close it"),
            ctx.choice(CLOSE_NO, "No, keep it open"),
        ),
    )


@journey.answers(CLOSE)
async def answer_close(ctx: Context, answer: Answer) -> Outcome:
    case = await open_case_of(ctx.session, ctx.person.id)
    if case is None:
        if answer.choice is None:  # written for the operator: kept
            return await _gone(ctx, answer)
        ctx.say(ctx._("This help request is already closed."))
        return GoHome()
    if (answered := await _answer_to_operator(ctx, answer)) is not None:
        return answered  # «1» for «how many?», not «Yes, close it»
    if answer.choice == CLOSE_YES:
        await close_case(ctx.session, ctx.cipher, ctx.staff, case, actor=PERSON, now=ctx.now)
        log.info("help case closed by the person case=%s", case.id)
        ctx.say(
            ctx._(
                "Your help request {reference} is closed. We are glad the problem is solved. "
                "If you need help again, choose «Help: talk to an operator» in the main menu."
            ).format(reference=case.reference or "")
        )
        return GoHome()
    if answer.choice == CLOSE_NO:
        return _to_case_screen(ctx, None)
    # Something written instead of yes or no: it is for the operator, not lost.
    if hint := await _add_to_case(ctx, case, answer):
        return Repeat(hint)
    return _to_case_screen(ctx, NOTE_ADDED)


# -- answering an operator --------------------------------------------------------------------


@journey.asks(REPLY)
async def ask_reply(ctx: Context) -> Question:
    """The open request once an operator wrote (services.staff moves the conversation here;
    the operator's message was the question). No options are listed, so every message,
    a lone number too, is for the operator."""
    case = await open_case_of(ctx.session, ctx.person.id)
    if case is None:  # closed meanwhile: the usual Help screen
        return await ask_start(ctx)
    reference = case.reference or ""
    if _draft(ctx).pop(NOTE, None) == NOTE_ADDED:
        first = _added(ctx, reference)
    else:
        first = ctx._(
            "Write your answer here: everything you send is added to your request {reference} "
            "for the operator."
        ).format(reference=reference)
    ways = ctx._("If you are in danger now, send «SOS». To leave, type «menu».")
    return Question(f"{first}\n{ways}", free_text=True)


@journey.answers(REPLY)
async def answer_reply(ctx: Context, answer: Answer) -> Outcome:
    case = await open_case_of(ctx.session, ctx.person.id)
    # The request was closed when asked, so the Help screen was shown: its picks are picks
    # there; words sent there go into the request if it is open again.
    if _shown(ctx, DANGER) and (case is None or answer.choice is not None):
        return await answer_start(ctx, answer)
    if case is None:
        return await _gone(ctx, answer)
    if hint := await _add_to_case(ctx, case, answer):
        return Repeat(hint)
    _draft(ctx)[NOTE] = NOTE_ADDED
    return Repeat()


# -- in danger now ----------------------------------------------------------------------------


async def open_danger(ctx: Context) -> Outcome:
    """The numbers and an urgent case, at once; questions only afterwards, all optional."""
    draft = _draft(ctx)
    case = await open_case_of(ctx.session, ctx.person.id)
    if case is None:
        location = draft.get("location")
        case = await open_case(
            ctx.session, ctx.cipher, ctx.staff, person=ctx.person, reason=HelpReason.DANGER,
            description=draft.get("description", ""), now=ctx.now,
            location=(location[0], location[1]) if location else None,
            attachments=[NewAttachment(**file) for file in draft.get("files", [])],
        )  # fmt: skip
        if place := draft.get("place"):
            await add_person_message(
                ctx.session, ctx.cipher, ctx.staff, case, kind="address", now=ctx.now, text=place
            )
        log.info("help case opened case=%s urgent=%s", case.id, case.urgent)
        was_urgent = False
    else:
        was_urgent = await person_marked_urgent(ctx.session, case)
        await _draft_into_case(ctx, case, draft)
        await mark_urgent(ctx.session, ctx.cipher, ctx.staff, case, now=ctx.now)
        log.info("help case marked urgent case=%s", case.id)
    _clear_draft(draft)
    country = case.country or ctx.person.country
    ctx.say(_contacts(ctx, country))
    if was_urgent:
        ctx.say(
            ctx._("Your help request {reference} is already marked urgent.").format(
                reference=case.reference or ""
            )
        )
        return _to_case_screen(ctx, NOTE_OPENED)
    if _operators_answer(ctx):
        sent = ctx._(
            "Your urgent help request {reference} has been sent to the consulate's operators. "
            "They will answer you in this chat."
        )
    else:
        sent = ctx._(NO_DESK_URGENT)
    ctx.say(sent.format(reference=case.reference or ""))
    ctx.state.history = [entry for entry in ctx.state.history if entry[0] != journey.name]
    draft.pop(COUNTRY_MISSES, None)
    if country is None:
        return Go(journey.name, DANGER_COUNTRY, remember=False)
    draft[COUNTRY_ASSUMED] = True
    return _after_danger_country(ctx)


def _after_danger_country(ctx: Context) -> Go:
    """The place and a few words are for the operator: without one, the request's screen."""
    _draft(ctx).pop(COUNTRY_MISSES, None)
    if not _operators_answer(ctx):
        return _to_case_screen(ctx, NOTE_OPENED)
    return Go(journey.name, DANGER_PLACE, remember=False)


async def _draft_into_case(ctx: Context, case: HelpCase, draft: dict[str, Any]) -> None:
    """What a draft collected, added to a case that is already open (nothing is lost)."""
    session, cipher, desk, now = ctx.session, ctx.cipher, ctx.staff, ctx.now
    if description := draft.get("description"):
        await add_person_message(
            session, cipher, desk, case, kind="text", now=now, text=description
        )
    for file in draft.get("files", []):
        await add_person_message(
            session,
            cipher,
            desk,
            case,
            kind=file["kind"],
            now=now,
            attachment=NewAttachment(**file),
        )
    if location := draft.get("location"):
        await add_person_location(
            session, cipher, desk, case, latitude=location[0], longitude=location[1], now=now
        )
    if place := draft.get("place"):
        await add_person_message(session, cipher, desk, case, kind="address", now=now, text=place)


async def _danger_case(ctx: Context) -> HelpCase | None:
    return await open_case_of(ctx.session, ctx.person.id)


def _looks_like_a_message(text: str) -> bool:
    """On the urgent path, words for the operator rather than a misspelt country or an
    address: a sentence, or a plea («Помогите!», «Yordam bering»)."""
    return len(text.split()) >= 3 or len(text) > 30 or is_a_plea(text)


async def _add_in_danger(ctx: Context, case: HelpCase, answer: Answer) -> Outcome:
    """Something sent on the urgent path that its question did not ask for: added to the
    case (a hint if it cannot be), the same question again."""
    if hint := await _add_to_case(ctx, case, answer):
        return Repeat(hint)
    return Repeat(ctx._("Added to your request."))


@journey.asks(DANGER_COUNTRY)
async def ask_danger_country(ctx: Context) -> Question:
    text = "\n".join(
        (
            ctx._("Which country are you in? I will show the numbers for that country."),
            country_picker.hint(ctx),
            ctx._("If you cannot answer now, choose «Skip»."),
        )
    )
    return Question(text, (*country_picker.choices(ctx), _skip(ctx)))


@journey.answers(DANGER_COUNTRY)
async def answer_danger_country(ctx: Context, answer: Answer) -> Outcome:
    case = await _danger_case(ctx)
    if case is None:
        return await _gone(ctx, answer)
    if (answered := await _answer_to_operator(ctx, answer)) is not None:
        return answered
    if answer.choice == SKIP:
        return _after_danger_country(ctx)
    if answer.kind is Kind.LOCATION:
        if hint := await _add_to_case(ctx, case, answer):
            return Repeat(hint)
        ctx.say(ctx._("Your location is added to your request."))
        if not _operators_answer(ctx):
            return _after_danger_country(ctx)
        _draft(ctx).pop(COUNTRY_MISSES, None)
        return Go(journey.name, DANGER_DESCRIBE, remember=False)
    if answer.kind is not Kind.TEXT and answer.kind is not Kind.BUTTON:
        return await _add_in_danger(ctx, case, answer)
    country = country_picker.read(ctx, answer)
    if isinstance(country, Repeat):
        return await _not_a_country(ctx, case, answer, country)
    _draft(ctx).pop(COUNTRY_ASSUMED, None)
    moved_from = ctx.person.country
    await set_case_country(
        ctx.session, ctx.cipher, ctx.staff, case, ctx.person, country, now=ctx.now
    )
    await checkins.follow_move(ctx.session, ctx.person, moved_from)
    await add_person_message(ctx.session, ctx.cipher, ctx.staff, case, kind="country", now=ctx.now,
                             text=country)  # fmt: skip
    ctx.say(_contacts(ctx, country))
    return _after_danger_country(ctx)


async def _not_a_country(ctx: Context, case: HelpCase, answer: Answer, hint: Repeat) -> Outcome:
    """A text that names no country («меня заперли», «в подвале», «Стамбул») is for the
    operator: added to the request. The country is asked once more; after a second such
    text the path moves on (the operator reads what was written)."""
    text = answer.text
    if answer.kind is not Kind.TEXT or not _has_words(text):
        return hint  # a button of an earlier question, or no words: just ask again
    if ctx.answers.get(f"{country_picker.key}:candidates"):
        return hint  # several countries match: they are offered
    if note := await _add_to_case(ctx, case, answer):
        return Repeat(note)
    draft = _draft(ctx)
    misses = int(draft.get(COUNTRY_MISSES, 0)) + 1
    if misses >= 2:
        ctx.say(ctx._("Added to your request."))
        return _after_danger_country(ctx)
    draft[COUNTRY_MISSES] = misses
    added = ctx._("Added to your request.")
    if _looks_like_a_message(text) or not hint.hint:
        return Repeat(added)
    return Repeat(f"{added}\n{hint.hint}")  # perhaps a country's name, misspelt


@journey.asks(DANGER_PLACE)
async def ask_danger_place(ctx: Context) -> Question:
    choices = [_skip(ctx)]
    if _draft(ctx).get(COUNTRY_ASSUMED):
        choices.append(ctx.choice(ELSEWHERE, "I am in another country now"))
    return Question(
        ctx._(
            "If you can, send your location so that the operator knows where you are: tap 📎 "
            "and choose «Location». Or type the address or a place nearby. If you cannot now, "
            "choose «Skip»."
        ),
        tuple(choices),
    )


@journey.answers(DANGER_PLACE)
async def answer_danger_place(ctx: Context, answer: Answer) -> Outcome:
    case = await _danger_case(ctx)
    if case is None:
        return await _gone(ctx, answer)
    if (answered := await _answer_to_operator(ctx, answer)) is not None:
        return answered
    if answer.choice == SKIP:
        return Go(journey.name, DANGER_DESCRIBE, remember=False)
    if answer.choice == ELSEWHERE and _draft(ctx).pop(COUNTRY_ASSUMED, None):
        return Go(journey.name, DANGER_COUNTRY, remember=False)  # its numbers, then back here
    if answer.kind is Kind.LOCATION:
        if hint := await _add_to_case(ctx, case, answer):
            return Repeat(hint)
        ctx.say(ctx._("Your location is added to your request."))
        return Go(journey.name, DANGER_DESCRIBE, remember=False)
    if answer.kind is Kind.TEXT and not is_a_plea(answer.text):
        if not _has_words(answer.text):
            return Repeat(ctx._("Please type the address in words, or choose «Skip»."))
        if len(answer.text) > DESCRIPTION_LIMIT:
            return Repeat(_too_long_for_case(ctx, answer.text))
        await add_person_message(
            ctx.session, ctx.cipher, ctx.staff, case, kind="address", now=ctx.now, text=answer.text
        )
        ctx.say(ctx._("Added to your request."))
        return Go(journey.name, DANGER_DESCRIBE, remember=False)
    return await _add_in_danger(ctx, case, answer)


@journey.asks(DANGER_DESCRIBE)
async def ask_danger_describe(ctx: Context) -> Question:
    _draft(ctx).pop(COUNTRY_ASSUMED, None)
    return Question(
        ctx._(
            "What is happening? Write briefly or send a voice message. If you cannot now, "
            "choose «Skip»: the operator will write to you here."
        ),
        (_skip(ctx),),
        free_text=True,
    )


@journey.answers(DANGER_DESCRIBE)
async def answer_danger_describe(ctx: Context, answer: Answer) -> Outcome:
    case = await _danger_case(ctx)
    if case is None:
        return await _gone(ctx, answer)
    if (answered := await _answer_to_operator(ctx, answer)) is not None:
        return answered
    if listed_pick(answer, ctx.state.choices) == SKIP:  # «1» alone is «Skip», listed beside it
        return _to_case_screen(ctx, NOTE_OPENED)
    if hint := await _add_to_case(ctx, case, answer):
        return Repeat(hint)
    ctx.say(ctx._("Added to your request."))
    return _to_case_screen(ctx, NOTE_OPENED)


# -- any other reason: a description, the place, files, then the case -------------------------


def _add_description(ctx: Context, draft: dict[str, Any], text: str) -> str | None:
    """Add typed text to the draft's description; a hint when it cannot be."""
    if not _has_words(text):
        return ctx._("Please describe it in words.")
    combined = f"{draft.get('description', '')}\n{text}".strip()
    if len(combined) > DESCRIPTION_LIMIT:
        return ctx._(
            "This is too long ({count} characters). Please shorten it to {limit} characters: "
            "after the request is sent, you can write more in this chat."
        ).format(count=len(combined), limit=DESCRIPTION_LIMIT)
    draft["description"] = combined
    draft["described"] = True
    return None


def _keep_file(draft: dict[str, Any], file: dict[str, Any]) -> bool:
    files: list[dict[str, Any]] = draft.setdefault("files", [])
    if len(files) >= MAX_FILES:
        return False
    files.append(file)
    return True


def _caption(incoming: Incoming) -> str:
    """The words under a file (cleaned), "" when there are none."""
    return clean_text(incoming.text) if incoming.kind is Kind.MEDIA else ""


def _typed(answer: Answer, text: str) -> Answer:
    """The answer with `text` (a caption) as its words, read as if typed."""
    return Answer(incoming=answer.incoming, choice=None, text=text)


def _keep_with_caption(
    ctx: Context,
    draft: dict[str, Any],
    file: dict[str, Any],
    caption: str,
    *,
    file_kept: str | None,
    both_kept: str,
) -> str | None:
    """Keep a file sent for the draft, and the words under it as part of the description, as
    answer_describe does: on WhatsApp and cheap phones the caption often tells the whole
    story («Бригадир забрал паспорт, вот копия»). What to tell the person: `file_kept` when
    there were no words, `both_kept` when the words were kept too, else what was not."""
    kept = _keep_file(draft, file)
    lines = [file_kept if kept else _too_many_files(ctx)]
    if _has_words(caption):
        if hint := _add_description(ctx, draft, caption):
            lines.append(hint)
        elif kept:
            lines = [both_kept]
        else:
            lines.append(ctx._("Added to your description."))
    return "\n".join(line for line in lines if line) or None


def _too_many_files(ctx: Context) -> str:
    return ctx._(
        "That is the most files one request can take ({limit}). After the request is sent, "
        "you can send more in this chat."
    ).format(limit=MAX_FILES)


def _after_description(draft: dict[str, Any]) -> Go:
    return Go(journey.name, FILES if draft.get("location") else PLACE)


@journey.asks(DESCRIBE)
async def ask_describe(ctx: Context) -> Question:
    draft = _draft(ctx)
    draft["at"] = DESCRIBE
    reason = HelpReason(draft.get("reason", HelpReason.OTHER))
    prompt = ctx._(REASON_PROMPTS.get(reason, REASON_PROMPTS[HelpReason.OTHER]))
    if draft.get("described"):
        if description := draft.get("description", ""):
            quote = (
                description if len(description) <= QUOTE_LIMIT else description[:QUOTE_LIMIT] + "…"
            )
            kept = ctx._("You have already written:") + f"\n«{quote}»"
        else:
            kept = ctx._("You have already sent a voice message.")
        text = "\n\n".join(
            (
                kept,
                ctx._("To replace it, send a new description. To go on, choose «Keep it»."),
            )
        )
        return Question(text, (ctx.choice(KEEP, "Keep it"),), free_text=True)
    how = ctx._(
        "Write it in one message (up to {limit} characters), or send a voice message."
    ).format(limit=DESCRIPTION_LIMIT)
    return Question(f"{prompt}\n{how}", free_text=True)


@journey.answers(DESCRIBE)
async def answer_describe(ctx: Context, answer: Answer) -> Outcome:
    draft = _draft(ctx)
    # «Keep it» is option 1 where choices are numbered (WhatsApp), and a lone "1" is no
    # description to replace the one written before.
    if draft.get("described") and (answer.choice == KEEP or parse_number(answer.text) == 1):
        return _after_description(draft)
    incoming = answer.incoming
    if answer.kind is Kind.TEXT:
        replaced = {**draft, "description": ""}  # a new description replaces the old one
        if hint := _add_description(ctx, replaced, answer.text):
            return Repeat(hint)
        draft.update(replaced)
        return _after_description(draft)
    if (file := _file_of(incoming)) is not None:
        if not _keep_file(draft, file):
            return Repeat(_too_many_files(ctx))
        caption = clean_text(incoming.text)
        if file["kind"] in SPOKEN:
            draft["described"] = True
            return _after_description(draft)
        if _has_words(caption) and _add_description(ctx, draft, caption) is None:
            return _after_description(draft)
        return Repeat(
            ctx._("Thank you, the file is kept. Now please describe in words what happened.")
        )
    if answer.kind is Kind.LOCATION and incoming.location is not None:
        draft["location"] = [incoming.location.latitude, incoming.location.longitude]
        return Repeat(
            ctx._("Thank you, your location is kept. Now please describe in words what happened.")
        )
    if answer.kind is Kind.MEDIA:
        return Repeat(
            ctx._("Stickers cannot be added to a request. Please describe in words what happened.")
        )
    return Repeat(ctx._("Please describe in words what happened."))


@journey.asks(PLACE)
async def ask_place(ctx: Context) -> Question:
    _draft(ctx)["at"] = PLACE
    return Question(
        ctx._(
            "Where are you now? If you can, send your location: tap 📎 and choose «Location». "
            "Or type the city and address. If you prefer not to, choose «Skip»."
        ),
        (_skip(ctx),),
    )


@journey.answers(PLACE)
async def answer_place(ctx: Context, answer: Answer) -> Outcome:
    draft = _draft(ctx)
    incoming = answer.incoming
    if answer.choice == SKIP:
        return Go(journey.name, FILES)
    if answer.kind is Kind.LOCATION and incoming.location is not None:
        draft["location"] = [incoming.location.latitude, incoming.location.longitude]
        return Go(journey.name, FILES)
    if answer.kind is Kind.TEXT:
        if not _has_words(answer.text):
            return Repeat(ctx._("Please type the city and address in words, or choose «Skip»."))
        if len(answer.text) > PLACE_LIMIT:
            return Repeat(
                ctx._(
                    "This is too long ({count} characters). Please write the city and address "
                    "in up to {limit} characters."
                ).format(count=len(answer.text), limit=PLACE_LIMIT)
            )
        draft["place"] = answer.text
        return Go(journey.name, FILES)
    if (file := _file_of(incoming)) is not None:
        kept = _keep_with_caption(
            ctx, draft, file, _caption(incoming),
            file_kept=ctx._("Thank you, the file is kept."), both_kept=ctx._(FILE_AND_WORDS_KEPT),
        )  # fmt: skip
        return Repeat(kept)
    return Repeat(
        ctx._("Please send your location or type the city and address, or choose «Skip».")
    )


@journey.asks(FILES)
async def ask_files(ctx: Context) -> Question:
    draft = _draft(ctx)
    draft["at"] = FILES
    count = len(draft.get("files", []))
    if count:
        text = ctx._("Files received: {count}. Send more, or choose «Send the request».").format(
            count=count
        )
        choice = ctx.choice(DONE, "Send the request", *DONE_WORDS, *SKIP_WORDS)
    else:
        text = ctx._(
            "Do you have photos or documents that help — a contract, a page of your passport, "
            "a receipt? Send them now. If you have none, choose «Send without photos»."
        )
        choice = ctx.choice(SKIP, "Send without photos", *SKIP_WORDS, *DONE_WORDS)
    return Question(text, (choice,))


@journey.answers(FILES)
async def answer_files(ctx: Context, answer: Answer) -> Outcome:
    draft = _draft(ctx)
    incoming = answer.incoming
    if answer.choice in (SKIP, DONE):
        return await _submit(ctx, draft)
    if (file := _file_of(incoming)) is not None:
        # Without words, the question's count of files is the answer.
        kept = _keep_with_caption(
            ctx, draft, file, _caption(incoming),
            file_kept=None, both_kept=ctx._(FILE_AND_WORDS_KEPT),
        )  # fmt: skip
        return Repeat(kept)
    if answer.kind is Kind.LOCATION and incoming.location is not None:
        draft["location"] = [incoming.location.latitude, incoming.location.longitude]
        return Repeat(ctx._("Thank you, your location is kept."))
    if answer.kind is Kind.TEXT:
        if hint := _add_description(ctx, draft, answer.text):
            return Repeat(hint)
        return Repeat(ctx._("Added to your description."))
    if answer.kind is Kind.MEDIA:
        return Repeat(
            ctx._("Stickers cannot be added to a request. Please send a photo or a document.")
        )
    return ctx.not_understood()


async def _submit(ctx: Context, draft: dict[str, Any]) -> Outcome:
    existing = await open_case_of(ctx.session, ctx.person.id)
    if existing is not None:  # opened meanwhile (the urgent path): add to it, lose nothing
        await _draft_into_case(ctx, existing, draft)
        await _urgent_for_operators(ctx, existing, *_draft_words(draft))
        _clear_draft(draft)
        return _to_case_screen(ctx, NOTE_ADDED)
    location = draft.get("location")
    case = await open_case(
        ctx.session, ctx.cipher, ctx.staff, person=ctx.person,
        reason=HelpReason(draft.get("reason", HelpReason.OTHER)),
        description=draft.get("description", ""), now=ctx.now,
        location=(location[0], location[1]) if location else None,
        attachments=[NewAttachment(**file) for file in draft.get("files", [])],
    )  # fmt: skip
    if place := draft.get("place"):
        await add_person_message(
            ctx.session, ctx.cipher, ctx.staff, case, kind="address", now=ctx.now, text=place
        )
    await _urgent_for_operators(ctx, case, *_draft_words(draft))
    log.info("help case opened case=%s urgent=%s", case.id, case.urgent)
    _clear_draft(draft)
    if not _operators_answer(ctx):
        ctx.say(ctx._(NO_DESK_SENT).format(reference=case.reference or ""))
        ctx.say(_contacts(ctx, case.country))
        return _to_case_screen(ctx, NOTE_OPENED)
    ctx.say(
        ctx._(
            "Your help request {reference} has been sent. A consulate operator will answer "
            "you in this chat. We cannot say exactly when, but your request will not be lost."
        ).format(reference=case.reference or "")
    )
    return _to_case_screen(ctx, NOTE_OPENED)


# -- anywhere: a help request's number, and "I am in danger" ----------------------------------


@journey.intercepts
async def intercept(ctx: Context, answer: Answer) -> Outcome | None:
    text = answer.text
    # «I am in danger now» under an earlier message (the screen has changed since, say to
    # the answer screen after an operator wrote) is never a stale button.
    tapped = answer.kind is Kind.BUTTON and answer.incoming.button == DANGER
    here = (ctx.state.journey, ctx.state.step)
    if (
        answer.kind in (Kind.MEDIA, Kind.MEDIA_REFUSED)
        and not _own_words_asked(ctx)
        and here not in FILE_SCREENS
    ):
        return await _distress_in_a_caption(ctx, answer)
    if not tapped:
        if answer.kind not in (Kind.TEXT, Kind.COMMAND) or not text:
            return None
        if reference := references.parse_reference(text, references.HELP_CASE):
            return await _show_reference(ctx, reference)
    if tapped or distress_key(text) in _danger_keys(ctx):
        if not ctx.person.has_consented:
            return _consent_first(ctx)
        return await open_danger(ctx)
    if answer.kind is Kind.TEXT and not _own_words_asked(ctx):
        return await _distress(ctx, answer)
    return None


def _danger_keys(ctx: Context) -> set[str]:
    labels = ctx.catalogs.in_every_locale(REASON_LABELS[HelpReason.DANGER])
    return {word_key(word) for word in (*labels, *DANGER_WORDS)}


def _consent_first(ctx: Context) -> Repeat:
    """No request without consent: the emergency contacts, and the way to consent."""
    ctx.say(_contacts(ctx, ctx.person.country))
    ctx.say(
        ctx._(
            "To send a request to the consulate's operators, please first agree to "
            "the privacy notice: choose «Privacy notice and consent» in the main menu."
        )
    )
    return Repeat()


def _own_words_asked(ctx: Context) -> bool:
    """Whether the question asked takes the person's own words: a free-text question (an
    appeal's text, an answer to an operator), this journey's screens (its steps read pleas
    and danger themselves), the check-in's «Are you safe?» (pleas are its answers), the
    guidance (words typed on its screens are searched for)."""
    here = (ctx.state.journey, ctx.state.step)
    return ctx.state.free_text or here[0] in (journey.name, GUIDANCE) or here == CHECKIN_QUESTION


async def _distress(ctx: Context, answer: Answer) -> Outcome | None:
    """Words of danger or a plea where no words of the person's own are asked for (the main
    menu, a survey's question, a form's options): the urgent path, the words kept for the
    operator; for a plea the Help screen (its first option is «I am in danger now»), or the
    open request, which the plea joins. None for anything else, and for the person's code
    word, whatever it reads like (the check-in's interceptor keeps it covert), and while a
    code-word request is open, which takes the words with no Help screen shown. The words may
    be a caption: its photo goes with them (to the request, or kept for a new one)."""
    danger = names_danger(answer.text)
    if not danger and not is_a_plea(answer.text):
        return None
    if await checkins.is_code_word(ctx.session, ctx.cipher, ctx.person.id, answer.text):
        return None
    if not ctx.person.has_consented:
        return _consent_first(ctx)
    if await open_case_of(ctx.session, ctx.person.id) is None and (
        covert := await open_case_of(ctx.session, ctx.person.id, include_covert=True)
    ):
        # A code-word request is open, and no other: the words join it as any others do
        # (add_to_open_case; the operators see danger as urgent) and nothing of Help shows,
        # its emergency screens least of all: someone else may be looking at the phone.
        if await _add_to_case(ctx, covert, answer) is None:
            log.info("help case message from the menu case=%s", covert.id)
        return ctx.not_understood()
    file = _file_of(answer.incoming)
    if danger:
        if file is not None:
            _keep_file(_draft(ctx), file)
        return await open_danger_with(ctx, answer)
    if (joined := await add_to_open_case(ctx, answer)) is not None:  # the file, its caption
        return joined
    if file is not None:
        _keep_file(_draft(ctx), file)
    return Go(journey.name)


async def _distress_in_a_caption(ctx: Context, answer: Answer) -> Outcome | None:
    """A photo of an injury or of a taken passport, words of danger or a plea under it: as
    the same words typed (`_distress`), the file kept with them."""
    caption = clean_text(answer.incoming.text)
    if not caption:
        return None
    return await _distress(ctx, Answer(incoming=answer.incoming, choice=None, text=caption))


async def open_danger_with(ctx: Context, answer: Answer) -> Outcome:
    """The urgent path for someone whose message names danger: what they wrote is the new
    request's description (or is added to the open one), for the operator to read."""
    kept = _add_description(ctx, _draft(ctx), answer.text) is None
    outcome = await open_danger(ctx)
    case = None if kept else await open_case_of(ctx.session, ctx.person.id)
    if case is not None and (hint := await _add_to_case(ctx, case, answer)):
        ctx.say(hint)
    return outcome


async def _show_reference(ctx: Context, reference: str) -> Outcome:
    case = await case_of_person(ctx.session, ctx.person.id, reference)
    if case is None:
        return Repeat(
            ctx._(
                "None of your help requests has the number {reference}. Please check the number."
            ).format(reference=reference)
        )
    if case.status == CaseStatus.CLOSED:
        if await open_case_of(ctx.session, ctx.person.id) is not None:
            # Another request is open: that one is where they write; this one stays closed.
            return Repeat(_closed_heading(ctx, case, await _case_label(ctx, case)))
        _draft(ctx)[VIEWING] = reference
        here = (ctx.state.journey, ctx.state.step)
        return Go(journey.name, CLOSED, remember=here != (journey.name, CLOSED))
    return _to_case_screen(ctx, None)


# -- a closed request: reopening it -----------------------------------------------------------


def _reopen_window(ctx: Context, case: HelpCase) -> bool:
    window = ctx.settings.case_reopen_window
    return bool(window) and can_reopen(case, ctx.now, window)


async def _reopenable(ctx: Context) -> HelpCase | None:
    """The person's latest request, when it is closed and may still be reopened."""
    last = await last_case_of(ctx.session, ctx.person.id)
    return last if last is not None and _reopen_window(ctx, last) else None


def _day(ctx: Context, moment: datetime) -> str:
    return format_datetime(
        moment, "d MMMM y", tzinfo=zone_of(ctx.person.country), locale=ctx.locale
    )


def _reopen_until(ctx: Context, case: HelpCase) -> str:
    assert case.closed_at is not None
    return _day(ctx, case.closed_at + ctx.settings.case_reopen_window)


def _reopen_label(ctx: Context, case: HelpCase) -> str:
    return ctx._(REOPEN_LABEL).format(reference=case.reference or "")


def _reopen_choice(ctx: Context, case: HelpCase) -> Choice:
    """«Reopen my request HR-…»: its words in any locale, or a word like "reopen", pick it."""
    reference = case.reference or ""
    labels = [
        text.format(reference=reference) for text in ctx.catalogs.in_every_locale(REOPEN_LABEL)
    ]
    keys = {match_key(text) for text in (*labels, *REOPEN_WORDS)}
    return Choice(
        id=f"{REOPEN_PREFIX}{reference}",
        label=_reopen_label(ctx, case),
        keys=tuple(sorted(key for key in keys if key)),
    )


def _reopen_offer(ctx: Context, case: HelpCase, about: str, *, closed_said: bool) -> str:
    if closed_said:  # the line just before says it was closed
        text = ctx._(
            "If the problem is not solved, you can reopen the request {reference} until {date}: "
            "choose «{reopen}»."
        )
    else:
        text = ctx._(
            "Your help request {reference} («{reason}») is closed. If the problem is not "
            "solved, you can reopen it until {date}: choose «{reopen}»."
        )
    offer = text.format(
        reference=case.reference or "", reason=about, date=_reopen_until(ctx, case),
        reopen=_reopen_label(ctx, case),
    )  # fmt: skip
    if _has_draft(_draft(ctx)):
        offer += " " + ctx._("What you sent will then be added to it.")
    return offer


def _too_late(ctx: Context, case: HelpCase) -> str:
    if ctx.settings.case_reopen_window and case.closed_at is not None:
        return ctx._(
            "The request {reference} could be reopened until {date}; that time has passed. "
            "If you still need help, please send a new request."
        ).format(reference=case.reference or "", date=_reopen_until(ctx, case))
    return ctx._(
        "The request {reference} can no longer be reopened. If you still need help, please "
        "send a new request."
    ).format(reference=case.reference or "")


def _closed_heading(ctx: Context, case: HelpCase, about: str) -> str:
    return ctx._("Your help request {reference} («{reason}»): {status}.").format(
        reference=case.reference or "",
        reason=about,
        status=ctx._(STATUS_LABELS[CaseStatus.CLOSED]),
    )


async def _viewed(ctx: Context) -> HelpCase | None:
    """The closed request the CLOSED step shows (None when it is not closed any more)."""
    reference = _draft(ctx).get(VIEWING)
    if not reference:
        return None
    case = await case_of_person(ctx.session, ctx.person.id, reference)
    return case if case is not None and case.status == CaseStatus.CLOSED else None


@journey.asks(CLOSED)
async def ask_closed(ctx: Context) -> Question:
    case = await _viewed(ctx)
    if case is None or await open_case_of(ctx.session, ctx.person.id) is not None:
        return await ask_start(ctx)  # reopened or replaced meanwhile: the usual Help screen
    lines = [_closed_heading(ctx, case, await _case_label(ctx, case))]
    choices: list[Choice] = []
    if _reopen_window(ctx, case):
        lines.append(
            ctx._("If the problem is not solved, you can reopen it until {date}.").format(
                date=_reopen_until(ctx, case)
            )
        )
        if _has_draft(_draft(ctx)):
            lines.append(ctx._("What you sent will then be added to it."))
        choices.append(_reopen_choice(ctx, case))
    else:
        lines.append(_too_late(ctx, case))
    choices += [
        ctx.choice(NEW, "New help request"),
        ctx.choice(LEAVE, "Main menu", "menu", "menyu", "меню"),
    ]
    return Question("\n".join(lines), tuple(choices))


@journey.answers(CLOSED)
async def answer_closed(ctx: Context, answer: Answer) -> Outcome:
    choice = answer.choice
    if choice and choice.startswith(REOPEN_PREFIX):
        # Too late: the question, asked again, says so.
        return await _reopen(ctx, choice.removeprefix(REOPEN_PREFIX), late_hint=False)
    if choice == NEW:
        _draft(ctx).pop(VIEWING, None)
        _draft(ctx)[NOTE] = NOTE_FRESH
        return Go(journey.name, START)
    if choice == LEAVE:
        return GoHome()
    # What the person wrote or sent instead is kept, as on the usual Help screen.
    return await answer_start(ctx, answer)


async def _reopen(ctx: Context, reference: str, *, late_hint: bool) -> Outcome:
    """Reopen the person's closed request: back in the operators' queue (its thread too, and
    the staff group is told), with whatever the person had sent meanwhile; then its screen."""
    if (current := await open_case_of(ctx.session, ctx.person.id)) is not None:
        ctx.say(
            ctx._("You already have an open help request {reference}.").format(
                reference=current.reference or ""
            )
        )
        return _to_case_screen(ctx, NOTE_OPENED)
    case = await case_of_person(ctx.session, ctx.person.id, reference)
    if case is None or case.status != CaseStatus.CLOSED:
        return ctx.not_understood()
    if not _reopen_window(ctx, case):
        return Repeat(_too_late(ctx, case) if late_hint else None)
    await reopen_case(ctx.session, ctx.cipher, ctx.staff, case, now=ctx.now)
    draft = _draft(ctx)
    kept = _has_draft(draft)
    await _draft_into_case(ctx, case, draft)
    await _urgent_for_operators(ctx, case, *_draft_words(draft))
    _clear_draft(draft)
    draft.pop(VIEWING, None)
    log.info("help case reopened case=%s", case.id)
    if _operators_answer(ctx):
        again = ctx._(
            "Your help request {reference} is open again. A consulate operator will answer you "
            "in this chat."
        )
    else:
        again = ctx._("Your help request {reference} is open again.") + " " + ctx._(NO_DESK_LINE)
    ctx.say(again.format(reference=case.reference or ""))
    if kept:
        ctx.say(ctx._("What you sent has been added to it."))
    return _to_case_screen(ctx, NOTE_OPENED)
