"""Canned replies: short answers operators insert with a code ("#wait"), sent in the
person's language. One TOML file per locale, `locales/<locale>/canned.toml`:

    [wait]
    text = "…"

Every code must exist in every locale; the library is checked at start-up.
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from locales import LOCALES_DIR
from services.i18n import LOCALES

CODE = re.compile(r"^[a-z][a-z0-9_]{1,23}$")
MARKER = "#"


class CannedError(ValueError):
    """The canned replies are incomplete or malformed; the message says where."""


@dataclass(frozen=True)
class CannedLibrary:
    replies: dict[str, dict[str, str]]  # code → locale → text

    @property
    def codes(self) -> list[str]:
        return sorted(self.replies)

    def text(self, code: str, locale: str) -> str | None:
        return self.replies.get(code, {}).get(locale)

    def expand(self, message: str, locale: str) -> str | None:
        """An operator's "#code" (alone, or followed by their own words) as the person reads
        it; None when the message does not start with a known code. The code ends at the
        first space or line break; the operator's words keep their line breaks."""
        first, *words = message.split(maxsplit=1) or [""]
        rest = words[0] if words else ""
        if not first.startswith(MARKER):
            return None
        text = self.text(first[len(MARKER) :].lower(), locale)
        if text is None:
            return None
        return f"{text}\n\n{rest.strip()}" if rest.strip() else text


def load_canned(directory: Path = LOCALES_DIR) -> CannedLibrary:
    by_locale: dict[str, dict[str, str]] = {}
    for locale in LOCALES:
        path = directory / locale / "canned.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise CannedError(f"{path}: {error}") from error
        entries: dict[str, str] = {}
        for code, entry in data.items():
            text = entry.get("text") if isinstance(entry, dict) else None
            if not CODE.match(code) or not isinstance(text, str) or not text.strip():
                raise CannedError(f"{path}: [{code}] needs a code of a-z, 0-9, _ and a text")
            entries[code] = text.strip()
        by_locale[locale] = entries
    codes = {code for entries in by_locale.values() for code in entries}
    for locale, entries in by_locale.items():
        if missing := sorted(codes - set(entries)):
            raise CannedError(f"{locale}/canned.toml lacks {', '.join(missing)}")
    return CannedLibrary({code: {lc: by_locale[lc][code] for lc in LOCALES} for code in codes})
