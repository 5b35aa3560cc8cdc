"""A first message that is a request with its own word — «СВЯЗАТЬ 123456», «СЕМЬЯ 12345678»
— on WhatsApp, which gives no language: the reply is in the language of that word (it was in
Uzbek Latin only), as a plea's is. The language picker follows as for any first message."""

import pytest

from tests.test_whatsapp import WhatsAppHarness

NEWCOMER = "+79001112233"


def t(wa: WhatsAppHarness, locale: str, message: str) -> str:
    return wa.app.catalogs.translator(locale).gettext(message)


@pytest.mark.parametrize(
    ("first", "locale"),
    [("СЕМЬЯ 12345678", "ru"), ("ОИЛА 12345678", "uz_Cyrl"), ("oila 12345678", "uz_Latn")],
)
async def test_a_family_code_as_a_first_message_is_answered_in_its_words_language(
    wa: WhatsAppHarness, first: str, locale: str
) -> None:
    reply = await wa.say(NEWCOMER, first)

    assert reply.startswith(
        t(
            wa, locale,
            "To join your family member, first choose your language and accept the privacy "
            "notice; then you join automatically.",
        )
    )  # fmt: skip


@pytest.mark.parametrize(
    ("first", "locale"), [("Привязать 12345", "ru"), ("БОҒЛАШ 12345", "uz_Cyrl")]
)
async def test_a_link_code_as_a_first_message_is_answered_in_its_words_language(
    wa: WhatsAppHarness, first: str, locale: str
) -> None:
    reply = await wa.say(NEWCOMER, first)

    hint = t(wa, locale, "The code has {digits} digits. Please send it like this: {example}")
    assert reply.startswith(hint.split("{digits}")[0])


async def test_a_chosen_language_is_kept(wa: WhatsAppHarness) -> None:
    await wa.onboard(NEWCOMER, "1")  # Oʻzbekcha (lotin)

    reply = await wa.say(NEWCOMER, "Привязать 12345")

    hint = t(wa, "uz_Latn", "The code has {digits} digits. Please send it like this: {example}")
    assert reply.startswith(hint.split("{digits}")[0])
