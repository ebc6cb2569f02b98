"""Great Expectations suites as blocking Dagster asset checks on the marts finance relies on.

A failing suite stops every downstream asset of the run (exports, statements, the published
snapshot): bad data never reaches a chargeback. The check's metadata names each failed
expectation and carries sample offending rows.
"""

import json

import dagster as dg
import duckdb

from expectations.runner import SuiteResult, validate_dataframe, validate_mart
from expectations.suites import SUITES, get_spec
from orchestration.defs.resources import WarehouseResource

_MAX_METADATA_CHARS = 20_000


def mart_asset_key(suite_name: str) -> dg.AssetKey:
    """`marts.fct_ai_requests` -> AssetKey(["marts", "fct_ai_requests"])."""
    schema, table = get_spec(suite_name).mart.split(".", 1)
    return dg.AssetKey([schema, table])


def check_result(result: SuiteResult) -> dg.AssetCheckResult:
    """A Dagster check result from a suite result (metadata: failures and sample rows)."""
    failures = json.dumps(result.failed_expectations, default=str, indent=1)
    return dg.AssetCheckResult(
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "suite": result.suite_name,
            "rows_validated": result.row_count,
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
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Validate the mart with its suite; downstream assets wait for it to pass."""
        if warehouse.target_name in ("postgres", "spark"):
            # typed as DuckDB's .df() types them (DECIMAL -> float64): one validation path
            arrow = warehouse.read_arrow(get_spec(suite_name).query)
            frame = duckdb.connect().from_arrow(arrow).df()
            return check_result(validate_dataframe(frame, suite_name))
        con = duckdb.connect(str(warehouse.database_path), read_only=True)
        try:
            return check_result(validate_mart(con, suite_name))
        finally:
            con.close()

    return _check


great_expectations_checks = [_build_check(name) for name in SUITES]
