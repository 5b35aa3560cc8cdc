"""What the benchmark scripts share: a throwaway migrated database, settings, and tables."""

import asyncio
import base64
import os
import resource
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from bot.migrate import upgrade
from bot.settings import Settings

BENCH_TOKEN = "123456789:BENCH-token_for-measurements"


def bench_data_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def bench_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_key": bench_data_key(),
        "telegram_bot_token": BENCH_TOKEN,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def scratch_database(server_url: str | None) -> AsyncIterator[str]:
    """A freshly migrated database, dropped afterwards: a temporary SQLite file, or a new
    database created on the PostgreSQL server of `server_url` (which is left untouched)."""
    if server_url is None:
        with tempfile.TemporaryDirectory(prefix="vatandosh-bench-") as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            await upgrade(url)
            yield url
        return
    if server_url.startswith("postgresql://"):
        server_url = "postgresql+asyncpg://" + server_url.removeprefix("postgresql://")
    name = f"vatandosh_bench_{uuid.uuid4().hex[:10]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        await upgrade(url)
        yield url
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print(
            "  ".join(
                (v.ljust(w) if i == 0 else v.rjust(w))
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))
    sys.stdout.flush()


def print_growth(results: Sequence[dict[str, Any]], size: str, what: str) -> None:
    """The growth of p50, p99 and mean from the first size to the last (target: < 20 %)."""
    if len(results) < 2:
        return
    small, large = results[0], results[-1]
    growth = {key: (large[key] / small[key] - 1) * 100 for key in ("p50", "p99", "mean")}
    print(
        f"\nGrowth from {small[size]:,} to {large[size]:,} {what}: "
        + ", ".join(f"{key} {value:+.0f} %" for key, value in growth.items())
        + " (target: under 20 %)"
    )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def run(main: Any) -> None:
    """asyncio.run with uvloop deliberately absent: production runs the default loop."""
    asyncio.run(main)
