"""Safety check-in (opt-in, against trafficking), reached from «Family and reminders».

- **Settings** (step "main"): switch on with an interval of 1, 3 or 7 days, see when the
  next check-in is, change it, switch it off; set, change or remove a code word; answer a
  check-in still waiting, or a missed one late (on WhatsApp, with no buttons under earlier
  messages, the only way once the question scrolled away). With notifications stopped
  (STOP) in every chat the check-ins are paused, and the settings say so and how to turn
  notifications on again (services/checkins.py: the family and operators are told once).
  Check-ins go by the person's local time: one whose country nothing has told yet is asked
  it first (step "country", as the reminders ask it; «I am in Uzbekistan» keeps Tashkent's
  time), and a plan switched on before that says it runs on Tashkent time and offers it.
- **The check-in** (step "ask"): the scheduler (scheduler/checkins.py) asks "Are you safe?"
  with ConversationEngine.prompt; «I am safe» thanks and puts the person back where they
  were; «I need help» opens the urgent case of the Help journey's danger path (the same
  function, so the emergency numbers and the case come in the very first reply). Typed, a
  whole-message «yes» or «all is well» is «I am safe», and a «no» or «I am not safe» is
  «I need help» (compared with ё as е, in either Uzbek script).
- **An earlier check-in's buttons** (an interceptor): «I need help» tapped under any earlier
  «Are you safe?», whatever the screen now, is «I need help» — answered then or not, missed
  or not (things change; someone may have typed «menu» on the person's phone while it was
  asked). «I am safe» there answers a check-in still waiting (a missed one too, late: the
  family hears it); with nothing waiting it only says the check-in is already answered.
  Without consent (withdrawn since the question was asked) «I need help» there shows the
  emergency contacts and how to consent, as the Help journey does; «I am safe» is stale.
- **The code word** (step "code_word", and an interceptor): typed anywhere, it opens an
  urgent case marked as a covert danger signal, and the reply is only the main menu, as if
  nothing had happened. The word is never logged nor stored (only a keyed hash).
"""

import logging
from dataclasses import replace
from datetime import datetime

from handlers import help as help_journey
from handlers.conversation import (
    BACK,
    MENU,
    START_WORDS,
    STOP_WORDS,
    Answer,
    Context,
    Go,
    GoBack,
    GoHome,
    Journey,
    Outcome,
    Question,
    Repeat,
)
from handlers.incoming import Kind
from handlers.pickers import LocalTimeCountry
from models import CheckinStatus, HelpReason
from services import checkins
from services.help_cases import REASON_LABELS
from services.i18n import N_
from services.messages import Choice
from services.text import search_key

log = logging.getLogger(__name__)

journey = Journey("checkin", first_step="main", needs_consent=True)

MAIN, ASK, CODE_WORD, COUNTRY = "main", "ask", "code_word", "country"
EVERY = "every:"  # "every:3"
OFF, SET_CODE, REMOVE_CODE, ANSWER_NOW = "off", "code", "code_off", "answer"
SAFE, NEED_HELP = "safe", "need_help"
SET_COUNTRY, AT_HOME = "where", "at_home"
INTERVAL = "interval"  # in the answers: the interval chosen while the country is asked
# Check-ins are asked in the person's local time: a person whose country nothing has told
# (a registration or a help request sets it) is asked it before switching them on.
WHERE = LocalTimeCountry(at_home=AT_HOME)

EVERY_LABELS = {1: N_("Every day"), 3: N_("Every 3 days"), 7: N_("Every 7 days")}
EVERY_TEXTS = {1: N_("every day"), 3: N_("every 3 days"), 7: N_("every 7 days")}
SAFE_LABEL = N_("I am safe")
HELP_LABEL = N_("I need help")
# Typed answers, each the whole message (compared by search_key: either script, ё as е). A
# sentence is neither: «Xavf yoʻq, hammasi yaxshi», «Я не в опасности» are asked again.
SAFE_WORDS = (
    "ok", "okay", "ha", "xa", "ҳа", "да", "yes",
    "xavfsizman", "men xavfsizman", "хавфсизман", "hammasi yaxshi", "ha, hammasi yaxshi",
    "yaxshi", "yaxshiman", "men yaxshiman", "hammasi joyida", "hammasi normal",
    "всё хорошо", "да, всё хорошо", "всё нормально", "да, всё нормально", "всё в порядке",
    "хорошо", "нормально", "я в безопасности", "в безопасности",
)  # fmt: skip
HELP_WORDS = ("yordam", "yordam kerak", "ёрдам керак", "помощь", "нужна помощь", "help", "sos")
# «No» to «Are you safe?» is «I need help», alone or with pleas («Нет, помогите»). Not words
# of distress anywhere else (a «нет» in the main menu is no plea), so apart from HELP_WORDS.
NOT_SAFE_WORDS = (
    "yoʻq", "нет", "no", "xavfsiz emasman", "men xavfsiz emasman", "xavfsiz emas",
    "я не в безопасности", "не в безопасности",
)  # fmt: skip
_SAFE_KEYS = frozenset(search_key(word) for word in SAFE_WORDS)
_NOT_SAFE_KEYS = frozenset(search_key(word) for word in (*HELP_WORDS, *NOT_SAFE_WORDS))
ALREADY_ANSWERED = N_("You have already answered this check-in. Thank you.")
# Words the chat already understands everywhere (the engine's universal words, STOP and
# START): a code word equal to one of them would never reach the interceptor.
TAKEN_WORDS = (
    "menu", "menyu", "asosiy menyu", "bosh menyu", "главное меню", "в меню", "меню",
    "back", "orqaga", "ortga", "назад", "cancel", "bekor", "bekor qilish", "отмена",
    "отменить", "help", "language", "til", "язык", "сменить язык", "link", "ulash",
    *STOP_WORDS, *START_WORDS,
)  # fmt: skip


def _every(ctx: Context, days: int) -> str:
    return ctx._(EVERY_TEXTS[days])


def _when(ctx: Context, moment: datetime | None) -> str:
    assert moment is not None
    return checkins.when_text(moment, checkins.person_zone(ctx.person), ctx.locale)


# -- the settings ----------------------------------------------------------------------------


def _change_plan(ctx: Context, interval_days: int) -> list[Choice]:
    """The other intervals, and switching the check-ins off."""
    return [
        *(
            ctx.choice(f"{EVERY}{days}", EVERY_LABELS[days])
            for days in checkins.INTERVALS
            if days != interval_days
        ),
        ctx.choice(OFF, "Switch off the check-ins"),
    ]


@journey.asks(MAIN)
async def ask_main(ctx: Context) -> Question:
    plan = await checkins.plan_of(ctx.session, ctx.person.id)
    waiting = await checkins.unanswered_checkin(ctx.session, ctx.person.id)
    lines: list[str] = []
    choices: list[Choice] = []
    if waiting is not None and waiting.status == CheckinStatus.MISSED:
        lines.append(
            ctx._(
                "You did not answer the last safety check-in in time. You can still answer it now."
            )
        )
        choices.append(ctx.choice(ANSWER_NOW, "Answer the check-in now"))
    elif waiting is not None:
        lines.append(ctx._("A safety check-in is waiting for your answer."))
        choices.append(ctx.choice(ANSWER_NOW, "Answer the check-in now"))
    stopped = await checkins.cannot_be_asked_since(ctx.session, ctx.person.id) is not None
    if plan is not None and plan.interval_days is not None and stopped:
        lines.append(
            ctx._(
                "Safety check-in is paused: notifications are turned off (STOP), so we cannot "
                "ask you «Are you safe?». The family members linked to you and the consulate's "
                "operators are told that the check-in could not be asked. To turn "
                "notifications on again, send START."
            )
        )
        choices += _change_plan(ctx, plan.interval_days)
    elif plan is not None and plan.interval_days is not None and plan.next_checkin_at is not None:
        every, when = _every(ctx, plan.interval_days), _when(ctx, plan.next_checkin_at)
        if WHERE.unknown(ctx):  # switched on before the country was asked
            lines.append(
                ctx._(
                    "Safety check-in is on: we ask «Are you safe?» {every}. The next check-in: "
                    "{when} (Tashkent time). Tell us which country you are in, and the "
                    "check-ins follow your local time."
                ).format(every=every, when=when)
            )
            choices.append(ctx.choice(SET_COUNTRY, "Choose my country"))
        else:
            lines.append(
                ctx._(
                    "Safety check-in is on: we ask «Are you safe?» {every}. The next check-in: "
                    "{when} (your local time)."
                ).format(every=every, when=when)
            )
        lines.append(
            ctx._(
                "If you do not answer within a few hours (night hours do not count), the "
                "family members linked to you and the consulate's operators are told."
            )
        )
        choices += _change_plan(ctx, plan.interval_days)
    else:
        lines.append(
            ctx._(
                "Safety check-in: we ask you «Are you safe?» every 1, 3 or 7 days, never at "
                "night. If you do not answer within a few hours (night hours do not count), "
                "the family members linked to you and the consulate's operators are told. "
                "How often should we ask?"
            )
        )
        choices += [ctx.choice(f"{EVERY}{days}", EVERY_LABELS[days]) for days in checkins.INTERVALS]
    if plan is not None and plan.code_word_hash is not None:
        lines.append(ctx._("Your code word is set."))
        choices.append(ctx.choice(SET_CODE, "Change the code word"))
        choices.append(ctx.choice(REMOVE_CODE, "Remove the code word"))
    else:
        lines.append(
            ctx._(
                "You can also set a code word: if you are in danger and cannot write openly, "
                "send only this word, and the consulate's operators get an urgent signal."
            )
        )
        choices.append(ctx.choice(SET_CODE, "Set a code word"))
    choices += [ctx.choice(BACK, "Back"), ctx.choice(MENU, "Main menu")]
    return Question("\n\n".join(lines), tuple(choices))


@journey.answers(MAIN)
async def answer_main(ctx: Context, answer: Answer) -> Outcome:
    choice = answer.choice or ""
    if choice.startswith(EVERY) and choice.removeprefix(EVERY).isdigit():
        days = int(choice.removeprefix(EVERY))
        if days in checkins.INTERVALS and WHERE.unknown(ctx):
            ctx.answers[INTERVAL] = days
            return Go(journey.name, COUNTRY)
        if days in checkins.INTERVALS:
            await _switch_on(ctx, days)
            return Repeat()
    if choice == SET_COUNTRY:
        ctx.answers.pop(INTERVAL, None)
        return Go(journey.name, COUNTRY)
    if choice == OFF:
        await checkins.switch_off(ctx.session, ctx.person.id, ctx.now)
        ctx.say(ctx._("The safety check-in is switched off."))
        if await checkins.open_checkin(ctx.session, ctx.person.id) is not None:
            ctx.say(ctx._("The check-in already asked still waits for your answer."))
        return Repeat()
    if choice == SET_CODE:
        return Go(journey.name, CODE_WORD)
    if choice == REMOVE_CODE:
        await checkins.remove_code_word(ctx.session, ctx.person.id, ctx.now)
        ctx.say(ctx._("The code word is removed."))
        return Repeat()
    if choice == ANSWER_NOW:
        return Go(journey.name, ASK)
    return ctx.not_understood()


async def _switch_on(ctx: Context, days: int) -> None:
    plan = await checkins.switch_on(ctx.session, ctx.person, days, ctx.now)
    ctx.say(
        ctx._("Done: the safety check-in is {every}. The first one: {when}.").format(
            every=_every(ctx, days), when=_when(ctx, plan.next_checkin_at)
        )
    )


@journey.asks(COUNTRY)
async def ask_country(ctx: Context) -> Question:
    why = ctx._("I need it to ask you at your local time, never at night.")
    return WHERE.question(ctx, why, ctx.choice(BACK, "Back"))


@journey.answers(COUNTRY)
async def answer_country(ctx: Context, answer: Answer) -> Outcome:
    """The country known (a planned check-in follows it), the interval chosen is switched on;
    back to the settings."""
    if (not_yet := await WHERE.read(ctx, answer)) is not None:
        return not_yet
    days = ctx.answers.pop(INTERVAL, None)
    if days in checkins.INTERVALS:
        await _switch_on(ctx, days)
    return GoBack()


# -- the check-in ----------------------------------------------------------------------------


@journey.asks(ASK)
async def ask_checkin(ctx: Context) -> Question:
    return Question(
        ctx._("Safety check-in. Are you safe? Please choose one answer."),
        (
            ctx.choice(SAFE, SAFE_LABEL, *SAFE_WORDS),
            ctx.choice(NEED_HELP, HELP_LABEL, *HELP_WORDS, *NOT_SAFE_WORDS),
        ),
    )


def _settled(ctx: Context) -> None:
    """Every check-in waiting is answered: their questions still pending (waiting on a
    Help screen, or not out yet when answered from the settings) are not asked again."""
    ctx.state.pending = [asked for asked in ctx.state.pending if asked.journey != journey.name]


def _typed_choice(text: str) -> str | None:
    """SAFE or NEED_HELP for a whole typed answer the choices' own words missed (they are
    compared without folding ё: «Все хорошо» for «всё хорошо»), else None."""
    key = search_key(text)
    if key in _NOT_SAFE_KEYS:
        return NEED_HELP
    if key in _SAFE_KEYS:
        return SAFE
    return None


async def _record_safe(ctx: Context) -> bool:
    """«I am safe»: every check-in waiting takes it (a missed one late: the family hears
    it); thanks and the next time. False when nothing was waiting (and nothing is said)."""
    answered = await checkins.answer(
        ctx.session, ctx.cipher, ctx.staff, ctx.person, CheckinStatus.SAFE, ctx.now
    )
    if answered is None:
        return False
    ctx.say(ctx._("Thank you. We are glad you are safe."))
    plan = await checkins.plan_of(ctx.session, ctx.person.id)
    paused = await checkins.cannot_be_asked_since(ctx.session, ctx.person.id) is not None
    if plan is not None and plan.next_checkin_at is not None and not paused:
        ctx.say(ctx._("The next check-in: {when}.").format(when=_when(ctx, plan.next_checkin_at)))
    return True


async def _need_help(ctx: Context, typed: Answer | None = None) -> Outcome:
    """«I need help»: every check-in waiting takes it, and the Help journey's danger path
    opens — the numbers and an urgent case in this reply; what they `typed` («меня бьют…»)
    is the case's description, for the operator to read."""
    session, cipher, desk = ctx.session, ctx.cipher, ctx.staff
    await checkins.answer(session, cipher, desk, ctx.person, CheckinStatus.HELP, ctx.now)
    if typed is not None:
        outcome = await help_journey.open_danger_with(ctx, typed)
    else:
        outcome = await help_journey.open_danger(ctx)
    await checkins.note_help_answer(session, cipher, desk, ctx.person, ctx.now)
    return outcome


@journey.answers(ASK)
async def answer_checkin(ctx: Context, answer: Answer) -> Outcome:
    if answer.kind is Kind.TEXT and answer.choice is not None and await _is_code_word(ctx, answer):
        # A code word chosen before it became one of the answers («хорошо»): still the signal.
        return await _covert_signal(ctx)
    typed_help = answer.choice is None and help_journey.asks_for_help_at_the_check_in(
        answer.text, NOT_SAFE_WORDS
    )
    if typed_help:
        answer = replace(answer, choice=NEED_HELP)  # «Нет, помогите!», «меня бьют…»
    elif answer.choice is None and answer.kind is Kind.TEXT:
        answer = replace(answer, choice=_typed_choice(answer.text))  # «Всё хорошо», «Нет»
    if answer.choice in (SAFE, NEED_HELP):
        _settled(ctx)
    if answer.choice == SAFE:
        await _record_safe(ctx)
        return GoBack()
    if answer.choice == NEED_HELP:
        return await _need_help(ctx, answer if typed_help else None)
    return Repeat(
        ctx._("Please choose «{safe}» or «{help}».").format(
            safe=ctx._(SAFE_LABEL), help=ctx._(HELP_LABEL)
        )
    )


# -- the code word ---------------------------------------------------------------------------


@journey.asks(CODE_WORD)
async def ask_code_word(ctx: Context) -> Question:
    return Question(
        ctx._(
            "Type the code word: an ordinary word you would not otherwise write here, for "
            "example the name of a fruit (at least 3 letters). If one day you are in danger "
            "and cannot write openly, send only this word: we answer with the main menu only, "
            "so that nobody near you notices, and the consulate's operators get an urgent "
            "signal at once. The word is stored in a form nobody can read."
        ),
        (ctx.choice(BACK, "Back"),),
        free_text=True,
    )


@journey.answers(CODE_WORD)
async def answer_code_word(ctx: Context, answer: Answer) -> Outcome:
    if answer.kind is not Kind.TEXT or not answer.text:
        return Repeat(ctx._("Please type the code word in letters."))
    pleas = (word for words in help_journey.PLEA_WORDS.values() for word in words)
    reserved = (*TAKEN_WORDS, *_choice_words(ctx), *help_journey.DANGER_WORDS, *pleas)
    problem = checkins.code_word_problem(answer.text, reserved)
    if problem == checkins.TOO_LONG:
        return Repeat(
            ctx._("This is too long. Please choose one word of up to {limit} characters.").format(
                limit=checkins.CODE_WORD_MAX
            )
        )
    if problem == checkins.NO_LETTERS:
        return Repeat(ctx._("Please type the code word in letters."))
    if problem == checkins.TOO_SHORT:
        return Repeat(ctx._("Please choose a word of at least 3 letters."))
    if problem == checkins.RESERVED:
        return Repeat(
            ctx._("This word already has a meaning in this chat. Please choose another word.")
        )
    await checkins.set_code_word(ctx.session, ctx.cipher, ctx.person.id, answer.text, ctx.now)
    ctx.say(
        ctx._(
            "Your code word is saved. For safety, you may now delete your message with the "
            "word from this chat."
        )
    )
    return GoBack()


def _choice_words(ctx: Context) -> list[str]:
    """The check-in's own answers, in every locale: no new code word may be one of them (an
    older one still wins over them, typed to the check-in: answer_checkin)."""
    words = [*SAFE_WORDS, *HELP_WORDS, *NOT_SAFE_WORDS]
    for label in (SAFE_LABEL, HELP_LABEL, REASON_LABELS[HelpReason.DANGER]):
        words += ctx.catalogs.in_every_locale(label)
    return words


@journey.intercepts
async def intercept(ctx: Context, answer: Answer) -> Outcome | None:
    """The code word, typed anywhere: a covert urgent case; the reply is the main menu. And
    the buttons of an earlier «Are you safe?», tapped anywhere (the engine offers a button
    of an earlier message to the interceptors)."""
    if answer.kind is Kind.BUTTON and not ctx.person.has_consented:
        return _help_without_consent(ctx) if answer.incoming.button == NEED_HELP else None
    if answer.kind is Kind.BUTTON:
        return await _earlier_button(ctx, answer.incoming.button)
    if answer.kind is not Kind.TEXT or not answer.text or not ctx.person.has_consented:
        return None
    if (ctx.state.journey, ctx.state.step) == (journey.name, CODE_WORD):
        return None  # choosing a new word (perhaps the same) is not a signal
    if not await _is_code_word(ctx, answer):
        return None
    return await _covert_signal(ctx)


def _help_without_consent(ctx: Context) -> Outcome:
    """«I need help» from a person without consent (under a check-in asked before they
    withdrew it): no request can be sent for them, but the emergency contacts at once."""
    _settled(ctx)
    return help_journey._consent_first(ctx)


async def _is_code_word(ctx: Context, answer: Answer) -> bool:
    return await checkins.is_code_word(ctx.session, ctx.cipher, ctx.person.id, answer.text)


async def _covert_signal(ctx: Context) -> Outcome:
    await checkins.covert_signal(ctx.session, ctx.cipher, ctx.staff, ctx.person, ctx.now)
    _settled(ctx)  # «Are you safe?» shown afterwards would break the promise of the menu only
    return GoHome()


async def _earlier_button(ctx: Context, button: str | None) -> Outcome | None:
    """A check-in's button under an earlier message. «I need help» is always a call for help,
    answered or missed, whatever the screen now: the urgent path, as from the question
    itself. «I am safe» answers a check-in still waiting; else it was answered already."""
    if button == NEED_HELP:
        _settled(ctx)
        return await _need_help(ctx)
    if button == SAFE:
        if await _record_safe(ctx):
            _settled(ctx)
        else:
            ctx.say(ctx._(ALREADY_ANSWERED))
        return Repeat()
    return None
