"""Family and reminders: the hub (document reminders, safety check-in, my family) and the
family links — inviting a relative, confirming or refusing who joined, what they receive,
removing them or leaving.

A relative joins by the Telegram deep link (`/start fam_<code>`: kept by the engine for a new
chat and used here once they chose their language and accepted the privacy notice, see
`join_after_onboarding`) or by sending `FAMILY <code>` (OILA, ОИЛА, СЕМЬЯ) in any chat, even
as the first message (an early interceptor); on a menu or in a new chat also inside the whole
invitation forwarded (WhatsApp forwards whole messages, and the engine sends one message a
turn: the invitation comes with the «My family» list after it). The inviting person is told
by a push and confirms in «My family» (why not engine.prompt:
services.family.request_confirmation).

Once the invitation is made, the person is asked the name the relative knows them by (or
skips it); they can give, change or remove it later on the link's screen. Every message to
the relative about them carries it (services.family.known_as).
"""

from handlers.conversation import (
    BACK,
    MENU,
    Answer,
    Context,
    Go,
    GoBack,
    GoHome,
    Journey,
    Outcome,
    Question,
    Repeat,
    numbered_pick,
)
from handlers.incoming import Kind
from models import FamilyLink
from services import checkins, family, linking
from services.i18n import locale_of_request
from services.messages import Choice, join_texts
from services.text import match_key

journey = Journey("family", first_step="hub", needs_consent=True)

HUB, MEMBERS, RELATION, MEMBER, END = "hub", "members", "relation", "member", "end"
NAME = "name"  # the name the member knows the person by
REMINDERS, CHECKIN, MINE = "reminders", "checkin", "fam:mine"
INVITE, CONFIRM, REFUSE, WITHDRAW = "fam:invite", "fam:confirm", "fam:refuse", "fam:withdraw"
REMOVE, LEAVE, KEEP, END_NOW = "fam:remove", "fam:leave", "fam:keep", "fam:end"
SHARE = "share:"  # + weekly_safe / call_reminders
LINK = "fam:link:"  # + the link's id
REL = "rel:"  # + a key of family.RELATIONS
CURRENT = "link"  # the link shown in the member step (its id, in the answers)
ENDING = "ending"  # remove or leave, for the end step
NAMING = "naming"  # the link whose name is asked (its id, in the answers)
NEW = "naming_new"  # the name step follows a new invitation (else it came from the link)
SKIP, NAME_CHANGE, NAME_CLEAR = "fam:skip", "fam:name", "fam:noname"


def _notifier(ctx: Context) -> family.Notifier:
    return family.Notifier(ctx.cipher, ctx.catalogs, ctx.settings.default_locale)


def _contact_points(ctx: Context) -> tuple[str | None, str | None]:
    """The bot's Telegram username (for the deep link) and WhatsApp number (for the text to
    forward), when the bot is served there; without them the invitation shows the code and
    how to send it."""
    settings = ctx.settings
    return settings.telegram_bot_username, family.whatsapp_number(settings.whatsapp_from)


def _relation(ctx: Context, link: FamilyLink) -> str:
    """Who the member is, in the words of the person who invited them."""
    return family.relation_label(ctx.translator, link.relation)


def _until(ctx: Context, link: FamilyLink) -> str:
    """The last moment the invitation works, in the viewer's local time ("6 December,
    14:00"): a date alone, in UTC, ended partway through the day shown."""
    return checkins.when_text(link.expires_at, checkins.person_zone(ctx.person), ctx.locale)


def _example(code: str) -> str:
    return f"{family.COMMAND_WORD} {code}"  # the same in every language


# -- the hub ----------------------------------------------------------------------------------


@journey.asks(HUB)
async def ask_hub(ctx: Context) -> Question:
    choices: list[Choice] = []
    if REMINDERS in ctx.journeys:
        choices.append(ctx.choice(REMINDERS, "Document reminders"))
    if CHECKIN in ctx.journeys:
        choices.append(ctx.choice(CHECKIN, "Safety check-in"))
    choices.append(ctx.choice(MINE, "My family"))
    choices.append(ctx.choice(MENU, "Main menu"))
    return Question(ctx._("Family and reminders. What would you like to do?"), tuple(choices))


@journey.answers(HUB)
async def answer_hub(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice in (REMINDERS, CHECKIN) and answer.choice in ctx.journeys:
        return Go(answer.choice)
    if answer.choice == MINE:
        return Go(journey.name, MEMBERS)
    return ctx.not_understood()


# -- my family: the list -----------------------------------------------------------------------


def _status_line(ctx: Context, link: FamilyLink) -> str:
    relation = _relation(ctx, link)
    if link.member_id is None:
        return ctx._("{relation}: invitation not used yet (valid until {date})").format(
            relation=relation, date=_until(ctx, link)
        )
    if link.confirmed_at is None:
        return ctx._("{relation}: has joined and waits for your confirmation").format(
            relation=relation
        )
    return ctx._("{relation}: linked").format(relation=relation)


def _membership_line(ctx: Context, link: FamilyLink) -> str:
    """The member's own view of a link: who they are to the relative, in their words, and
    the relative's name as they gave it (a mother linked to two sons tells them apart) once
    they confirmed: nothing of theirs is shared before."""
    relation = family.member_relation_label(ctx.translator, link.relation)
    if link.confirmed_at is None:
        return ctx._(
            "A relative invited you (as: {relation}); waiting for their confirmation"
        ).format(relation=relation)
    if name := family.known_as(ctx.cipher, link):
        return ctx._("A relative ({name}) invited you (as: {relation}); linked").format(
            name=name, relation=relation
        )
    return ctx._("A relative invited you (as: {relation}); linked").format(relation=relation)


def _pick(link: FamilyLink, label: str) -> Choice:
    return Choice(f"{LINK}{link.id}", label, (match_key(label),))


@journey.asks(MEMBERS)
async def ask_members(ctx: Context) -> Question:
    mine = await family.links_of(ctx.session, ctx.person.id, ctx.now)
    theirs = await family.memberships(ctx.session, ctx.person.id)
    # Requests waiting for confirmation first: they are what the person came for.
    mine = sorted(mine, key=lambda link: link.member_id is None or link.confirmed_at is not None)
    lines = [f"• {_status_line(ctx, link)}" for link in mine]
    lines += [f"• {_membership_line(ctx, link)}" for link in theirs]
    if lines:
        text = ctx._("My family:") + "\n" + "\n".join(lines)
    else:
        text = ctx._(
            "You have not invited anyone yet. A family member you invite can receive a weekly "
            "message that you checked in and are safe, and a reminder to keep in touch. "
            "Nothing is shared until you confirm them."
        )
    choices = [ctx.choice(INVITE, "Invite a family member")]
    choices += [_pick(link, _status_line(ctx, link)) for link in mine]
    choices += [_pick(link, _membership_line(ctx, link)) for link in theirs]
    choices += [ctx.choice(BACK, "Back"), ctx.choice(MENU, "Main menu")]
    return Question(text, tuple(choices))


@journey.answers(MEMBERS)
async def answer_members(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == INVITE:
        return Go(journey.name, RELATION)
    if answer.choice and answer.choice.startswith(LINK):
        ctx.answers[CURRENT] = int(answer.choice.removeprefix(LINK))
        return Go(journey.name, MEMBER)
    return ctx.not_understood()


# -- inviting -------------------------------------------------------------------------------------


@journey.asks(RELATION)
async def ask_relation(ctx: Context) -> Question:
    choices = [ctx.choice(f"{REL}{key}", label) for key, label in family.RELATIONS.items()]
    choices.append(ctx.choice(BACK, "Back"))
    return Question(ctx._("Whom do you want to invite?"), tuple(choices))


@journey.answers(RELATION)
async def answer_relation(ctx: Context, answer: Answer) -> Outcome:
    if not (answer.choice and answer.choice.startswith(REL)):
        return ctx.not_understood()
    relation = answer.choice.removeprefix(REL)
    code, link = await family.invite(ctx.session, ctx.cipher, ctx.person.id, relation, ctx.now)
    ctx.send_alone(_invitation_to_forward(ctx, code))
    days = family.INVITATION_LIFETIME.days
    ctx.say(
        join_texts(
            [
                ctx._(
                    "Invitation for: {relation}. The code is {code}. It works once, for {days} "
                    "days. Give it only to this family member."
                ).format(
                    relation=family.relation_label(ctx.translator, relation), code=code, days=days
                ),
                ctx._("Forward them the message above: it says how to join."),
                ctx._("Nothing is shared until you confirm the person who joins."),
            ]
        )
    )
    ctx.answers[NAMING], ctx.answers[NEW] = link.id, True
    # Not remembered: «back» from the name leads to the list, which shows the invitation.
    return Go(journey.name, NAME, remember=False)


def _invitation_to_forward(ctx: Context, code: str) -> str:
    """The invitation as the relative reads it, a message of its own: WhatsApp forwards
    only whole messages, and one that carried the menu under it was not read as a request."""
    username, number = _contact_points(ctx)
    lines = []
    if (link := family.deep_link(username, code)) is not None:
        lines.append(ctx._("On Telegram, open this link and choose your language:") + "\n" + link)
    if number is not None:
        lines.append(
            ctx._("Write to {number} on WhatsApp and send: {example}").format(
                number=number, example=_example(code)
            )
        )
    else:
        lines.append(
            ctx._("Write to Vatandosh in Telegram or WhatsApp and send: {example}").format(
                example=_example(code)
            )
        )
    return join_texts(lines)


# -- one link -------------------------------------------------------------------------------------


async def _current(ctx: Context) -> FamilyLink | None:
    return await family.link_of(ctx.session, ctx.answers.get(CURRENT), ctx.person.id)


def _gone(ctx: Context) -> str:
    return ctx._("This family link no longer exists.")


def _on_off(ctx: Context, value: bool) -> str:
    return ctx._("on") if value else ctx._("off")


@journey.asks(MEMBER)
async def ask_member(ctx: Context) -> Question:
    link = await _current(ctx)
    back = ctx.choice(BACK, "Back")
    if link is None:
        return Question(_gone(ctx), (back, ctx.choice(MENU, "Main menu")))
    relation = _relation(ctx, link)
    if link.member_id == ctx.person.id:
        text = _membership_line(ctx, link)
        return Question(text, (ctx.choice(LEAVE, "Leave this family link"), back))
    name_line, name_choice = _name_shown(ctx, link)
    if link.member_id is None:
        text = ctx._(
            "Invitation for {relation}, not used yet. It works until {date}. "
            "The code was shown when you made the invitation."
        ).format(relation=relation, date=_until(ctx, link))
        return Question(
            join_texts([text, name_line]),
            (ctx.choice(WITHDRAW, "Withdraw the invitation"), name_choice, back),
        )
    if link.confirmed_at is None:
        text = ctx._(
            "Someone has joined with your invitation for {relation} and waits for your "
            "confirmation. Confirm only if you know it is them."
        ).format(relation=relation)
        return Question(
            join_texts([text, name_line]),
            (ctx.choice(CONFIRM, "Confirm"), ctx.choice(REFUSE, "Refuse"), name_choice, back),
        )
    text = join_texts(
        [
            ctx._("{relation} is linked. What they receive, once a week:").format(relation=relation)
            + "\n"
            + ctx._("• that you checked in and are safe (only when you did): {state}").format(
                state=_on_off(ctx, link.share_weekly_safe)
            )
            + "\n"
            + ctx._("• a reminder to keep in touch with you: {state}").format(
                state=_on_off(ctx, link.share_call_reminders)
            ),
            ctx._(
                "Support resources for families and children are not sent: we do not have "
                "verified ones yet."
            ),
            name_line,
        ]
    )
    return Question(
        text,
        (
            ctx.choice(f"{SHARE}weekly_safe", "Switch the «safe» message on or off"),
            ctx.choice(f"{SHARE}call_reminders", "Switch the reminder on or off"),
            name_choice,
            ctx.choice(REMOVE, "Remove from my family"),
            back,
        ),
    )


def _name_shown(ctx: Context, link: FamilyLink) -> tuple[str, Choice]:
    """The name the member sees in their messages (or that there is none), and the choice
    that gives or changes it: the person's own screen of the link."""
    name = family.known_as(ctx.cipher, link)
    if name is None:
        line = ctx._("Messages to them say «your relative»: you can add the name they know you by.")
        return line, ctx.choice(NAME_CHANGE, "Add your name")
    line = ctx._("Name shown to them: {name}").format(name=name)
    return line, ctx.choice(NAME_CHANGE, "Change the name")


@journey.answers(MEMBER)
async def answer_member(ctx: Context, answer: Answer) -> Outcome:
    link = await _current(ctx)
    if link is None:
        return ctx.not_understood()
    is_person = link.person_id == ctx.person.id
    choice = answer.choice or ""
    if choice == CONFIRM and is_person:
        if await family.confirm(ctx.session, _notifier(ctx), link, ctx.now):
            ctx.say(
                ctx._("Confirmed. {relation} will receive what you choose below.").format(
                    relation=_relation(ctx, link)
                )
            )
        return Repeat()
    if choice in (REFUSE, WITHDRAW) and is_person:
        await family.end(ctx.session, _notifier(ctx), link, family.EndedBy.PERSON, ctx.now)
        ctx.say(
            ctx._("Refused. Nothing is shared.")
            if choice == REFUSE
            else ctx._("The invitation has been withdrawn: its code no longer works.")
        )
        return GoBack()
    if choice == NAME_CHANGE and is_person:
        ctx.answers[NAMING], ctx.answers[NEW] = link.id, False
        return Go(journey.name, NAME)
    if choice.startswith(SHARE) and is_person and link.confirmed_at is not None:
        what = choice.removeprefix(SHARE)
        current = link.share_weekly_safe if what == "weekly_safe" else link.share_call_reminders
        family.set_sharing(link, what, not current)
        return Repeat()
    if (choice == REMOVE and is_person) or (choice == LEAVE and not is_person):
        ctx.answers[ENDING] = choice
        return Go(journey.name, END)
    return ctx.not_understood()


# -- the name the member knows the person by ----------------------------------------------------


async def _naming(ctx: Context) -> FamilyLink | None:
    """The link whose name is asked: one the person made."""
    link = await family.link_of(ctx.session, ctx.answers.get(NAMING), ctx.person.id)
    return link if link is not None and link.person_id == ctx.person.id else None


@journey.asks(NAME)
async def ask_name(ctx: Context) -> Question:
    link = await _naming(ctx)
    if link is None:
        return Question(_gone(ctx), (ctx.choice(BACK, "Back"), ctx.choice(MENU, "Main menu")))
    text = ctx._(
        "How does this family member know you? Send the name to show in their messages "
        "(for example «Dilnoza» or «Aziz aka»), so they know whom a message is about."
    )
    if ctx.answers.get(NEW):
        return Question(text, (ctx.choice(SKIP, "Skip"),), free_text=True)
    choices = [ctx.choice(BACK, "Back")]
    if family.known_as(ctx.cipher, link) is not None:
        choices.insert(0, ctx.choice(NAME_CLEAR, "Remove the name"))
    return Question(text, tuple(choices), free_text=True)


@journey.answers(NAME)
async def answer_name(ctx: Context, answer: Answer) -> Outcome:
    link = await _naming(ctx)
    picked = numbered_pick(ctx, answer)  # «1» on WhatsApp is the first option listed
    if link is None or picked == SKIP:
        return _named(ctx)
    if picked == NAME_CLEAR:
        family.set_known_as(ctx.cipher, link, None)
        ctx.say(ctx._("The name is removed: messages to them say «your relative»."))
        return _named(ctx)
    if picked is not None or answer.kind is not Kind.TEXT:
        return ctx.not_understood()
    name = family.clean_name(answer.text)
    problem = family.name_problem(name)
    if problem == family.TOO_LONG:
        return Repeat(
            ctx._("This is too long. Please send a name of up to {limit} characters.").format(
                limit=family.NAME_MAX
            )
        )
    if problem is not None:
        return Repeat(ctx._("Please send the name in letters."))
    family.set_known_as(ctx.cipher, link, name)
    ctx.say(
        ctx._("Saved. Messages to them about you will show the name «{name}».").format(name=name)
    )
    return _named(ctx)


def _named(ctx: Context) -> Outcome:
    """Done with the name: after a new invitation to «My family» (which shows it), else
    back to the link's screen."""
    ctx.answers.pop(NAMING, None)
    new = ctx.answers.pop(NEW, None)
    return _back_to_list(ctx) if new else GoBack()


@journey.asks(END)
async def ask_end(ctx: Context) -> Question:
    link = await _current(ctx)
    if link is None:
        return Question(_gone(ctx), (ctx.choice(BACK, "Back"),))
    if ctx.answers.get(ENDING) == LEAVE:
        name = family.known_as(ctx.cipher, link) if link.confirmed_at is not None else None
        if name:
            text = ctx._(
                "Leave this family link? You will no longer receive messages about your "
                "relative ({name}), and they will be told."
            ).format(name=name)
        else:
            text = ctx._(
                "Leave this family link? You will no longer receive messages about your "
                "relative, and they will be told."
            )
        yes = ctx.choice(END_NOW, "Yes, leave")
    else:
        text = ctx._(
            "Remove {relation} from your family? They will no longer receive messages about "
            "you, and they will be told."
        ).format(relation=_relation(ctx, link))
        yes = ctx.choice(END_NOW, "Yes, remove")
    return Question(text, (ctx.choice(KEEP, "No, keep it"), yes))


@journey.answers(END)
async def answer_end(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == KEEP:
        return GoBack()
    if answer.choice != END_NOW:
        return ctx.not_understood()
    link = await _current(ctx)
    if link is not None:
        by = family.EndedBy.PERSON if link.person_id == ctx.person.id else family.EndedBy.MEMBER
        await family.end(ctx.session, _notifier(ctx), link, by, ctx.now)
        ctx.say(
            ctx._("Done: you have left the family link.")
            if by is family.EndedBy.MEMBER
            else ctx._("Done: they are no longer in your family.")
        )
    ctx.answers.pop(ENDING, None)
    ctx.answers.pop(CURRENT, None)
    return _back_to_list(ctx)


def _back_to_list(ctx: Context) -> Outcome:
    """To «My family», forgetting the steps of the link that just ended."""
    history = ctx.state.history
    while history and tuple(history[-1]) != (journey.name, MEMBERS):
        history.pop()
    return GoBack() if history else Go(journey.name, MEMBERS, remember=False)


# -- joining with a code ----------------------------------------------------------------------


@journey.intercepts_early
async def join_by_code(ctx: Context, answer: Answer) -> Outcome | None:
    """`FAMILY 12345678` in any chat, at any time; `/start fam_12345678` in a chat that has
    already chosen its language (a new chat keeps the payload until it has)."""
    from handlers import onboarding  # onboarding imports this module for its hook

    if answer.kind is Kind.COMMAND:
        if answer.incoming.command != "start" or not family.is_family_payload(answer.text):
            return None
        request = family.JoinRequest(family.code_from_payload(answer.text))
        if not onboarding.is_complete(ctx):
            return None  # the engine keeps the payload; joining follows onboarding
    else:
        found = family.read_request(
            answer.text,
            pasted=not ctx.state.free_text,
            code_alone=not onboarding.is_complete(ctx),
        )
        if found is None:
            return None
        request = found
        if ctx.person.locale is None and (tongue := locale_of_request(answer.text)):
            ctx.use_locale(tongue)  # this reply only: «СЕМЬЯ …» is answered in Russian
    if not onboarding.is_complete(ctx) or not ctx.person.has_consented:
        if request.code is not None:
            ctx.state.answers_of("start")["payload"] = family.PAYLOAD_PREFIX + request.code
        hint = ctx._(
            "To join your family member, first choose your language and accept the privacy "
            "notice; then you join automatically."
        )
        if onboarding.is_complete(ctx):  # declined the privacy notice before
            ctx.say(hint)
            return Go("onboarding", "consent")
        return Repeat(hint)
    return GoHome() if await _join(ctx, request.code, answer) else Repeat()


async def join_after_onboarding(ctx: Context, answer: Answer) -> bool:
    """The onboarding hook: a kept `fam_<code>` start payload, once the person accepted the
    privacy notice, joins them (what happened is said). False when there was none."""
    start = ctx.state.answers_of("start")
    payload = start.get("payload")
    if not family.is_family_payload(payload):
        return False
    start.pop("payload", None)
    await _join(ctx, family.code_from_payload(payload), answer)
    return True


async def _join(ctx: Context, code: str | None, answer: Answer) -> bool:
    """Use the code for this person; say what happened. True when they joined."""
    if code is None:
        ctx.say(
            ctx._("The code has {digits} digits. Please send it like this: {example}").format(
                digits=family.CODE_DIGITS, example=_example("12345678")
            )
        )
        return False
    chat = (answer.incoming.channel, answer.incoming.external_id)
    if (wait := await linking.blocked_for(ctx.session, ctx.cipher, *chat, ctx.now)) is not None:
        ctx.say(_too_many(ctx, wait.total_seconds()))
        return False
    result = await family.join(ctx.session, ctx.cipher, code, ctx.person, ctx.now)
    if result is family.Refusal.WRONG:
        wait = await linking.record_wrong(ctx.session, ctx.cipher, *chat, ctx.now)
        if wait is not None:
            ctx.say(_too_many(ctx, wait.total_seconds()))
        else:
            ctx.say(
                ctx._(
                    "This family code does not work: it may be mistyped, already used, "
                    "withdrawn or older than {days} days. Please ask your relative for a new "
                    "invitation."
                ).format(days=family.INVITATION_LIFETIME.days)
            )
        return False
    if result is family.Refusal.OWN:
        ctx.say(ctx._("This is your own invitation: send the code to your family member."))
        return False
    if result is family.Refusal.WAITING:
        ctx.say(
            ctx._(
                "You have already joined with your relative's invitation. They have not "
                "confirmed you yet; we will tell you when they do."
            )
        )
        return False
    if result is family.Refusal.LINKED:
        ctx.say(
            ctx._(
                "You are already in your relative's family: they have confirmed you. "
                "Nothing more is needed."
            )
        )
        return False
    await family.request_confirmation(ctx.session, _notifier(ctx), result, ctx.now)
    ctx.say(
        ctx._(
            "Thank you. We have asked your relative to confirm you as a family member and "
            "will tell you when they do. Nothing about them is shared until then."
        )
    )
    return True


def _too_many(ctx: Context, seconds: float) -> str:
    minutes = max(1, int(-(-seconds // 60)))
    return ctx._("Too many wrong codes from this chat. Please try again in {minutes} min.").format(
        minutes=minutes
    )
