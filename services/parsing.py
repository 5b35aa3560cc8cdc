"""Reading what people type into the values a form needs: dates, phone numbers, passport and
ID-card numbers, personal numbers, names and places.

Every parser takes any text and never raises: it returns the value, normalised, or a refusal
code that the handler turns into a short message in the person's language. Normalising is
idempotent (a normalised value parses to itself), so a value can be shown, typed back and
stored again without drifting.
"""

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import phonenumbers

from services.text import APOSTROPHES, clean_text, match_key

# -- dates ---------------------------------------------------------------------------------

MIN_YEAR, MAX_YEAR = 1900, 2100


class DateError(enum.StrEnum):
    UNREADABLE = "unreadable"  # not a date at all
    TWO_DIGIT_YEAR = "two_digit_year"  # 29.11.26: which century?
    NO_SUCH_DATE = "no_such_date"  # 31.02.2026, month 13
    YEAR_OUT_OF_RANGE = "year_out_of_range"  # 1850, 2300
    IN_FUTURE = "in_future"
    IN_PAST = "in_past"
    TOO_OLD = "too_old"
    TOO_YOUNG = "too_young"
    BEFORE_BIRTH = "before_birth"
    NOT_AFTER_ARRIVAL = "not_after_arrival"


# Month names as match_key writes them (Latin, lower case, no apostrophes): Uzbek in both
# scripts, Russian in the nominative and the genitive ("29 ноября"), English in full and short,
# and the short forms people write in Uzbek and Russian ("12 дек. 1990", "12 yan 1990"; a dot
# is not part of the key). Cyrillic reaches here transliterated: "янв" is "yanv", "ноя" is
# "noya", "ийн" is "iyn", "май" is "may". A short form must name one month: "iyu" (June or
# July) and "ma" (March or May) are left out.
_MONTH_WORDS: dict[int, tuple[str, ...]] = {
    1: ("yanvar", "yanvarya", "january", "jan", "yan", "yanv"),
    2: ("fevral", "fevralya", "february", "feb", "fev", "fevr"),
    3: ("mart", "marta", "march", "mar"),
    4: ("aprel", "aprelya", "april", "apr"),
    5: ("may", "maya"),
    6: ("iyun", "iyunya", "june", "jun", "iyn"),
    7: ("iyul", "iyulya", "july", "jul", "iyl"),
    8: ("avgust", "avgusta", "august", "aug", "avg"),
    9: ("sentabr", "sentyabr", "sentyabrya", "september", "sep", "sept", "sen", "sent"),
    10: ("oktabr", "oktyabr", "oktyabrya", "october", "oct", "okt"),
    11: ("noyabr", "noyabrya", "november", "nov", "noy", "noya", "noyab"),
    12: ("dekabr", "dekabrya", "december", "dec", "dek"),
}
MONTHS = {word: month for month, words in _MONTH_WORDS.items() for word in words}
# Words that may stand around a date without changing it: "2026-yil", "2026 г.", "года",
# English ordinals ("29th").
_DATE_FILLERS = {"yil", "yili", "y", "g", "god", "goda", "gg", "st", "nd", "rd", "th", "of"}
_DATE_TOKEN = re.compile(r"[0-9]+|[a-z]+")
_DATE_TEXT_LIMIT = 60


def parse_date(text: str) -> date | DateError:
    """A date as people type it: 29.11.2026, 29/11/2026, 29-11-2026, 2026-11-29,
    "29 noyabr 2026", "29 ноября 2026", "29 ноябр 2026", "29 November 2026",
    "2026-yil 29-noyabr", "29 нояб. 2026", "29 noy 2026". The day comes before the month;
    years need four digits."""
    if len(text) > _DATE_TEXT_LIMIT:
        return DateError.UNREADABLE
    key = match_key(text)
    tokens = _DATE_TOKEN.findall(key)
    if not tokens or "".join(tokens) != key.replace(" ", ""):
        return DateError.UNREADABLE  # something that is neither a number nor a word
    words = [t for t in tokens if not t.isdigit() and t not in _DATE_FILLERS]
    numbers = [t for t in tokens if t.isdigit()]
    if len(words) > 1 or any(len(n) > 4 for n in numbers):
        return DateError.UNREADABLE
    if words:
        month = MONTHS.get(words[0])
        if month is None or len(numbers) != 2:
            return DateError.UNREADABLE
        long_numbers = [n for n in numbers if len(n) == 4]
        if any(len(n) == 3 for n in numbers) or len(long_numbers) > 1:
            return DateError.UNREADABLE
        if not long_numbers:
            return DateError.TWO_DIGIT_YEAR
        year = int(long_numbers[0])
        day = int(next(n for n in numbers if len(n) != 4))
    else:
        if len(numbers) != 3:
            return DateError.UNREADABLE
        if len(numbers[0]) == 4 and all(len(n) <= 2 for n in numbers[1:]):
            year, month, day = (int(n) for n in numbers)
        elif len(numbers[2]) == 4 and all(len(n) <= 2 for n in numbers[:2]):
            day, month, year = (int(n) for n in numbers)
        elif all(len(n) <= 2 for n in numbers):
            return DateError.TWO_DIGIT_YEAR
        else:
            return DateError.UNREADABLE
    if not MIN_YEAR <= year <= MAX_YEAR:
        return DateError.YEAR_OUT_OF_RANGE
    try:
        return date(year, month, day)
    except ValueError:
        return DateError.NO_SUCH_DATE


def format_date(value: date) -> str:
    """How dates are shown: 29.11.2026 (read the same way in all three locales)."""
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"


def latest_local_date(now: datetime) -> date:
    """The latest date it can be anywhere on Earth now (UTC+14): "not in the future" must
    not refuse today's date to someone in Korea while it is still yesterday in UTC."""
    return (now + timedelta(hours=14)).date()


def years_between(earlier: date, later: date) -> int:
    """Full years from `earlier` to `later` (an age)."""
    years = later.year - earlier.year
    if (later.month, later.day) < (earlier.month, earlier.day):
        years -= 1
    return years


MAX_AGE = 120
# Who may register themselves here: a project rule to confirm with the consular service.
MIN_AGE = 14


def check_birth_date(value: date, now: datetime) -> DateError | None:
    today = latest_local_date(now)
    if value > today:
        return DateError.IN_FUTURE
    age = years_between(value, now.date())
    if age > MAX_AGE:
        return DateError.TOO_OLD
    if age < MIN_AGE:
        return DateError.TOO_YOUNG
    return None


def check_arrival_date(value: date, now: datetime, birth: date | None) -> DateError | None:
    if value > latest_local_date(now):
        return DateError.IN_FUTURE
    if birth is not None and value < birth:
        return DateError.BEFORE_BIRTH
    return None


def check_expected_end(value: date, today: date, arrival: date | None) -> DateError | None:
    """The planned end of a stay being registered: from `today` (where the person lives) on,
    and after the arrival."""
    if value < today:
        return DateError.IN_PAST
    if arrival is not None and value <= arrival:
        return DateError.NOT_AFTER_ARRIVAL
    return None


# -- phone numbers -------------------------------------------------------------------------


class PhoneError(enum.StrEnum):
    UNREADABLE = "unreadable"  # letters or other characters that are not a phone number
    INVALID = "invalid"  # digits, but no valid number (for the country, or with its code)


_PHONE_CHARS = re.compile(r"^\+?[0-9 ()\-.]+$")
_PHONE_TEXT_LIMIT = 40


def parse_phone(text: str, region: str | None) -> str | PhoneError:
    """A phone number in E.164 (+79161234567). `region` (ISO alpha-2, the country the person
    lives in) is where a number without "+" is dialled; a number with "+" and its country
    code may be from anywhere."""
    value = clean_text(text).replace("\u00a0", " ")
    if not value or len(value) > _PHONE_TEXT_LIMIT or not _PHONE_CHARS.match(value):
        return PhoneError.UNREADABLE
    if value.startswith("00"):  # the international prefix typed instead of "+"
        value = "+" + value[2:]
    region_code = (region or "").upper() or None
    try:
        number = phonenumbers.parse(value, region_code)
    except phonenumbers.NumberParseException:
        return PhoneError.INVALID
    if not phonenumbers.is_valid_number(number):
        return PhoneError.INVALID
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """A stored number as people read it: +7 916 123-45-67."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def example_phone(region: str | None) -> str:
    """A mobile number of the country, to show how to write one."""
    number = phonenumbers.example_number_for_type(
        (region or "").upper() or "RU", phonenumbers.PhoneNumberType.MOBILE
    )
    if number is None:
        number = phonenumbers.example_number_for_type("RU", phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# -- passport, ID card and personal numbers ------------------------------------------------


class DocumentError(enum.StrEnum):
    WRONG_FORMAT = "wrong_format"


# Cyrillic letters that look like Latin ones, typed by mistake in a series ("АА", "АВ").
_LOOK_ALIKES = str.maketrans("АВЕКМНОРСТУХавекмнорстух", "ABEKMHOPCTYXABEKMHOPCTYX")
_DOCUMENT_SEPARATORS = re.compile(r"[\s\-–—._/№#]+")
_DOCUMENT = re.compile(r"^[A-Z]{2}[0-9]{7}$")
_DOCUMENT_TEXT_LIMIT = 40


def parse_document_number(text: str) -> str | DocumentError:
    """An Uzbek passport number: two Latin letters and seven digits, AA1234567. Accepts
    "aa 1234567", "AA-1234567" and Cyrillic look-alike letters ("АА1234567").

    The ID card's number is read the same way: two letters and seven digits is the shape
    this code is certain of for the passport; the ID card's exact series were not verified,
    so the same shape is accepted for it (see the report/README)."""
    if len(text) > _DOCUMENT_TEXT_LIMIT:
        return DocumentError.WRONG_FORMAT
    # Separators go before NFKC too ("№" would become "No") and again after (full-width ones).
    value = unicodedata.normalize("NFKC", _DOCUMENT_SEPARATORS.sub("", clean_text(text)))
    value = _DOCUMENT_SEPARATORS.sub("", value).translate(_LOOK_ALIKES).upper()
    if not value.isascii() or not _DOCUMENT.match(value):
        return DocumentError.WRONG_FORMAT
    return value


PERSONAL_NUMBER_LENGTH = 14
_DIGIT_SEPARATORS = re.compile(r"[\s\-.]+")


def parse_personal_number(text: str) -> str | None:
    """The 14-digit personal number (JShShIR / ПИНФЛ), spaces and hyphens ignored; None when
    it is not 14 digits."""
    if len(text) > 60:
        return None
    value = _DIGIT_SEPARATORS.sub("", clean_text(text))
    if len(value) == PERSONAL_NUMBER_LENGTH and value.isascii() and value.isdigit():
        return value
    return None


# -- names and places ----------------------------------------------------------------------


class FullNameError(enum.StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    CYRILLIC = "cyrillic"  # written in Cyrillic: passports write names in Latin
    BAD_CHARACTERS = "bad_characters"  # digits, emoji, punctuation
    ONE_WORD = "one_word"  # at least a surname and a given name


NAME_LIMIT = 100
_APOSTROPHE_CLASS = re.escape(APOSTROPHES)
_NAME_WORD = re.compile(rf"^[A-Z](?:[A-Z{_APOSTROPHE_CLASS}]|-(?=[A-Z]))*$")
_OKINA = "\u02bb"  # oʻ, gʻ
_TUTUQ = "\u02bc"  # the glottal stop


def _uzbek_apostrophes(word: str) -> str:
    """Any apostrophe after O or G becomes ʻ (oʻ, gʻ); any other becomes ʼ."""
    out: list[str] = []
    for position, char in enumerate(word):
        if char in APOSTROPHES:
            out.append(_OKINA if position and word[position - 1] in "OG" else _TUTUQ)
        else:
            out.append(char)
    return "".join(out)


def parse_full_name(text: str) -> str | FullNameError:
    """A full name as in the passport, in Latin letters: "KARIMOVA DILNOZA", upper case,
    single spaces, oʻ/gʻ with ʻ and the glottal stop with ʼ."""
    value = clean_text(text).replace("\n", " ")
    if not value:
        return FullNameError.EMPTY
    if len(value) > NAME_LIMIT:
        return FullNameError.TOO_LONG
    if any(unicodedata.name(char, "").startswith("CYRILLIC") for char in value):
        return FullNameError.CYRILLIC
    value = re.sub(r"\s*-\s*", "-", value).upper()
    words = value.split()
    if not all(_NAME_WORD.match(word) for word in words):
        return FullNameError.BAD_CHARACTERS
    if len(words) < 2:
        return FullNameError.ONE_WORD
    return " ".join(_uzbek_apostrophes(word) for word in words)


class PlaceError(enum.StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_CHARACTERS = "bad_characters"
    DIGITS = "digits"  # where only a name is wanted: digits mean an address or a number


CITY_LIMIT = 100  # the registration's plain `city` column holds 100
ADDRESS_LIMIT = 300
_CITY_PUNCTUATION = set(" -.,()") | set(APOSTROPHES)
_ADDRESS_PUNCTUATION = set(' -.,()/#№:"«»') | set(APOSTROPHES)


@dataclass(frozen=True)
class _PlaceRule:
    limit: int
    punctuation: frozenset[str]
    digits: bool
    min_letters: int


_CITY = _PlaceRule(CITY_LIMIT, frozenset(_CITY_PUNCTUATION), digits=False, min_letters=2)
_ADDRESS = _PlaceRule(ADDRESS_LIMIT, frozenset(_ADDRESS_PUNCTUATION), digits=True, min_letters=2)


def _place(text: str, rule: _PlaceRule) -> str | PlaceError:
    lines = [line.strip(" ,") for line in clean_text(text).splitlines()]
    value = ", ".join(line for line in lines if line)
    if not value:
        return PlaceError.EMPTY
    if len(value) > rule.limit:
        return PlaceError.TOO_LONG
    letters, digits = 0, False
    for char in value:
        if char.isalpha():
            letters += 1
        elif char.isdigit() and not rule.digits:
            digits = True
        elif not (char in rule.punctuation or char.isdigit()):
            return PlaceError.BAD_CHARACTERS
    if digits:
        return PlaceError.DIGITS
    if letters < rule.min_letters:
        return PlaceError.BAD_CHARACTERS
    return value


def parse_city(text: str) -> str | PlaceError:
    """A city or town, in any script: letters, spaces, hyphens, dots, brackets. No digits:
    the city is kept in the clear for the statistics, and digits there are an address."""
    return _place(text, _CITY)


def parse_address(text: str) -> str | PlaceError:
    """An address in any script: letters, digits and the punctuation addresses use; lines
    joined with commas."""
    return _place(text, _ADDRESS)
