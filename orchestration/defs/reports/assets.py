"""Assets for the readers of the chargeback: files finance hands on, made only from checked marts.

They sit downstream of every guarded mart, so a failing blocking check (Great Expectations) stops
them in the same run and the previous files stay as they were.
"""

import os
from pathlib import Path

import dagster as dg
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from expectations.suites import SUITES
from orchestration.defs.partitions import daily_partitions
from orchestration.defs.quality.checks import mart_asset_key
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.paths import PROJECT_ROOT

EXPORTS_ENV = "AI_CHARGEBACK_EXPORTS"


def exports_dir() -> Path:
    """Where exports are written: $AI_CHARGEBACK_EXPORTS or warehouse/exports."""
    value = os.environ.get(EXPORTS_ENV)
    return Path(value) if value else PROJECT_ROOT / "warehouse" / "exports"


def _write_atomically(table, path: Path, writer) -> None:
    temporary = path.with_name(path.name + ".tmp")
    writer(table, temporary)
    temporary.replace(path)


@dg.asset(
    key=dg.AssetKey(["exports", "chargeback_statement_lines"]),
    group_name="reports",
    kinds={"python", "parquet", "csv"},
    deps=[mart_asset_key(name) for name in SUITES],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def chargeback_statement_lines(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Statement lines of every month as Parquet (DECIMAL kept) and CSV, for finance."""
    target = exports_dir()
    target.mkdir(parents=True, exist_ok=True)
    table = warehouse.read_arrow(
        "select * from marts.mart_chargeback_monthly "
        "order by billing_month, tenant_id, provider_id, line_type, statement_line_key"
    )
    parquet_path = target / "chargeback_statement_lines.parquet"
    csv_path = target / "chargeback_statement_lines.csv"
    _write_atomically(table, parquet_path, pq.write_table)
    _write_atomically(table, csv_path, pa_csv.write_csv)
    return dg.MaterializeResult(
        metadata={
            "rows": table.num_rows,
            "parquet": dg.MetadataValue.path(str(parquet_path)),
            "csv": dg.MetadataValue.path(str(csv_path)),
        }
    )
