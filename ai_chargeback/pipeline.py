"""Run the whole pipeline through Dagster, and summarise what an analyst wants to see first."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.lib import landing
from orchestration.lib.paths import PROJECT_ROOT, landing_path, warehouse_path, warehouse_target

JOB_NAME = "ai_chargeback_all"


def dbt_executable() -> str:
    """The dbt beside this interpreter (the project's virtualenv)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def prepare_dbt_manifest() -> None:
    """Headless runs must parse the dbt project before Dagster loads it (DESIGN.md)."""
    env = {**os.environ, "DBT_PROFILES_DIR": str(PROJECT_ROOT)}
    completed = subprocess.run(
        [dbt_executable(), "parse", "--quiet"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            "dbt parse failed:\n" + completed.stdout[-4000:] + completed.stderr[-4000:]
        )


def instance() -> dg.DagsterInstance:
    """The persistent instance under $DAGSTER_HOME (visible in `dagster dev`), else ephemeral."""
    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def run_all(
    *,
    dagster_instance: dg.DagsterInstance | None = None,
    log_level: str = "WARNING",
    first_day: date | None = None,
    last_day: date | None = None,
    full_refresh: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialise every asset in one Dagster run over a range of daily partitions.

    By default the range is every landing date and dbt rebuilds everything (a full refresh);
    a daily run is `first_day == last_day` without a full refresh.
    """
    prepare_dbt_manifest()
    from orchestration.definitions import defs  # needs the manifest parsed above

    if first_day is None or last_day is None:
        dates = landing.landing_dates(landing_path())
        if not dates:
            raise FileNotFoundError(
                f"no landing files under {landing_path()} (run `ai-chargeback generate`)"
            )
        first_day = first_day or dates[0]
        last_day = last_day or dates[-1]
    job = defs.resolve_job_def(JOB_NAME)
    run_config = {
        "loggers": {"console": {"config": {"log_level": log_level}}},
        "ops": {"ai_chargeback_dbt_assets": {"config": {"full_refresh": full_refresh}}},
    }
    return job.execute_in_process(
        instance=dagster_instance or instance(),
        raise_on_error=False,
        run_config=run_config,
        tags={
            "dagster/asset_partition_range_start": first_day.isoformat(),
            "dagster/asset_partition_range_end": last_day.isoformat(),
        },
    )


def run_day(
    day: date, *, dagster_instance: dg.DagsterInstance | None = None, log_level: str = "WARNING"
) -> dg.ExecuteInProcessResult:
    """The scheduled daily run: load `day`'s files, rebuild its window incrementally."""
    return run_all(
        dagster_instance=dagster_instance,
        log_level=log_level,
        first_day=day,
        last_day=day,
        full_refresh=False,
    )


@dataclass(frozen=True)
class Summary:
    """The first numbers an analyst asks for after a run."""

    spend_by_tenant: list[tuple[str, int, Decimal | None, int]]
    requests_total: int
    quarantine_by_source: list[tuple[str, str, int]]
    loaded_by_source: list[tuple[str, int, int, int]]
    spend_available: bool
    reconciliation: list[tuple[str, str, Decimal | None, Decimal, Decimal, int]]
    usage_mismatches: int


def _has_relation(query: Callable[[str, list], list[tuple]], schema: str, name: str) -> bool:
    found = query(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    )
    return bool(found and found[0][0])


@contextmanager
def _warehouse_query(database: Path | None) -> Iterator[Callable[[str, list], list[tuple]]]:
    """A read-only query function on the warehouse of the target (DuckDB file, Postgres, or the
    Spark target's parquet read by DuckDB); the SQL below is written for all (``?``
    placeholders)."""
    if database is None and warehouse_target() == "postgres":
        from orchestration.lib import postgres

        with postgres.connection() as pg:
            yield lambda sql, params=(): pg.execute(sql.replace("?", "%s"), params).fetchall()
        return
    if database is None and warehouse_target() == "spark":
        from orchestration.lib import spark

        con = spark.reader()
    else:
        con = duckdb.connect(str(database or warehouse_path()), read_only=True)
    try:
        yield lambda sql, params=(): con.execute(sql, params).fetchall()
    finally:
        con.close()


def summarise(database: Path | None = None) -> Summary:
    """Read the summary from the warehouse (read-only)."""
    with _warehouse_query(database) as query:
        loaded = query(
            """
            select source, count(*) as files, sum(rows_loaded), sum(rows_quarantined)
            from audit.load_manifest group by source order by source
            """
        )
        quarantine = query(
            """
            select source, trim(regexp_replace(reason, '[:(].*$', '')) as reason_kind, count(*)
            from audit.quarantine group by 1, 2 order by 1, 3 desc, 2
            """
        )
        spend_available = _has_relation(query, "marts", "fct_ai_requests")
        if spend_available:
            spend = query(
                """
                select
                    tenant_id,
                    count(*) as requests,
                    sum(effective_cost_usd) as effective_cost_usd,
                    count(*) filter (where pricing_status = 'unpriced') as unpriced
                from marts.fct_ai_requests
                group by tenant_id
                order by effective_cost_usd desc nulls last
                """
            )
        else:
            spend = query(
                """
                select coalesce(tenant_id, 'unattributed'), count(distinct app_request_id),
                    cast(null as decimal(38, 12)), 0
                from staging.stg_app__requests group by 1 order by 2 desc
                """
            )
        reconciliation: list[tuple] = []
        usage_mismatches = 0
        if _has_relation(query, "marts", "mart_invoice_reconciliation"):
            reconciliation = [
                (provider, month.strftime("%Y-%m"), *sums)
                for provider, month, *sums in query(
                    """
                    select
                        provider_id,
                        billing_month,
                        sum(invoice_amount_usd),
                        sum(attributed_effective_cost_usd),
                        sum(allocated_remainder_usd),
                        sum(unpriced_attempt_count)
                    from marts.mart_invoice_reconciliation
                    group by 1, 2
                    order by 1, 2
                    """
                )
            ]
            usage_mismatches = query(
                "select count(*) from marts.mart_usage_reconciliation "
                "where reconciliation_status not in ('match', 'awaiting_provider_report')"
            )[0][0]
        total = sum(int(row[1]) for row in spend)
    return Summary(
        spend_by_tenant=[(r[0], int(r[1]), r[2], int(r[3])) for r in spend],
        requests_total=total,
        quarantine_by_source=[(r[0], r[1], int(r[2])) for r in quarantine],
        loaded_by_source=[(r[0], int(r[1]), int(r[2]), int(r[3])) for r in loaded],
        spend_available=spend_available,
        reconciliation=[(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in reconciliation],
        usage_mismatches=int(usage_mismatches),
    )
