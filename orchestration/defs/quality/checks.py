"""Great Expectations suites as blocking Dagster asset checks on the marts finance relies on.

A failing suite stops every downstream asset of the run (exports, statements, the published
snapshot): bad data never reaches a chargeback. The check's metadata names each failed
expectation and carries sample offending rows.

On a daily (partitioned, not full-refresh) run the day-partitioned facts hold new rows only in
the window dbt rebuilt (the partitions plus the lookback days); their suites validate that
window, the rows the run wrote. Every other mart is rebuilt whole and validated whole, and a
full refresh validates every row of every mart.
"""

import json
import os
from datetime import date

import dagster as dg
import duckdb
import pandas as pd

from expectations.runner import SuiteResult, validate_mart, validate_with
from expectations.suites import SUITES, get_spec
from orchestration.defs.dbt.assets import dbt_build_config_of_run, rebuilt_window
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.loader import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV

_MAX_METADATA_CHARS = 20_000


def mart_asset_key(suite_name: str) -> dg.AssetKey:
    """`marts.fct_ai_requests` -> AssetKey(["marts", "fct_ai_requests"])."""
    schema, table = get_spec(suite_name).mart.split(".", 1)
    return dg.AssetKey([schema, table])


def validated_window(context: dg.AssetCheckExecutionContext) -> tuple[date, date] | None:
    """The days a daily run rebuilt (what its dbt asset passed as the run window), or None on a
    full refresh or an unpartitioned run: then every row is validated."""
    if not context.has_partition_key_range:
        return None
    config = dbt_build_config_of_run(context.run.run_config)
    if config.full_refresh:
        return None
    return rebuilt_window(context.partition_time_window, config.lookback_days)


def check_result(
    result: SuiteResult, window: tuple[date, date] | None = None
) -> dg.AssetCheckResult:
    """A Dagster check result from a suite result (metadata: failures and sample rows)."""
    failures = json.dumps(result.failed_expectations, default=str, indent=1)
    scope = (
        f"the rows of {window[0].isoformat()} .. {window[1].isoformat()} (exclusive) this run wrote"
        if window is not None
        else "every row"
    )
    return dg.AssetCheckResult(
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "suite": result.suite_name,
            "rows_validated": result.row_count,
            "validated_scope": scope,
            "expectations_evaluated": result.evaluated_expectations,
            "failed_expectations": dg.MetadataValue.json(result.failed_expectation_types),
            "failures_with_sample_rows": dg.MetadataValue.md(
                "```json\n" + failures[:_MAX_METADATA_CHARS] + "\n```"
            ),
        },
    )


def _build_check(suite_name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=mart_asset_key(suite_name),
        name=f"great_expectations_{suite_name}",
        blocking=True,
        description=f"Great Expectations suite '{suite_name}' ({get_spec(suite_name).grain}).",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        """Validate the mart with its suite; downstream assets wait for it to pass."""
        spec = get_spec(suite_name)
        window = validated_window(context) if spec.window_column is not None else None
        if warehouse.target_name in ("postgres", "spark"):

            def read(query: str) -> pd.DataFrame:
                # typed as DuckDB's .df() types them (DECIMAL -> float64): one validation path
                return duckdb.connect().from_arrow(warehouse.read_arrow(query)).df()

            return check_result(validate_with(read, suite_name, window=window), window)
        con = duckdb.connect(
            str(warehouse.database_path),
            read_only=True,
            # the writers' ceiling: DuckDB's own default is 80 % of the machine
            config={"memory_limit": os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)},
        )
        try:
            return check_result(validate_mart(con, suite_name, window=window), window)
        finally:
            con.close()

    return _check


great_expectations_checks = [_build_check(name) for name in SUITES]
