"""The published snapshot of the marts that the BI tool (bi/) and SQL clients read.

Downstream of every guarded mart: when a blocking check (Great Expectations) fails, the asset is
not materialised in that run and readers keep the previous, checked snapshot.
"""

import dagster as dg

from expectations.suites import SUITES
from orchestration.defs.quality.checks import mart_asset_key
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.paths import published_path
from orchestration.lib.publish import PUBLISHED_SCHEMA, STORAGE_VERSION, publish_snapshot

PUBLISHED_ASSET_KEY = dg.AssetKey(["published", "ai_chargeback_marts"])


@dg.asset(
    key=PUBLISHED_ASSET_KEY,
    group_name="reports",
    kinds={"duckdb"},
    deps=[mart_asset_key(name) for name in SUITES],
)
def published_marts(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The checked marts as an atomically replaced DuckDB file, readable while a run writes."""
    if warehouse.target_name == "postgres":
        # Postgres serves many readers at once: the BI tool and clients read the marts in place,
        # through the finance_admin / tenant_reader roles (docs/postgres.md).
        return dg.MaterializeResult(
            metadata={
                "target": "postgres",
                "readers": f"read schema {PUBLISHED_SCHEMA} directly (docs/postgres.md roles)",
            }
        )
    if warehouse.target_name == "spark":
        # The marts are parquet files that any number of readers open at once (Spark SQL or a
        # Thrift server over the metastore, DuckDB's read_parquet): nothing to copy.
        from orchestration.lib import spark

        return dg.MaterializeResult(
            metadata={
                "target": "spark",
                "readers": f"read the parquet tables under {spark.warehouse_dir()}",
            }
        )
    snapshot = publish_snapshot(warehouse.database_path, published_path())
    return dg.MaterializeResult(
        metadata={
            "target": "duckdb",
            "path": dg.MetadataValue.path(str(snapshot.path)),
            "storage_version": STORAGE_VERSION,
            "size_bytes": snapshot.size_bytes,
            "tables": len(snapshot.tables),
            "rows_by_table": dg.MetadataValue.json(snapshot.tables),
        }
    )
