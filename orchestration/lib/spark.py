"""The Spark target: raw tables as parquet for dbt-spark, and its marts read back as Arrow.

Everything the target keeps is under one directory, $AI_CHARGEBACK_SPARK_DIR (see
``paths.spark_dir``), laid out as a cluster would keep it in object storage:

    raw/<source>/                 parquet of each raw table (registered by dbt's on-run-start
    audit/quarantine/             hook, macros/register_raw_tables.sql, as external tables)
    audit/load_manifest/
    warehouse/<schema>.db/<table> the tables dbt-spark builds (spark.sql.warehouse.dir)
    metastore_db/                 the Derby metastore (one process at a time)
    loader_state.duckdb           what the loader remembers between runs (manifest, dedupe keys)

dbt-spark runs Spark in its own process (``method: session``). The marts are plain parquet, so
this process reads them with DuckDB (``read_arrow``), without a JVM and without opening the Derby
metastore that the dbt process may hold.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

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


def _state_path() -> Path:
    return paths.spark_dir() / "loader_state.duckdb"


def _write_parquet(con: duckdb.DuckDBPyConnection, query: str, folder: Path) -> None:
    """Replace ``folder`` with one parquet file of the query (JSON columns as text)."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / "part-00000.parquet.tmp"
    con.execute(f"copy ({query}) to '{temporary.as_posix()}' (format parquet, compression zstd)")
    for stale in folder.glob("*.parquet"):
        stale.unlink()
    temporary.replace(folder / "part-00000.parquet")


def _select_as_text_json(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """``select`` of a table with JSON columns cast to text (Spark reads them as strings)."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema || '.' || table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    return (
        "select "
        + ", ".join(
            f'cast("{name}" as varchar) as "{name}"' if kind == "JSON" else f'"{name}"'
            for name, kind in columns
        )
        + f" from {table}"
    )


def load_source(
    spec: SourceSpec, landing_root: Path, *, dates: set[date] | None = None
) -> tuple[loader.LoadReport, int, int]:
    """Load a source's new or changed files and publish its raw table and the audit tables as
    parquet: (report, rows in its raw table, its quarantine rows)."""
    con = loader.connect(_state_path())
    try:
        report = loader.load_source(con, spec, landing_root, dates=dates)
        _write_parquet(
            con, _select_as_text_json(con, f"{RAW}.{spec.table}"), raw_dir() / spec.table
        )
        for table in AUDIT_TABLES:
            _write_parquet(con, f"select * from {AUDIT}.{table}", audit_dir() / table)
        table_rows = con.execute(f"select count(*) from {RAW}.{spec.table}").fetchone()[0]
        quarantine_rows = con.execute(
            f"select count(*) from {AUDIT}.quarantine where source = ?", [spec.name]
        ).fetchone()[0]
    finally:
        con.close()
    return report, int(table_rows), int(quarantine_rows)


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
