"""Gettext catalogs (``<locale>/LC_MESSAGES/messages.po``) made from ``messages.pot``."""

from pathlib import Path

LOCALES_DIR = Path(__file__).parent
