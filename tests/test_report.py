"""The analytical report: a seeded database with known counts gives exactly those numbers (JSON,
CSV), cells under 5 are "<5" (and those that would give one away "…": more in
tests/test_report_suppression.py), percentiles are right on a known set (and absent for small
groups), `vatandosh report` writes each format, the HTML opens in headless Chromium without
console errors and its screenshot shows the charts, and `/report` in the staff group is for
supervisors, sends the file and is audited."""

import asyncio
import csv
import json
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from matplotlib.image import imread
from sqlalchemy import select

from bot.app import Application
from bot.cli import main
from models import (
    Appeal,
    AuditEvent,
    Broadcast,
    CaseThread,
    CheckinPlan,
    HelpCase,
    Person,
    Registration,
    SafetyCheckin,
    SurveyAnswer,
)
from models.db import Database
from services import report, report_render
from services.clock import ManualClock
from services.crypto import DataCipher
from services.i18n import Catalogs
from services.messages import OutgoingMessage
from tests.conftest import TEST_DATA_KEY
from tests.harness import TelegramHarness
from tests.test_staff_group import STAFF_CHAT, add_operator, desk_app, posted

__all__ = ["desk_app"]  # a fixture, re-used from the staff group tests

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
IN_OCTOBER = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
IN_NOVEMBER = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
BEFORE = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)  # outside the period
START, END = date(2026, 10, 1), date(2026, 11, 30)
CHROMIUM = "/usr/bin/chromium"


async def seed(db: Database, cipher: DataCipher) -> None:
    """A known world. Registrations: RU Moskva 7 women (temporary, October), RU Moskva 3 men
    (temporary, November), KZ Almaty 6 women (permanent, November), 2 RU outside the period.
    Help threads: 10 RU passport_taken, first answer after 1…10 hours, 6 closed after 2…12
    hours, 5 of them escalated; 3 KZ danger (urgent). Appeals: 6 RU unpaid_wages new, 2 RU
    other answered. Check-ins: 6 plans in RU, 8 safe, 1 help, 2 missed. One broadcast with a
    survey: 12 recipients, answers 6 / 2."""
    async with db.transaction() as session:
        people = [
            Person(locale="ru", country="RU" if i < 40 else "KZ", consented_at=BEFORE,
                   created_at=BEFORE, last_seen_at=BEFORE)
            for i in range(50)
        ]  # fmt: skip
        session.add_all(people)
        await session.flush()
        ids = iter(person.id for person in people)

        def registration(country: str, city: str, sex: str, kind: str, at: datetime) -> None:
            session.add(Registration(
                person_id=next(ids), reference=None, country=country, city=city, kind=kind,
                purpose="work", sex=sex, status="submitted", details=cipher.encrypt_json({}),
                submitted_at=at, updated_at=at,
            ))  # fmt: skip

        for _ in range(7):
            registration("RU", "Moskva", "female", "temporary", IN_OCTOBER)
        for _ in range(3):
            registration("RU", "Moskva", "male", "temporary", IN_NOVEMBER)
        for _ in range(6):
            registration("KZ", "Almaty", "female", "permanent", IN_NOVEMBER)
        for _ in range(2):
            registration("RU", "Moskva", "female", "temporary", BEFORE)

        owner = people[0].id
        threads: list[CaseThread] = []
        for i in range(13):
            danger = i >= 10
            case = HelpCase(
                person_id=owner, reference=None, reason="danger" if danger else "passport_taken",
                urgent=danger, status="waiting", country="KZ" if danger else "RU",
                description=cipher.encrypt_text("x"), created_at=IN_NOVEMBER,
                updated_at=IN_NOVEMBER,
            )  # fmt: skip
            session.add(case)
            await session.flush()
            thread = CaseThread(
                kind="help", help_case_id=case.id, person_id=owner, topic_name="t",
                urgent=danger, country=case.country, category=case.reason,
                created_at=IN_NOVEMBER,
                closed_at=IN_NOVEMBER + timedelta(hours=2 * (i + 1)) if i < 6 else None,
            )  # fmt: skip
            session.add(thread)
            threads.append(thread)
        await session.flush()
        for thread in threads[:6]:  # closed by the consulate (services.staff_actions.close)
            session.add(AuditEvent(at=thread.closed_at, actor="operator:1", action="closed",
                                   thread_id=thread.id))  # fmt: skip
        for i, thread in enumerate(threads[:10]):
            for hours in (i + 1, i + 30):  # the first answer counts, not the later one
                session.add(AuditEvent(at=IN_NOVEMBER + timedelta(hours=hours), actor="operator:1",
                                       action="replied", thread_id=thread.id))  # fmt: skip
            if i < 5:
                for level in (1, 2):  # escalated twice: one breach
                    session.add(AuditEvent(at=IN_NOVEMBER + timedelta(hours=20 + level),
                                           actor="system", action="escalated",
                                           thread_id=thread.id))  # fmt: skip
        for i in range(8):
            session.add(Appeal(
                person_id=owner, reference=None,
                category="unpaid_wages" if i < 6 else "other",
                status="new" if i < 6 else "answered", country="RU",
                text=cipher.encrypt_text("x"), created_at=IN_NOVEMBER, updated_at=IN_NOVEMBER,
            ))  # fmt: skip
        for person in people[20:26]:
            session.add(CheckinPlan(person_id=person.id, interval_days=3, created_at=BEFORE,
                                    updated_at=BEFORE))  # fmt: skip
        statuses = ["safe"] * 8 + ["help"] + ["missed"] * 2
        for i, status in enumerate(statuses):
            session.add(SafetyCheckin(person_id=people[20 + i % 6].id, asked_at=IN_NOVEMBER,
                                      due_by=IN_NOVEMBER, status=status))  # fmt: skip
        broadcast = Broadcast(
            created_at=IN_NOVEMBER, created_by="cli", segment={"country": "RU"},
            texts={"ru": "Конгресс"},
            survey=[{"texts": {"ru": "Что Вам нужнее всего?", "uz_Latn": "Nima kerak?"},
                     "options": [{"ru": "Документы", "uz_Latn": "Hujjatlar"},
                                 {"ru": "Работа", "uz_Latn": "Ish"}]}],
            status="done", recipients=12, queued=10, deferred=0, opted_out=2, unreachable=0,
        )  # fmt: skip
        session.add(broadcast)
        await session.flush()
        for i in range(8):
            session.add(SurveyAnswer(broadcast_id=broadcast.id, question=0,
                                     option=0 if i < 6 else 1, person_id=people[i].id,
                                     answered_at=IN_NOVEMBER))  # fmt: skip


async def made(app: Application, country: str | None = None, locale: str = "ru") -> report.Report:
    async with app.db.sessions() as session:
        return await report.build_report(
            session, start=START, end=END, country=country, locale=locale, now=NOW
        )


async def test_known_counts_suppressed_cells_and_percentiles(app: Application) -> None:
    await seed(app.db, app.cipher)
    tables = report.flat((await made(app)).tables)

    # 7 + 9 per month make 16, and RU's only city is RU's women and men: shown, 10, 6, 7 and
    # 6 would give "RU, male: <5" away as 3. Hidden as "…", the rest leaves it at 1…4 (the
    # complete search in tests/test_report_suppression.py checks that).
    assert tables["registrations_by_country_city"] == [
        {"country": "KZ", "city": "Almaty", "count": "…"},
        {"country": "RU", "city": "Moskva", "count": "…"},
    ]
    assert tables["registrations_by_country_sex"] == [
        {"country": "KZ", "sex": "female", "count": "…"},
        {"country": "RU", "sex": "female", "count": "…"},
        {"country": "RU", "sex": "male", "count": "<5"},
    ]
    assert tables["registrations_by_sex_kind"] == [
        {"sex": "female", "kind": "temporary", "count": 7},
        {"sex": "female", "kind": "permanent", "count": "…"},
        {"sex": "male", "kind": "temporary", "count": "<5"},
    ]
    assert tables["registrations_per_month"] == [
        {"month": "2026-10", "count": 7},
        {"month": "2026-11", "count": 9},
    ]
    assert tables["appeals_by_category_status"] == [
        {"category": "unpaid_wages", "status": "new", "count": 6},
        {"category": "other", "status": "answered", "count": "<5"},
    ]
    assert tables["help_requests_by_reason_urgency"] == [
        {"reason": "passport_taken", "urgent": False, "count": 10},
        {"reason": "danger", "urgent": True, "count": "<5"},
    ]
    times = {(row["by"], row["group"]): row for row in tables["response_times"]}
    # First answers after 1…10 h: median 5.5, 90th percentile 9 + 0.1 = 9.1 (linear).
    # Closed after 2, 4 … 12 h: median 7, 90th percentile 10 + 0.5 * 2 = 11.
    assert times[("category", "passport_taken")] == {
        "by": "category", "kind": "help", "group": "passport_taken", "cases": 10,
        "answered": 10, "answer_median_h": 5.5, "answer_p90_h": 9.1,
        "resolved": 6, "resolution_median_h": 7.0, "resolution_p90_h": 11.0,
    }  # fmt: skip
    assert times[("country", "RU")]["answer_p90_h"] == 9.1
    small = times[("category", "danger")]  # 3 cases: no percentiles, counts masked
    assert small["cases"] == "<5"
    assert small["answered"] == "<5"
    assert small["answer_median_h"] is None
    assert small["resolution_p90_h"] is None
    assert tables["sla_breaches"] == [
        {"kind": "help", "category": "passport_taken", "cases": 10, "escalated": 5},
        {"kind": "help", "category": "danger", "cases": "<5", "escalated": "<5"},
    ]
    assert tables["checkins"] == [
        {"measure": "people_with_plan", "count": 6},
        {"measure": "asked", "count": 11},
        {"measure": "safe", "count": 8},
        {"measure": "help", "count": "<5"},
        {"measure": "missed", "count": "<5"},
        {"measure": "unsent", "count": "<5"},
        {"measure": "awaiting", "count": "<5"},
    ]
    assert [(r["recipients"], r["queued"], r["opted_out"]) for r in tables["broadcasts"]] == [
        (12, 10, "<5")
    ]
    assert [(r["question_text"], r["option"], r["count"]) for r in tables["survey_results"]] == [
        ("Что Вам нужнее всего?", "Документы", 6),
        ("Что Вам нужнее всего?", "Работа", "<5"),
    ]


async def test_one_country_and_nothing_identifying(app: Application) -> None:
    await seed(app.db, app.cipher)
    kz = report.flat((await made(app, country="kz")).tables)
    assert kz["registrations_by_country_city"] == [{"country": "KZ", "city": "Almaty", "count": 6}]
    assert kz["appeals_by_category_status"] == []
    assert kz["broadcasts"] == []
    t = Catalogs().translator("ru")
    text = report_render.report_json(await made(app), t)
    assert json.loads(text)["tables"]["registrations_per_month"]["rows"][0]["count"] == 7
    assert "CR-" not in text
    assert "AP-" not in text


def test_percentiles_on_a_known_set() -> None:
    hours = [h * 3600.0 for h in (10, 1, 4, 2, 3, 7, 5, 9, 8, 6)]
    assert report.percentile_hours(hours, 0.5) == 5.5
    assert report.percentile_hours(hours, 0.9) == 9.1
    assert report.percentile_hours(hours[:5], 0.5) == 3.0
    assert report.percentile_hours(hours[:4], 0.5) is None  # fewer than 5 cases
    assert [report.masked(n) for n in (0, 1, 4, 5, 120)] == ["<5", "<5", "<5", 5, 120]


def test_vatandosh_report_writes_json_csv_and_html_that_chromium_shows(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", TEST_DATA_KEY)
    for name in ("TELEGRAM_BOT_TOKEN", "TWILIO_ACCOUNT_SID", "OPERATOR_CHAT_ID"):
        monkeypatch.delenv(name, raising=False)

    async def prepare() -> None:
        db = Database(database_url)
        try:
            await seed(db, DataCipher(TEST_DATA_KEY))
        finally:
            await db.close()

    asyncio.run(prepare())
    period = ["--from", "2026-10-01", "--to", "2026-11-30"]
    assert main(["report", *period, "--format", "json", "--out", "r.json"]) == 0
    tables = json.loads((tmp_path / "r.json").read_text("utf-8"))["tables"]
    assert tables["registrations_by_country_city"]["rows"][1] == {
        "country": "RU", "city": "Moskva", "count": "…",
    }  # fmt: skip
    assert tables["registrations_per_month"]["rows"][0] == {"month": "2026-10", "count": 7}

    assert main(["report", *period, "--format", "csv", "--out", "csv"]) == 0
    with (tmp_path / "csv" / "registrations_by_country_sex.csv").open(encoding="utf-8-sig") as f:
        assert list(csv.reader(f)) == [
            ["country", "sex", "count"], ["KZ", "female", "…"], ["RU", "female", "…"],
            ["RU", "male", "<5"],
        ]  # fmt: skip
    assert len(list((tmp_path / "csv").glob("*.csv"))) == 11

    assert main(["report", "--from", "2026-12-01", "--to", "2026-11-01"]) == 2
    assert "ends before it starts" in capsys.readouterr().err
    assert main(["report", "--from", "yesterday", "--to", "2026-11-01"]) == 2

    assert main(["report", *period, "--locale", "ru", "--out", "r.html"]) == 0
    page = (tmp_path / "r.html").read_text("utf-8")
    assert '<html lang="ru">' in page
    assert "Россия" in page
    assert page.count('src="data:image/png;base64,') >= 5
    assert "http://" not in page
    assert "https://" not in page  # self-contained: nothing fetched
    assert "@media print" in page
    show_in_chromium(tmp_path / "r.html", tmp_path / "shot.png")


def show_in_chromium(page: Path, shot: Path) -> None:
    chromium = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if chromium is None:
        pytest.fail("Chromium is missing: install it with `apt-get install -y chromium`")
    common = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
              f"--user-data-dir={shot.parent / 'chromium-profile'}"]  # fmt: skip
    done = subprocess.run(
        [*common, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
         "--window-size=1000,2600", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    pixels = imread(str(shot))  # fails unless it is a real PNG
    height, width = pixels.shape[:2]
    assert (width, height) == (1000, 2600)
    rgb = pixels[:, :, :3]
    coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.3  # the charts' bars, not grey text
    assert coloured.sum() > 5000
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert dom.stdout.count('class="chart"') >= 5


# -- the staff group ----------------------------------------------------------------------------

OPERATOR, SUPERVISOR = 7201, 7202


def group_calls(desk: TelegramHarness) -> list[tuple[str, dict[str, Any]]]:
    return [
        (call.method, call.params)
        for call in desk.session.calls
        if str(call.params.get("chat_id")) == str(STAFF_CHAT)
    ]


async def test_report_in_the_staff_group_is_for_supervisors_and_sends_the_file(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    clock.set(NOW)
    desk = TelegramHarness(app)
    t = app.catalogs.translator(app.settings.staff_locale).gettext
    operator = await add_operator(app, OPERATOR, "Dilnoza R.")
    supervisor = await add_operator(app, SUPERVISOR, "Bobur T.", role="supervisor")
    await seed(app.db, app.cipher)

    await desk.feed(posted(OPERATOR, None, "/report"))
    assert group_calls(desk)[-1][1]["text"] == t(
        "Only a supervisor or above can ask for the report."
    )
    for wrong in ("/report 2026-10-01", "/report 2026-13-01 2026-11-30", "/report XX",
                  "/report 2026-11-30 2026-10-01 RU", "/report 🙂 <script>"):  # fmt: skip
        await desk.feed(posted(SUPERVISOR, None, wrong))
        assert "/report 2026-01-01 2026-03-31 RU" in str(group_calls(desk)[-1][1]["text"])
    before = len(group_calls(desk))
    await desk.feed(posted(SUPERVISOR, None, "/report 2026-10-01 2026-11-30 RU"))
    sent = group_calls(desk)[before:]
    documents = [params for method, params in sent if method == "sendDocument"]
    assert len(documents) == 1, [method for method, _ in sent]
    texts = [str(params.get("text") or params.get("caption")) for _method, params in sent]
    rows = await desk.outbox_rows()
    files = [
        message.document
        for row in rows
        if (message := OutgoingMessage.from_payload(app.cipher.decrypt_json(row.payload)))
        .document is not None
    ]  # fmt: skip
    assert [file.filename for file in files] == ["vatandosh-report-2026-10-01-2026-11-30-RU.html"]
    page = files[0].content.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page
    assert (
        t("The report for {start} — {end}: open the file in a browser.").format(
            start="2026-10-01", end="2026-11-30"
        )
        in texts
    )

    async with app.db.sessions() as session:
        events = list(await session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("report%")).order_by(AuditEvent.id)
        ))  # fmt: skip
    assert [(e.actor, e.action, e.detail) for e in events] == [
        (f"operator:{operator.id}", "report_refused", None),
        (f"operator:{supervisor.id}", "report_sent", "2026-10-01..2026-11-30 RU"),
    ]
