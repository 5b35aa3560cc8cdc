"""Errors that stop a command with one line for the terminal (kept apart from bot.app, so the
commands that never build the application can catch them without importing it)."""


class StartupError(Exception):
    """Start-up cannot go on; the message says why in one line."""
