"""Period close (`ai-chargeback close` / `reopen`): freeze a month's statement lines.

Closing a month copies its lines of the statement of record (``marts.mart_statement_lines``:
the month's ``mart_chargeback_monthly`` lines plus any adjustment lines billed in it) into
``audit.closed_statement_lines`` under a new close id, and logs the close in
``audit.period_closes``. From then on ``mart_statement_lines`` reads the month from that
snapshot, and whatever arrives later for it is billed as adjustment lines in the next open month.
Reopening is explicit, needs a reason and is logged too. Both commands create the audit tables
on first use and rebuild the statement models (dbt) so the marts show the new state at once.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from ai_chargeback.warehouse import (
    WarehouseError,
    require_duckdb_target,
    require_relations,
    rows,
)
from orchestration.lib.paths import DUCKDB_ENV, PROJECT_ROOT, warehouse_path

ACTOR_ENV = "AI_CHARGEBACK_ACTOR"
STATEMENT_RELATION = "marts.mart_statement_lines"
# The models that read the audit tables, and what depends on them (FOCUS export).
REFRESH_SELECTION = (
    "stg_audit__closed_statement_lines",
    "stg_audit__period_closes",
    "mart_statement_lines+",
)
_LINE_COLUMNS = (
    "statement_line_key",
    "billing_month",
    "tenant_id",
    "provider_id",
    "line_type",
    "adjusted_line_type",
    "adjusted_billing_month",
    "adjusts_statement_line_key",
    "model_id",
    "workload",
    "provider_project_id",
    "quantity",
    "quantity_unit",
    "input_tokens",
    "output_tokens",
    "list_cost_usd",
    "amount_exact_usd",
    "amount_usd",
)
CLOSED_STATEMENT_LINES_DDL = """
create table if not exists audit.closed_statement_lines (
    close_id varchar not null,
    closed_at timestamp not null,
    billing_month date not null,
    statement_line_key varchar not null,
    tenant_id varchar not null,
    provider_id varchar,
    line_type varchar not null,
    adjusted_line_type varchar,
    adjusted_billing_month date,
    adjusts_statement_line_key varchar,
    model_id varchar,
    workload varchar,
    provider_project_id varchar,
    quantity bigint,
    quantity_unit varchar,
    input_tokens bigint,
    output_tokens bigint,
    list_cost_usd decimal(38, 12),
    amount_exact_usd decimal(38, 12) not null,
    amount_usd decimal(38, 2) not null,
    primary key (close_id, statement_line_key)
)
"""
PERIOD_CLOSES_DDL = """
create table if not exists audit.period_closes (
    event_id varchar not null primary key,
    close_id varchar not null,
    billing_month date not null,
    action varchar not null check (action in ('close', 'reopen')),
    reason varchar,
    acted_at timestamp not null,
    acted_by varchar not null,
    line_count bigint not null,
    amount_exact_usd decimal(38, 12) not null,
    amount_usd decimal(38, 2) not null
)
"""


class PeriodCloseError(RuntimeError):
    """A close or reopen that the rules refuse (already closed, not closed, stale marts...)."""


@dataclass(frozen=True)
class PeriodEvent:
    """A close or reopen as logged in audit.period_closes."""

    event_id: str
    close_id: str
    billing_month: date
    action: str
    acted_at: datetime
    acted_by: str
    line_count: int
    amount_exact_usd: Decimal
    amount_usd: Decimal
    reason: str | None = None
    refreshed: bool = False


def ensure_close_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the audit schema and the period-close tables when missing."""
    con.execute("create schema if not exists audit")
    con.execute(CLOSED_STATEMENT_LINES_DDL)
    con.execute(PERIOD_CLOSES_DDL)


def _connect(database: Path | None) -> tuple[duckdb.DuckDBPyConnection, Path]:
    require_duckdb_target()
    path = Path(database) if database is not None else warehouse_path()
    if not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `ai-chargeback run` first")
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as error:
        raise WarehouseError(f"cannot open {path} for writing: {error}") from error
    con.execute("set TimeZone = 'UTC'")
    return con, path


def _actor() -> str:
    return os.environ.get(ACTOR_ENV) or getpass.getuser()


def _now() -> datetime:
    """UTC wall time, as the warehouse stores timestamps (naive = UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def closed_months(con: duckdb.DuckDBPyConnection) -> dict[date, str]:
    """Months whose latest event is a close, with the active close id."""
    found = rows(
        con,
        """
        select billing_month, close_id, action
        from (
            select *, row_number() over (
                partition by billing_month order by acted_at desc, event_id desc
            ) as event_rank
            from audit.period_closes
        )
        where event_rank = 1
        """,
    )
    return {row["billing_month"]: row["close_id"] for row in found if row["action"] == "close"}


def _check_marts_current(con: duckdb.DuckDBPyConnection) -> None:
    """The statement mart must reflect the audit log (else a close would freeze stale lines)."""
    logged = closed_months(con)
    built = {
        row["billing_month"]: row["close_id"]
        for row in rows(
            con,
            f"""
            select distinct billing_month, close_id from {STATEMENT_RELATION}
            where statement_status = 'closed'
            """,
        )
    }
    if logged != built:
        raise PeriodCloseError(
            f"{STATEMENT_RELATION} was built before the last close or reopen: refresh it "
            "(`ai-chargeback run`, or rerun this command without --no-refresh)"
        )


def refresh_statement_models(database: Path) -> None:
    """Rebuild the models that read the audit tables (dbt build, same warehouse)."""
    from ai_chargeback.pipeline import dbt_executable

    env = {**os.environ, DUCKDB_ENV: str(database), "DBT_PROFILES_DIR": str(PROJECT_ROOT)}
    completed = subprocess.run(
        [dbt_executable(), "build", "--quiet", "--select", *REFRESH_SELECTION],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise PeriodCloseError(
            "dbt build of the statement models failed:\n"
            + completed.stdout[-4000:]
            + completed.stderr[-4000:]
        )


def close_month(month: date, *, database: Path | None = None, refresh: bool = True) -> PeriodEvent:
    """Freeze the month's statement lines under a new close id (refused if already closed)."""
    con, path = _connect(database)
    try:
        require_relations(con, STATEMENT_RELATION)
        ensure_close_tables(con)
        if month in closed_months(con):
            raise PeriodCloseError(
                f"{month:%Y-%m} is already closed ({closed_months(con)[month]}); "
                "reopen it first (`ai-chargeback reopen --month ... --reason ...`)"
            )
        try:
            _check_marts_current(con)
        except PeriodCloseError:
            if not refresh:
                raise
            con.close()
            refresh_statement_models(path)
            con, path = _connect(path)
            _check_marts_current(con)
        lines = rows(
            con,
            f"select {', '.join(_LINE_COLUMNS)} from {STATEMENT_RELATION}"
            " where billing_month = ? order by statement_line_key",
            [month],
        )
        if not lines:
            raise PeriodCloseError(f"{month:%Y-%m} has no statement lines: nothing to close")
        previous = rows(
            con,
            "select count(*) as n from audit.period_closes"
            " where billing_month = ? and action = 'close'",
            [month],
        )[0]["n"]
        close_id = f"close-{month:%Y-%m}-{previous + 1}"
        acted_at = _now()
        event = PeriodEvent(
            event_id=uuid.uuid4().hex,
            close_id=close_id,
            billing_month=month,
            action="close",
            acted_at=acted_at,
            acted_by=_actor(),
            line_count=len(lines),
            amount_exact_usd=sum((line["amount_exact_usd"] for line in lines), Decimal(0)),
            amount_usd=sum((line["amount_usd"] for line in lines), Decimal(0)),
        )
        con.execute("begin transaction")
        try:
            # copied inside the database: the frozen values are the mart's bytes, not Python's
            con.execute(
                f"""
                insert into audit.closed_statement_lines
                    (close_id, closed_at, {", ".join(_LINE_COLUMNS)})
                select ?, ?, {", ".join(_LINE_COLUMNS)}
                from {STATEMENT_RELATION}
                where billing_month = ?
                """,
                [close_id, acted_at, month],
            )
            _log(con, event)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.close()
    if refresh:
        refresh_statement_models(path)
    return _with_refresh(event, refresh)


def reopen_month(
    month: date, *, reason: str, database: Path | None = None, refresh: bool = True
) -> PeriodEvent:
    """Reopen a closed month (explicit, with a reason, logged); its lines read live again."""
    if not reason.strip():
        raise PeriodCloseError("a reopen needs a reason")
    con, path = _connect(database)
    try:
        ensure_close_tables(con)
        closes = closed_months(con)
        if month not in closes:
            raise PeriodCloseError(f"{month:%Y-%m} is not closed: nothing to reopen")
        carried = rows(
            con,
            """
            select distinct lines.billing_month
            from audit.closed_statement_lines as lines
            where lines.adjusted_billing_month = ?
                and lines.line_type = 'adjustment'
            order by 1
            """,
            [month],
        )
        later = [
            row["billing_month"] for row in carried if closes.get(row["billing_month"]) is not None
        ]
        if later:
            months = ", ".join(f"{m:%Y-%m}" for m in later)
            raise PeriodCloseError(
                f"closed month(s) {months} already bill adjustments of {month:%Y-%m}: reopen "
                "them first, else the corrections would be charged twice"
            )
        frozen = rows(
            con,
            """
            select count(*) as line_count,
                coalesce(sum(amount_exact_usd), 0) as amount_exact_usd,
                coalesce(sum(amount_usd), 0) as amount_usd
            from audit.closed_statement_lines
            where close_id = ? and billing_month = ?
            """,
            [closes[month], month],
        )[0]
        event = PeriodEvent(
            event_id=uuid.uuid4().hex,
            close_id=closes[month],
            billing_month=month,
            action="reopen",
            acted_at=_now(),
            acted_by=_actor(),
            line_count=int(frozen["line_count"]),
            amount_exact_usd=frozen["amount_exact_usd"],
            amount_usd=frozen["amount_usd"],
            reason=reason.strip(),
        )
        _log(con, event)
    finally:
        con.close()
    if refresh:
        refresh_statement_models(path)
    return _with_refresh(event, refresh)


def _log(con: duckdb.DuckDBPyConnection, event: PeriodEvent) -> None:
    con.execute(
        """
        insert into audit.period_closes (event_id, close_id, billing_month, action, reason,
            acted_at, acted_by, line_count, amount_exact_usd, amount_usd)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            event.event_id,
            event.close_id,
            event.billing_month,
            event.action,
            event.reason,
            event.acted_at,
            event.acted_by,
            event.line_count,
            event.amount_exact_usd,
            event.amount_usd,
        ],
    )


def _with_refresh(event: PeriodEvent, refreshed: bool) -> PeriodEvent:
    return PeriodEvent(**{**event.__dict__, "refreshed": refreshed})
