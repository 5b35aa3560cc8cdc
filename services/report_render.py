"""The analytical report (services/report.py) as files: one self-contained HTML page (charts
drawn by matplotlib, inline as base64 PNG; readable offline, printable), JSON, or CSV.

CSV is one file per table (`<table name>.csv`, UTF-8 with a byte-order mark so spreadsheet
programs read Cyrillic right, a header row of column ids): each table has its own columns, and
one file per table opens directly as a sheet. JSON and CSV keep codes (country "RU", category
"unpaid_wages", sex "female") for machines; the HTML shows them as words in the report's
locale. Suppressed cells are the same in every format: "<5" for a count under 5, "…" for one
of 5 or more hidden so that no "<5" can be worked out from the others (services/report.py).
Days, months and the time it was made are Tashkent's (`Report.zone`); the HTML's period line
says so, and JSON gives the zone with the period.
"""

import base64
import csv
import html
import io
import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # no display; before anything else of matplotlib is imported

from matplotlib.figure import Figure

from models import AppealCategory, AppealStatus, BroadcastStatus, HelpReason, RegistrationKind
from services import appeals, help_cases
from services.countries import country_name
from services.i18n import N_, Translator
from services.report import (
    COLUMNS,
    MEASURES,
    SUPPRESSED,
    TITLES,
    WITHHELD,
    Cell,
    Report,
    Table,
)

HTML_MIME_TYPE = "text/html"
HTML_LANG = {"uz_Latn": "uz-Latn", "uz_Cyrl": "uz-Cyrl", "ru": "ru"}

SEX_LABELS = {"female": N_("Female"), "male": N_("Male")}
KIND_LABELS = {
    RegistrationKind.TEMPORARY.value: N_("Temporary"),
    RegistrationKind.PERMANENT.value: N_("Permanent"),
}
THREAD_KIND_LABELS = {"help": N_("Help request"), "appeal": N_("Appeal")}
URGENCY_LABELS = {True: N_("urgent"), False: N_("not urgent")}
BROADCAST_STATUS_LABELS = {
    BroadcastStatus.SENDING: N_("Being queued"),
    BroadcastStatus.DONE: N_("Queued in full"),
    BroadcastStatus.CANCELLED: N_("Cancelled"),
}
BY_LABELS = {"category": COLUMNS["category"], "country": COLUMNS["country"]}
HEADING = N_("Vatandosh: analytical report")
PERIOD = N_(
    "Period: {start} — {end}. {country}. Made on {made}. All dates and times are Tashkent "
    "time ({offset})."
)
PRIVACY = N_(
    "Only totals are shown, so that nobody can be singled out: a number under 5 is shown as "
    "«<5»; «…» is a number of 5 or more, hidden because a «<5» could otherwise be worked out "
    "from the other numbers; percentiles are left out for fewer than 5 cases."
)
EMPTY = N_("Nothing in this period.")
ALL_COUNTRIES = N_("All countries")
COLOURS = ("#1f5f8b", "#d9822b", "#5a9e4b", "#b94a48", "#7d5ba6", "#8c6d31", "#3a8fb7")


def report_json(report: Report, t: Translator) -> str:
    document = {
        "period": {
            "from": report.start.isoformat(),
            "to": report.end.isoformat(),
            "zone": report.zone,
        },
        "country": report.country,
        "locale": report.locale,
        "generated_at": report.generated_at.isoformat(),
        "suppressed": (
            f"counts under 5 are {SUPPRESSED!r}; {WITHHELD!r} is a count of 5 or more hidden so "
            f"that no {SUPPRESSED!r} can be worked out from the others; percentiles need 5 values"
        ),
        "tables": {
            table.name: {
                "title": t.gettext(TITLES[table.name]),
                "columns": list(table.columns),
                "rows": table.as_dicts(),
            }
            for table in report.tables
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def report_csv(report: Report) -> dict[str, str]:
    """{file name: content}, one per table."""
    files = {}
    for table in report.tables:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)
        files[f"{table.name}.csv"] = "\ufeff" + buffer.getvalue()
    return files


# -- HTML ---------------------------------------------------------------------------------------


class _Words:
    """Codes as words in the report's locale."""

    def __init__(self, t: Translator, locale: str) -> None:
        self.t, self.locale = t, locale

    def cell(self, column: str, value: Cell, row: dict[str, Cell]) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.1f}"
        t = self.t.gettext
        text = str(value)
        if column == "country" or (column == "group" and row.get("by") == "country"):
            return country_name(text, self.locale) if text else "—"
        if column == "sex" and text in SEX_LABELS:
            return t(SEX_LABELS[text])
        if column == "kind" and text in KIND_LABELS:
            return t(KIND_LABELS[text])
        if column == "kind" and text in THREAD_KIND_LABELS:
            return t(THREAD_KIND_LABELS[text])
        if column == "by" and text in BY_LABELS:
            return t(BY_LABELS[text])
        if column == "measure" and text in MEASURES:
            return t(MEASURES[text])
        if column == "urgent" and isinstance(value, bool):
            return t(URGENCY_LABELS[value])
        if column == "broadcast_status" and text in BROADCAST_STATUS_LABELS:
            return t(BROADCAST_STATUS_LABELS[BroadcastStatus(text)])
        if column == "status" and text in appeals.STATUS_LABELS:
            return t(appeals.STATUS_LABELS[AppealStatus(text)])
        if column in ("category", "group", "reason"):
            return self.category(text, row.get("kind"))
        return text

    def category(self, code: str, kind: Cell = None) -> str:
        t = self.t.gettext
        if kind != "appeal" and code in help_cases.STAFF_LABELS:
            return t(help_cases.STAFF_LABELS[HelpReason(code)])
        if code in appeals.CATEGORY_LABELS:
            return t(appeals.CATEGORY_LABELS[AppealCategory(code)])
        return code


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars(
    title: str,
    table: Table,
    x: str,
    stack: str | None,
    label: Callable[[str, Cell, dict[str, Cell]], str],
    *,
    horizontal: bool = False,
    value: str = "count",
) -> str | None:
    """A (stacked) bar chart of the table's shown numbers, as base64 PNG; None when every
    cell is suppressed. Suppressed cells are not drawn."""
    series: dict[str, dict[str, float]] = defaultdict(dict)
    order: list[str] = []
    for row in table.as_dicts():
        number = row[value]
        if not isinstance(number, int | float) or isinstance(number, bool):
            continue
        key = label(x, row[x], row)
        if key not in order:
            order.append(key)
        name = label(stack, row[stack], row) if stack else ""
        series[name][key] = series[name].get(key, 0) + number
    if not order:
        return None
    height = max(2.6, 0.42 * len(order) + 1.2) if horizontal else 3.4
    figure = Figure(figsize=(8, height))
    axes = figure.subplots()
    base = [0.0] * len(order)
    for index, (name, values) in enumerate(series.items()):
        heights = [values.get(key, 0) for key in order]
        colour = COLOURS[index % len(COLOURS)]
        if horizontal:
            axes.barh(order, heights, left=base, label=name or None, color=colour)
        else:
            axes.bar(order, heights, bottom=base, label=name or None, color=colour)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    axes.set_title(title, fontsize=11)
    if horizontal:
        axes.invert_yaxis()
    else:
        for tick in axes.get_xticklabels():
            tick.set_rotation(30 if len(order) > 4 else 0)
            tick.set_horizontalalignment("right" if len(order) > 4 else "center")
    if stack:
        axes.legend(fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def _charts(report: Report, t: Translator, words: _Words) -> dict[str, str]:
    """{table name: base64 PNG} for the tables drawn above them."""
    g = t.gettext
    cell = words.cell
    plans: list[tuple[str, str, str | None, bool, str]] = [
        ("registrations_by_country_sex", "country", "sex", False, "count"),
        ("registrations_per_month", "month", None, False, "count"),
        ("registrations_by_sex_kind", "kind", "sex", False, "count"),
        ("appeals_by_category_status", "category", "status", True, "count"),
        ("help_requests_by_reason_urgency", "reason", "urgent", True, "count"),
    ]
    charts = {}
    for name, x, stack, horizontal, value in plans:
        png = _bars(g(TITLES[name]), report.table(name), x, stack, cell, horizontal=horizontal,
                    value=value)  # fmt: skip
        if png is not None:
            charts[name] = png
    times = report.table("response_times")
    by_category = Table(times.name, times.columns,
                        tuple(row for row in times.rows if row[0] == "category"))  # fmt: skip
    png = _bars(g(COLUMNS["answer_median_h"]), by_category, "group", "kind", cell,
                horizontal=True, value="answer_median_h")  # fmt: skip
    if png is not None:
        charts["response_times"] = png
    return charts


STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 1.5em auto; max-width: 60em;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
.meta, .note { color: #555; font-size: .9em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f3f6; }
img.chart { max-width: 100%; height: auto; display: block; margin: .6em 0; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  section { break-inside: avoid-page; }
  img.chart { max-width: 16cm; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""


def utc_offset(moment: datetime) -> str:
    """An aware moment's offset as people write it: UTC+5, UTC+5:30, UTC-3."""
    minutes = int((moment.utcoffset() or timedelta()).total_seconds()) // 60
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'-' if minutes < 0 else '+'}{hours}" + (f":{rest:02d}" if rest else "")


def report_html(report: Report, t: Translator) -> str:
    g = t.gettext
    words = _Words(t, report.locale)
    charts = _charts(report, t, words)
    where = country_name(report.country, report.locale) if report.country else g(ALL_COUNTRIES)
    made = report.generated_at.astimezone(ZoneInfo(report.zone))
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{HTML_LANG.get(report.locale, "uz")}">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(g(HEADING))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(g(HEADING))}</h1>",
        '<p class="meta">'
        + html.escape(
            g(PERIOD).format(
                start=report.start.isoformat(),
                end=report.end.isoformat(),
                country=where,
                made=made.strftime("%Y-%m-%d %H:%M"),
                offset=utc_offset(made),
            )
        )
        + "</p>",
        '<p class="note">' + html.escape(g(PRIVACY)) + "</p>",
    ]
    for table in report.tables:
        parts.append(f'<section id="{table.name}"><h2>{html.escape(g(TITLES[table.name]))}</h2>')
        if table.name in charts:
            parts.append(
                f'<img class="chart" alt="{html.escape(g(TITLES[table.name]))}" '
                f'src="data:image/png;base64,{charts[table.name]}">'
            )
        if not table.rows:
            parts.append(f'<p class="note">{html.escape(g(EMPTY))}</p>')
        else:
            parts.append(_html_table(table, t, words))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(table: Table, t: Translator, words: _Words) -> str:
    head = "".join(
        f"<th>{html.escape(t.gettext(COLUMNS[column]))}</th>" for column in table.columns
    )
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in table.as_dicts():
        cells = []
        for column, value in row.items():
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            numeric = numeric or value in (SUPPRESSED, WITHHELD)
            css = ' class="n"' if numeric else ""
            cells.append(f"<td{css}>{html.escape(words.cell(column, value, row))}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def report_filename(report: Report, extension: str) -> str:
    country = f"-{report.country}" if report.country else ""
    return (
        f"vatandosh-report-{report.start.isoformat()}-{report.end.isoformat()}{country}.{extension}"
    )
