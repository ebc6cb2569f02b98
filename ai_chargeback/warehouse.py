"""Read-side helpers shared by the dispute and statement commands: open, query, format money."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import duckdb

from orchestration.lib.paths import warehouse_path

CENT = Decimal("0.01")
TARGET_ENV = "AI_CHARGEBACK_TARGET"


class WarehouseError(RuntimeError):
    """The warehouse cannot answer: missing file, locked file, or a model not built yet."""


def require_duckdb_target() -> None:
    """These commands read the DuckDB warehouse file: refuse rather than read a stale one."""
    target = os.environ.get(TARGET_ENV, "duckdb")
    if target != "duckdb":
        raise WarehouseError(
            f"{TARGET_ENV}={target}: this command reads the DuckDB warehouse only "
            "(unset it, or point AI_CHARGEBACK_DUCKDB at a DuckDB copy)"
        )


def connect_read_only(database: Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only (path from $AI_CHARGEBACK_DUCKDB unless given)."""
    require_duckdb_target()
    path = Path(database) if database is not None else warehouse_path()
    if not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `ai-chargeback run` first")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise WarehouseError(f"cannot open {path} read-only: {error}") from error
    con.execute("set TimeZone = 'UTC'")
    return con


def rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    """Every row of a query as a dict (DECIMAL stays Decimal, never float)."""
    result = con.execute(sql, list(params or []))
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def has_relation(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether schema.name exists (table or view)."""
    found = rows(
        con,
        "select count(*) as n from information_schema.tables"
        " where table_schema = ? and table_name = ?",
        [schema, name],
    )
    return bool(found[0]["n"])


def require_relations(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Fail with a clear message when a model the command reads was never built."""
    missing = [name for name in names if not has_relation(con, *name.split(".", 1))]
    if missing:
        raise WarehouseError(
            f"the warehouse has no {', '.join(missing)}: run `ai-chargeback run` to build it"
        )


def decimal_text(value: Decimal | None) -> str | None:
    """A Decimal as plain text (never exponent notation: 1E-12 is written 0.000000000001)."""
    if value is None:
        return None
    return format(value, "f")


def usd(value: Decimal | None, *, exact: bool = False) -> str:
    """Presentation: dollars with cents (half-even), or every stored decimal when exact."""
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    if exact:
        return f"{sign}${format(abs(value), ',f')}"
    return f"{sign}${abs(value).quantize(CENT, rounding=ROUND_HALF_EVEN):,}"


def jsonable(value: Any) -> Any:
    """Money and times as JSON: decimals as strings, times as ISO 8601, recursively."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def parse_month(month: str) -> date:
    """'YYYY-MM' -> the first day of that month (ValueError when malformed)."""
    try:
        parsed = datetime.strptime(month, "%Y-%m")
    except ValueError as error:
        raise ValueError(f"month must be YYYY-MM, got {month!r}") from error
    return date(parsed.year, parsed.month, 1)


def next_month(month: date) -> date:
    """The first day of the month after."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)
