"""Translations for channel-free code: a translator per locale, chosen per person, passed in.

Catalogs are the `.po` files under `locales/`; they are compiled in memory at start, so there
is no `.mo` file that could be stale or forgotten.
"""

import gettext
import io
from collections.abc import Iterable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from locales import LOCALES_DIR

LOCALES: tuple[str, ...] = ("uz_Latn", "uz_Cyrl", "ru")
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a message for extraction where it is defined; it is translated where it is shown."""
    return message


# Words of the chat's own requests («СВЯЗАТЬ 123456», «СЕМЬЯ 12345678») in Russian; the
# other Cyrillic ones (БОҒЛАШ, УЛАШ, ОИЛА) are Uzbek.
_RUSSIAN_REQUEST_WORDS = frozenset({"связать", "привязать", "семья", "semya"})
_UZBEK_LATIN_REQUEST_WORDS = frozenset({"bogʻlash", "bog'lash", "boglash", "ulash", "oila"})


def locale_of_request(text: str) -> str | None:
    """The language the word a request begins with tells, for a reply to someone who has not
    chosen one yet (WhatsApp gives none): «СВЯЗАТЬ …» is Russian, «ОИЛА …» Uzbek in
    Cyrillic, «oila …» in Latin; None for «LINK», «FAMILY» or a bare number."""
    words = text.split(maxsplit=1)
    first = words[0].casefold().strip(".,:;!?-«»\"'") if words else ""
    if first in _RUSSIAN_REQUEST_WORDS:
        return "ru"
    if any("\u0400" <= char <= "\u04ff" for char in first):
        return "uz_Cyrl"
    if first.replace("`", "'").replace("’", "'") in _UZBEK_LATIN_REQUEST_WORDS:
        return "uz_Latn"
    return None


def guess_locale(language_code: str | None) -> str | None:
    """A first guess from a platform's language code ("uz", "ru-RU", "uz-Cyrl" …)."""
    if not language_code:
        return None
    code = language_code.replace("_", "-").lower()
    if code.startswith("uz"):
        return "uz_Cyrl" if "cyrl" in code else "uz_Latn"
    if code.startswith("ru"):
        return "ru"
    return None


class Translator:
    def __init__(self, locale: str, translations: gettext.NullTranslations) -> None:
        self.locale = locale
        self._translations = translations

    def gettext(self, message: str) -> str:
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self._translations.ngettext(singular, plural, count)


def compile_catalog(po_file: Path) -> gettext.GNUTranslations:
    with po_file.open("rb") as source:
        catalog = read_po(source)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as msgfmt does
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Catalogs:
    """Every locale's translator, loaded once per application."""

    def __init__(self, directory: Path = LOCALES_DIR, locales: Iterable[str] = LOCALES) -> None:
        self._translators = {
            locale: Translator(
                locale, compile_catalog(directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po")
            )
            for locale in locales
        }

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._translators)

    def translator(self, locale: str) -> Translator:
        return self._translators[locale]

    def in_every_locale(self, message: str) -> list[str]:
        return [translator.gettext(message) for translator in self._translators.values()]
