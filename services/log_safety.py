"""Describing failures for logs without personal data.

Exception messages can carry what a person typed or SQL parameters, so logs get the
exception's type and where it was raised, never its message.
"""

import traceback


def failure_summary(error: BaseException) -> str:
    """ "ValueError at handlers/menu.py:42 in answer_main" — no message, no values."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return type(error).__name__
    last = frames[-1]
    return f"{type(error).__name__} at {last.filename}:{last.lineno} in {last.name}"
