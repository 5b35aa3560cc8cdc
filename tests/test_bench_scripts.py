"""The benchmarks still run, each on a handful of people or messages (issue 8).

Their figures are not looked at — timing is never asserted in CI — but each script checks
what must hold whatever the timing: every person got exactly one reply (bench.inbound,
bench.scale), every message arrived exactly once (bench.outbound), every claim was full and
none took a message twice (bench.queue), the replayed SQL left the outbox as the
application did (bench.floor). A script that no longer runs against
the code, or whose check fails, fails here. On the PostgreSQL pass they get the server.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent


def server_arguments() -> list[str]:
    """--database-url of the PostgreSQL server the suite runs on, if it does."""
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw:
        return []
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        return []
    return ["--database-url", url.set(drivername="postgresql+asyncpg").render_as_string(False)]


def run_bench(module: str, *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    ("module", "arguments"),
    [
        ("inbound", ["--people", "25", "--concurrency", "4"]),
        ("inbound", ["--people", "25", "--rate", "200"]),
        ("scale", ["--people", "150,300", "--updates", "10"]),
        ("queue", ["--queued", "600,1200", "--claims", "5"]),
    ],
)
def test_a_benchmark_runs_and_every_person_gets_one_reply(
    module: str, arguments: list[str]
) -> None:
    output = run_bench(module, *arguments, *server_arguments())
    assert "Targets (issue 8)" in output or "Growth from" in output


def test_the_outbound_benchmark_delivers_every_message_exactly_once() -> None:
    output = run_bench("outbound", "--messages", "12", *server_arguments())
    lines = output.splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith("---")) + 1
    rows = lines[first : lines.index("", first)]
    assert len(rows) == 5  # bare aiogram, Telegram 30/s and 1,000/s, WhatsApp 10/s and 80/s
    assert all(" yes " in row for row in rows), output


def test_the_floor_benchmark_replays_the_sql_to_the_same_outbox() -> None:
    """SQLite only: the floor is taken on the embedded database."""
    output = run_bench("floor", "--people", "25")
    assert "Best fraction of bare aiogram's throughput possible" in output
