"""Emergency and consulate contacts, for the country a person is in.

Every number and fact below is in domain/FACTS.md (the project's only source of facts), with
its source and confidence noted next to it here. Facts of medium (M) or low (L) confidence
are worded "check before relying on it". Never add a number that is not in FACTS.md; where a
number is not known, the text says so and whom to ask instead.

Consulate contacts are data the deploying organisation maintains (FACTS.md: "keep consulate
contacts as data …, each entry with its source, ship only verified entries"): one JSON file,
`services/data/consulates.json` by default or the file the CONSULATES_FILE setting names. It
is read and checked at start-up (a malformed entry stops it); only entries marked
`"verified": true` are shown; for any country without one, people are pointed to mfa.uz.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.countries import country_codes, country_name
from services.i18n import LOCALES, N_, Translator

DEFAULT_CONSULATES_FILE = Path(__file__).resolve().parent / "data" / "consulates.json"

# -- the facts --------------------------------------------------------------------------------

HEADING = N_("Emergency contacts:")
HEADING_FOR_COUNTRY = N_("Emergency contacts — {country}:")
# FACTS.md gives no police number per country: we do not invent one.
POLICE = N_("• If you are in immediate danger, call the local police.")

# Per country, the lines shown for it (in this order).
COUNTRY_LINES: dict[str, tuple[str, ...]] = {
    "TR": (
        # 157 (YİMER): 24/7, free, takes trafficking reports. H — hurriyetdailynews.com
        N_("• 157 (YİMER): free, day and night; also takes reports of human trafficking."),
    ),
    "KR": (
        # 1345 Immigration Contact Center, +82-1345 from abroad, 20 languages, weekdays
        # 09:00–22:00. H — korea.net
        N_(
            "• 1345: immigration contact centre (+82-1345 from abroad), 20 languages, "
            "weekdays 09:00–22:00."
        ),
        # Gyeonggi 1661-0222 incl. Uzbek and Russian. H — english.gg.go.kr
        N_("• Gyeonggi province: 1661-0222, also in Uzbek and Russian."),
        # 1577-0071 foreign-worker call centre (HUG), 16 languages. M — koreatimes
        N_(
            "• 1577-0071: call centre for foreign workers, 16 languages "
            "(from a news report: check before relying on it)."
        ),
    ),
    "RU": (
        # Migration Agency office in Russia: +7 925 045 4744, Moscow, 1-y Kazachiy per. 11/2.
        # M — yuz.uz (2025 notice to international truck drivers)
        N_(
            "• Migration Agency of Uzbekistan, office in Moscow (1-y Kazachiy pereulok 11/2): "
            "+7 925 045 4744 (from a news report: check before relying on it)."
        ),
        # "Russia: no official national trafficking hotline found." FACTS.md
        N_(
            "• We found no official national hotline in Russia for victims of human "
            "trafficking. Contact the consulate, or send a help request in this chat."
        ),
        # Voice/video calls in WhatsApp and Telegram partly blocked since Aug 2025; text
        # works. H — thediplomat.com
        N_(
            "• In Russia, calls in Telegram and WhatsApp may not work; "
            "text messages do. Call from an ordinary phone line."
        ),
    ),
    "KZ": (
        # "Kazakhstan: an NGO-run hotline exists, number not found." FACTS.md
        N_(
            "• A non-governmental organisation runs a hotline for victims of human "
            "trafficking, but we could not confirm its number. Contact the consulate, "
            "or send a help request in this chat."
        ),
    ),
}
# The countries with lines of their own, in the order the general list shows them.
LISTED_COUNTRIES = ("TR", "KR", "RU", "KZ")

EVERYWHERE = (
    # Short number 12-82 and @huquqiyyordamuzbot (legal help). M — yuz.uz/a/ru/129171
    N_(
        "• Legal help from Uzbekistan: short number 12-82 and the Telegram bot "
        "@huquqiyyordamuzbot (from a news report: check before relying on it)."
    ),
)
# FACTS.md: "otherwise point to mfa.uz"; consulate.mfa.uz and e-navbat.mfa.uz. H —
# darakchi.uz/ru/86775; e-navbat.mfa.uz
CONSULATES_ELSEWHERE = N_(
    "• Consulates of Uzbekistan and their phone numbers: mfa.uz. "
    "Consular registration: consulate.mfa.uz; appointments: e-navbat.mfa.uz."
)
CONSULATES_HERE = N_("• Consulates of Uzbekistan in this country:")


# -- consulates, as data ----------------------------------------------------------------------


class ConsulateFileError(ValueError):
    """The consulates file cannot be used as it is; the message says what to fix."""


@dataclass(frozen=True)
class Consulate:
    country: str  # ISO 3166 alpha-2
    city: Mapping[str, str] = field(hash=False)  # per locale
    name: Mapping[str, str] = field(hash=False)
    phone: str
    address: Mapping[str, str] = field(hash=False)
    source: str
    verified: bool
    districts: tuple[str, ...] = ()  # the regions it serves, for routing

    def line(self, locale: str) -> str:
        return f"  {self.name[locale]}, {self.city[locale]}: {self.phone}; {self.address[locale]}"


_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,30}$")
_REQUIRED = ("country", "city", "name", "phone", "address", "source", "verified")
_KNOWN = {*_REQUIRED, "districts"}


def _localized(item: Mapping[str, Any], key: str) -> Mapping[str, str]:
    """A text shown as is in every language, or one text per locale (all three)."""
    value = item.get(key)
    if isinstance(value, str) and value.strip():
        return dict.fromkeys(LOCALES, value.strip())
    if isinstance(value, dict):
        texts = {locale: value.get(locale) for locale in LOCALES}
        missing = [
            locale
            for locale, text in texts.items()
            if not isinstance(text, str) or not text.strip()
        ]
        if missing:
            raise ValueError(f"{key} lacks {', '.join(missing)}")
        return {locale: str(text).strip() for locale, text in texts.items()}
    raise ValueError(f"{key} must be a text, or an object with {', '.join(LOCALES)}")


def _consulate(item: Any) -> Consulate:
    if not isinstance(item, dict):
        raise ValueError("must be an object")
    missing = [key for key in _REQUIRED if key not in item]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    unknown = sorted(set(item) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown field {', '.join(unknown)}")
    country = item["country"]
    if not isinstance(country, str) or country.upper() not in country_codes():
        raise ValueError(f"country {country!r} is not an ISO 3166 code such as RU")
    phone = item["phone"]
    if not isinstance(phone, str) or not _PHONE.match(phone.strip()):
        raise ValueError(f"phone {phone!r} does not look like a phone number")
    source = item["source"]
    if not isinstance(source, str) or not source.strip():
        raise ValueError("source must say where the contact was checked")
    if not isinstance(item["verified"], bool):
        raise ValueError("verified must be true or false")
    districts = item.get("districts", [])
    if not isinstance(districts, list) or not all(isinstance(d, str) for d in districts):
        raise ValueError("districts must be a list of texts")
    return Consulate(
        country=country.upper(),
        city=_localized(item, "city"),
        name=_localized(item, "name"),
        phone=phone.strip(),
        address=_localized(item, "address"),
        source=source.strip(),
        verified=item["verified"],
        districts=tuple(districts),
    )


def read_consulates(path: Path) -> tuple[tuple[Consulate, ...], list[str]]:
    """The usable entries of a consulates file, and what is wrong with the others."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return (), [f"{path}: cannot be read as JSON ({error})"]
    if not isinstance(raw, dict) or not isinstance(raw.get("consulates"), list):
        return (), [f'{path}: expected an object with a list named "consulates"']
    entries: list[Consulate] = []
    problems: list[str] = []
    for number, item in enumerate(raw["consulates"], start=1):
        try:
            entries.append(_consulate(item))
        except ValueError as error:
            problems.append(f"{path}: entry {number}: {error}")
    return tuple(entries), problems


def load_consulates(path: Path) -> tuple[Consulate, ...]:
    """Every entry of a consulates file; ConsulateFileError if any is wrong."""
    entries, problems = read_consulates(path)
    if problems:
        raise ConsulateFileError("; ".join(problems))
    return entries


def consulates_in(consulates: Sequence[Consulate], country: str) -> list[Consulate]:
    """The verified consulates for a country."""
    return [c for c in consulates if c.country == country and c.verified]


# -- the text ---------------------------------------------------------------------------------


def emergency_contacts(
    t: Translator, country: str | None, consulates: Sequence[Consulate] = ()
) -> str:
    """Who to call and write to, for a country; the general list when it is not known."""
    _ = t.gettext
    if country is None:
        lines = [_(HEADING), _(POLICE)]
        for code in LISTED_COUNTRIES:
            lines.append(f"{country_name(code, t.locale)}:")
            lines.extend(_(line) for line in COUNTRY_LINES[code])
        lines.append("")
        lines.extend(_(line) for line in EVERYWHERE)
        lines.append(_(CONSULATES_ELSEWHERE))
        return "\n".join(lines)
    lines = [_(HEADING_FOR_COUNTRY).format(country=country_name(country, t.locale)), _(POLICE)]
    lines.extend(_(line) for line in COUNTRY_LINES.get(country, ()))
    if here := consulates_in(consulates, country):
        lines.append(_(CONSULATES_HERE))
        lines.extend(consulate.line(t.locale) for consulate in here)
    lines.extend(_(line) for line in EVERYWHERE)
    lines.append(_(CONSULATES_ELSEWHERE))
    return "\n".join(lines)
