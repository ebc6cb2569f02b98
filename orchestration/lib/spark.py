"""The Spark target: raw tables as parquet for dbt-spark, and its marts read back as Arrow.

Everything the target keeps is under one directory, $AI_CHARGEBACK_SPARK_DIR (see
``paths.spark_dir``), laid out as a cluster would keep it in object storage:

    raw/<source>/                 parquet of each raw table, one file set per landing file
                                  (registered by dbt's on-run-start hook,
                                  macros/register_raw_tables.sql, as external tables)
    audit/quarantine/             <source>-<file key>-*.parquet: the bad records of each file
    audit/load_manifest/          <source>.parquet: one row per landing file (sha256, counts)
    warehouse/<schema>.db/<table> the tables dbt builds (spark.sql.warehouse.dir)
    metastore_db/                 the Derby metastore (one process at a time)
    tmp/                          Spark's scratch space

The raw loaders are Spark's own (orchestration/lib/spark_loader.py): Spark reads the landing
files, decodes, types and quarantines their records in a local session of this process (without
Hive, so without the metastore); the driver keeps the file bookkeeping and decompresses the
``.zst`` files Spark cannot read here. dbt-spark runs Spark in its own process
(``method: session``). The marts are plain parquet, so this process reads them with DuckDB
(``read_arrow``), without opening the Derby metastore that the dbt process may hold.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib import loader, paths
from orchestration.lib.sources import SourceSpec

RAW = "raw"
AUDIT = "audit"
AUDIT_TABLES = ("quarantine", "load_manifest")
READ_SCHEMAS = ("staging", "intermediate", "marts", "seeds")


def raw_dir() -> Path:
    """Parquet of the raw tables, one folder per source."""
    return paths.spark_dir() / RAW


def audit_dir() -> Path:
    """Parquet of the audit tables (quarantine, load manifest)."""
    return paths.spark_dir() / AUDIT


def warehouse_dir() -> Path:
    """spark.sql.warehouse.dir: the tables dbt builds, as <schema>.db/<table>/."""
    return paths.spark_dir() / "warehouse"


def _parquet_rows(files: list[Path]) -> int:
    """Rows of parquet files, from their footers."""
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)


def load_source(
    spec: SourceSpec, landing_root: Path, *, dates: set[date] | None = None
) -> tuple[loader.LoadReport, int, int]:
    """Load a source's new or changed files with Spark (orchestration/lib/spark_loader.py):
    (report, rows in its raw table, its quarantine rows)."""
    from orchestration.lib import spark_loader

    report = spark_loader.load_source(spec, landing_root, dates=dates)
    table_rows = _parquet_rows(sorted((raw_dir() / spec.table).glob("*.parquet")))
    quarantine_rows = _parquet_rows(
        sorted((audit_dir() / "quarantine").glob(f"{spec.name}-*.parquet"))
    )
    return report, table_rows, quarantine_rows


def _register_views(con: duckdb.DuckDBPyConnection) -> None:
    """One DuckDB view per parquet table of the Spark target (raw, audit and what dbt built)."""
    folders: dict[tuple[str, str], Path] = {}
    for schema, root in ((RAW, raw_dir()), (AUDIT, audit_dir())):
        if root.is_dir():
            for folder in root.iterdir():
                folders[(schema, folder.name)] = folder
    for schema in READ_SCHEMAS:
        root = warehouse_dir() / f"{schema}.db"
        if root.is_dir():
            for folder in root.iterdir():
                folders[(schema, folder.name)] = folder
    for (schema, table), folder in sorted(folders.items()):
        if not any(folder.rglob("*.parquet")):
            continue
        con.execute(f"create schema if not exists {schema}")
        con.execute(
            f'create or replace view {schema}."{table}" as select * from read_parquet('
            f"'{folder.as_posix()}/**/*.parquet', hive_partitioning = true, "
            "union_by_name = true)"
        )


def reader() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per Spark table (read-only by construction)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    _register_views(con)
    return con


def read_arrow(query: str) -> pa.Table:
    """A query over the Spark target's tables as Arrow (DECIMAL kept exact)."""
    con = reader()
    try:
        return con.execute(query).to_arrow_table()
    finally:
        con.close()
