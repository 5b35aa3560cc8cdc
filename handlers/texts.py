"""Texts more than one journey shows."""

from handlers.conversation import Context


def emergency_contacts(ctx: Context) -> str:
    # Every number here is in ../shared/domain/FACTS.md with its source; keep them in step.
    return ctx._(
        "Contacts for urgent help:\n"
        "• In immediate danger, call the local police.\n"
        "• Türkiye: 157 — free, day and night, also for reports of human trafficking.\n"
        "• South Korea: 1345 — immigration contact centre (+82-1345 from abroad), "
        "weekdays 09:00–22:00, in 20 languages; Gyeonggi province: 1661-0222, "
        "also in Uzbek and Russian.\n"
        "• Russia: Migration Agency office in Moscow, +7 925 045 4744.\n"
        "• Legal help from Uzbekistan: short number 12-82 and the Telegram bot "
        "@huquqiyyordamuzbot.\n"
        "• Consulates and appointments: consulate.mfa.uz and e-navbat.mfa.uz.\n"
        "The numbers for Russia and for legal help come from news reports: "
        "please check them before you rely on them."
    )


def coming_soon(ctx: Context) -> str:
    return ctx._("This section is not ready yet: we are building it. Please look again soon.")
