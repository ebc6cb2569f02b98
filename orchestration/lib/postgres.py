"""The raw loaders for the Postgres target: parse with DuckDB, copy to Postgres in bulk.

The DuckDB loader (``orchestration.lib.loader``) stays the one parser and validator. For a
Postgres warehouse it runs against an in-memory DuckDB seeded with what Postgres already holds
for the source (its ``audit.load_manifest`` rows and, for sources deduplicated across files, the
key columns of the rows already loaded), so the manifest decides exactly as on DuckDB: an
unchanged file is skipped, a changed file replaces its own rows, and a duplicate of a row loaded
from another file is quarantined. The rows of the files it loaded (raw, quarantine, manifest)
are then written to Postgres with ``COPY ... FROM STDIN`` (CSV written by DuckDB), in one
transaction per source, after deleting the previous rows of those files. No value is ever put
into SQL text: identifiers come from the source specs, values travel as COPY data or parameters.

Connection settings come from the same environment variables as the ``postgres`` output of
profiles.yml (AI_CHARGEBACK_PG_HOST, _PORT, _USER, _PASSWORD, _DBNAME).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
from psycopg import sql

from orchestration.lib import loader
from orchestration.lib.sources import COLUMN_TYPES, SourceSpec

RAW_SCHEMA = "raw"
AUDIT_SCHEMA = "audit"
_COPY_CHUNK = 1 << 20

# DuckDB raw column type -> Postgres type (json keeps the exact text, as DuckDB's JSON does).
_PG_TYPES: dict[str, str] = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "DECIMAL(38, 12)": "numeric(38, 12)",
    "TIMESTAMPTZ": "timestamptz",
    "BOOLEAN": "boolean",
    "JSON": "json",
    "DOUBLE": "double precision",
    "DATE": "date",
}

_MANIFEST_COLUMNS = (
    ("source", "text not null"),
    ("file_path", "text not null"),
    ("landing_date", "date"),
    ("sha256", "text not null"),
    ("size_bytes", "bigint not null"),
    ("compression", "text not null"),
    ("rows_in_file", "bigint not null"),
    ("rows_loaded", "bigint not null"),
    ("rows_quarantined", "bigint not null"),
    ("file_shape", "text"),
    ("read_error", "text"),
    ("loaded_at", "timestamptz not null"),
)
_QUARANTINE_COLUMNS = (
    ("source", "text not null"),
    ("file_path", "text not null"),
    ("line_number", "bigint"),
    ("record_path", "text"),
    ("reason", "text not null"),
    ("raw_text", "text"),
    ("loaded_at", "timestamptz not null"),
)


@dataclass(frozen=True)
class PostgresSettings:
    """Where the Postgres warehouse is (the profiles.yml ``postgres`` output's variables)."""

    host: str = "127.0.0.1"
    port: int = 55432
    user: str = "ai_chargeback"
    password: str = "ai_chargeback"
    dbname: str = "ai_chargeback"

    @classmethod
    def from_env(cls) -> PostgresSettings:
        """Read AI_CHARGEBACK_PG_HOST/_PORT/_USER/_PASSWORD/_DBNAME (defaults as above)."""
        defaults = cls()
        return cls(
            host=os.environ.get("AI_CHARGEBACK_PG_HOST", defaults.host),
            port=int(os.environ.get("AI_CHARGEBACK_PG_PORT", str(defaults.port))),
            user=os.environ.get("AI_CHARGEBACK_PG_USER", defaults.user),
            password=os.environ.get("AI_CHARGEBACK_PG_PASSWORD", defaults.password),
            dbname=os.environ.get("AI_CHARGEBACK_PG_DBNAME", defaults.dbname),
        )

    def conninfo(self, *, user: str | None = None, password: str | None = None) -> str:
        """A libpq connection string (another role's credentials when given)."""
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=str(self.port),
            user=user or self.user,
            password=self.password if password is None else password,
            dbname=self.dbname,
            connect_timeout="10",
            options="-c TimeZone=UTC",
        )


def connect(settings: PostgresSettings | None = None) -> psycopg.Connection:
    """A connection to the Postgres warehouse (autocommit; session time zone UTC).

    Autocommit, so that ``with pg.transaction()`` is a real transaction, not a savepoint."""
    return psycopg.connect((settings or PostgresSettings.from_env()).conninfo(), autocommit=True)


def _pg_type(duckdb_type: str) -> str:
    try:
        return _PG_TYPES[duckdb_type]
    except KeyError:
        raise ValueError(f"no Postgres type for the raw column type {duckdb_type!r}") from None


def _raw_columns(spec: SourceSpec) -> list[tuple[str, str]]:
    columns = [(c.name, _pg_type(COLUMN_TYPES[c.kind])) for c in spec.all_columns]
    columns += [(name, _pg_type(kind)) for name, kind in loader._META_COLUMNS]
    return columns


def _create_table(table: sql.Composable, columns: Sequence[tuple[str, str]]) -> sql.Composed:
    return sql.SQL("create table if not exists {} ({})").format(
        table,
        sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in columns
        ),
    )


def ensure_tables(pg: psycopg.Connection, spec: SourceSpec) -> None:
    """Create the raw and audit schemas and tables (same columns as on DuckDB)."""
    with pg.cursor() as cur:
        for schema in (RAW_SCHEMA, AUDIT_SCHEMA):
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        manifest = [*_MANIFEST_COLUMNS, ("primary key (source, file_path)", "")]
        cur.execute(
            sql.SQL("create table if not exists {}.{} ({})").format(
                sql.Identifier(AUDIT_SCHEMA),
                sql.Identifier("load_manifest"),
                sql.SQL(", ").join(sql.SQL(f"{name} {kind}".strip()) for name, kind in manifest),
            )
        )
        cur.execute(_create_table(sql.Identifier(AUDIT_SCHEMA, "quarantine"), _QUARANTINE_COLUMNS))
        cur.execute(_create_table(sql.Identifier(RAW_SCHEMA, spec.table), _raw_columns(spec)))
        cur.execute(
            sql.SQL("create index if not exists {} on {} (_source_file)").format(
                sql.Identifier(f"{spec.table}__source_file"),
                sql.Identifier(RAW_SCHEMA, spec.table),
            )
        )
    pg.commit()


def _copy_out(pg: psycopg.Connection, query: sql.Composable, target: Path) -> None:
    """``COPY (query) TO STDOUT`` as CSV into a local file."""
    with pg.cursor() as cur, target.open("wb") as handle:
        copy_sql = sql.SQL("copy ({}) to stdout with (format csv)").format(query)
        with cur.copy(copy_sql) as copy:
            for chunk in copy:
                handle.write(chunk)


def _copy_in(
    pg: psycopg.Connection, table: sql.Composable, columns: Sequence[str], source: Path
) -> None:
    """``COPY table (columns) FROM STDIN`` from a CSV file DuckDB wrote."""
    copy_sql = sql.SQL("copy {} ({}) from stdin with (format csv)").format(
        table, sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with pg.cursor() as cur, cur.copy(copy_sql) as copy, source.open("rb") as handle:
        while chunk := handle.read(_COPY_CHUNK):
            copy.write(chunk)


def _duckdb_csv(con: duckdb.DuckDBPyConnection, query: str, params: list, target: Path) -> None:
    """Write a DuckDB query's rows as CSV (NULL unquoted, empty strings quoted: what COPY reads).

    DuckDB's COPY takes no parameters, so the selection goes through a temporary table."""
    con.execute("drop table if exists _pg_out")
    con.execute(f"create temp table _pg_out as {query}", params)
    con.execute(f"copy _pg_out to '{target.as_posix()}' (format csv, header false)")
    con.execute("drop table _pg_out")


def _seed_duckdb(
    pg: psycopg.Connection,
    duck: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    scratch: Path,
) -> None:
    """Give the in-memory DuckDB what Postgres knows: the manifest, and loaded keys."""
    loader.ensure_audit_schema(duck)
    loader.ensure_raw_table(duck, spec)
    manifest_csv = scratch / "manifest_in.csv"
    names = [name for name, _ in _MANIFEST_COLUMNS]
    _copy_out(
        pg,
        sql.SQL("select {} from {} where source = {}").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in names),
            sql.Identifier(AUDIT_SCHEMA, "load_manifest"),
            sql.Literal(spec.name),
        ),
        manifest_csv,
    )
    _duckdb_insert_csv(duck, "audit.load_manifest", names, manifest_csv)
    if spec.dedupe_key:
        keys = [*spec.dedupe_key, "_source_file"]
        keys_csv = scratch / "keys_in.csv"
        _copy_out(
            pg,
            sql.SQL("select {} from {}").format(
                sql.SQL(", ").join(sql.Identifier(k) for k in keys),
                sql.Identifier(RAW_SCHEMA, spec.table),
            ),
            keys_csv,
        )
        _duckdb_insert_csv(duck, f"raw.{spec.table}", keys, keys_csv)


def _duckdb_insert_csv(
    duck: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], source: Path
) -> None:
    if source.stat().st_size == 0:
        return
    column_list = ", ".join(f'"{c}"' for c in columns)
    types = duck.execute(
        "select column_name, data_type from duckdb_columns() "
        "where schema_name || '.' || table_name = ?",
        [table],
    ).fetchall()
    by_name = dict(types)
    spec = "{" + ", ".join(f"'{c}': '{by_name[c]}'" for c in columns) + "}"
    duck.execute(
        f"insert into {table} ({column_list}) select {column_list} from read_csv("
        f"'{source.as_posix()}', header = false, columns = {spec}, quote = '\"', "
        "escape = '\"', allow_quoted_nulls = false, auto_detect = false)"
    )


def load_source(
    pg: psycopg.Connection,
    spec: SourceSpec,
    landing_root: Path,
    *,
    dates: set[date] | None = None,
) -> loader.LoadReport:
    """Load a source's new or changed files into Postgres (same semantics as on DuckDB)."""
    ensure_tables(pg, spec)
    with tempfile.TemporaryDirectory(prefix="ai_chargeback_pg_") as scratch_dir:
        scratch = Path(scratch_dir)
        duck = loader.connect(":memory:")
        try:
            _seed_duckdb(pg, duck, spec, scratch)
            report = loader.load_source(duck, spec, landing_root, dates=dates)
            changed = [f.relative_path for f in report.files if f.status != "unchanged"]
            if changed:
                _write_files(pg, duck, spec, changed, scratch)
        finally:
            duck.close()
    return report


def _write_files(
    pg: psycopg.Connection,
    duck: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    changed: list[str],
    scratch: Path,
) -> None:
    """Replace the changed files' rows in Postgres, in one transaction."""
    raw_names = [name for name, _ in _raw_columns(spec)]
    quarantine_names = [name for name, _ in _QUARANTINE_COLUMNS]
    manifest_names = [name for name, _ in _MANIFEST_COLUMNS]
    raw_csv, quarantine_csv, manifest_csv = (
        scratch / "raw.csv",
        scratch / "quarantine.csv",
        scratch / "manifest.csv",
    )
    duck.execute("create or replace temp table _changed (file_path varchar)")
    duck.executemany("insert into _changed values (?)", [[p] for p in changed])
    _duckdb_csv(
        duck,
        "select " + ", ".join(f'"{n}"' for n in raw_names) + f" from raw.{spec.table} "
        "where _source_file in (select file_path from _changed)",
        [],
        raw_csv,
    )
    _duckdb_csv(
        duck,
        "select " + ", ".join(quarantine_names) + " from audit.quarantine "
        "where source = ? and file_path in (select file_path from _changed)",
        [spec.name],
        quarantine_csv,
    )
    _duckdb_csv(
        duck,
        "select " + ", ".join(manifest_names) + " from audit.load_manifest "
        "where source = ? and file_path in (select file_path from _changed)",
        [spec.name],
        manifest_csv,
    )
    with pg.transaction(), pg.cursor() as cur:
        cur.execute(
            sql.SQL("delete from {} where _source_file = any(%s)").format(
                sql.Identifier(RAW_SCHEMA, spec.table)
            ),
            [changed],
        )
        for table in ("quarantine", "load_manifest"):
            cur.execute(
                sql.SQL("delete from {} where source = %s and file_path = any(%s)").format(
                    sql.Identifier(AUDIT_SCHEMA, table)
                ),
                [spec.name, changed],
            )
        _copy_in(pg, sql.Identifier(RAW_SCHEMA, spec.table), raw_names, raw_csv)
        _copy_in(pg, sql.Identifier(AUDIT_SCHEMA, "quarantine"), quarantine_names, quarantine_csv)
        _copy_in(pg, sql.Identifier(AUDIT_SCHEMA, "load_manifest"), manifest_names, manifest_csv)


def table_counts(pg: psycopg.Connection, spec: SourceSpec) -> tuple[int, int]:
    """Rows in ``raw.<source>`` and quarantine rows of the source."""
    with pg.cursor() as cur:
        cur.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(RAW_SCHEMA, spec.table))
        )
        table_rows = cur.fetchone()[0]
        cur.execute(
            sql.SQL("select count(*) from {} where source = %s").format(
                sql.Identifier(AUDIT_SCHEMA, "quarantine")
            ),
            [spec.name],
        )
        quarantine_rows = cur.fetchone()[0]
    pg.commit()
    return int(table_rows), int(quarantine_rows)


@contextmanager
def connection(settings: PostgresSettings | None = None) -> Iterator[psycopg.Connection]:
    """A short-lived connection, closed on exit."""
    pg = connect(settings)
    try:
        yield pg
    finally:
        pg.close()


def grant_tenant_login(
    pg: psycopg.Connection, role_name: str, tenant_ids: Sequence[str], password: str
) -> None:
    """Create (or update) a tenant's login role: a member of ``tenant_reader`` that reads the
    rows of ``tenant_ids`` only (security.tenant_roles; see macros/apply_row_level_security.sql).
    An empty ``tenant_ids`` gives a reader that sees nothing."""
    with pg.transaction(), pg.cursor() as cur:
        cur.execute("select 1 from pg_roles where rolname = %s", [role_name])
        verb = "alter" if cur.fetchone() else "create"
        cur.execute(
            sql.SQL(verb + " role {} login password {}").format(
                sql.Identifier(role_name), sql.Literal(password)
            )
        )
        cur.execute(sql.SQL("grant tenant_reader to {}").format(sql.Identifier(role_name)))
        cur.execute("delete from security.tenant_roles where role_name = %s", [role_name])
        for tenant_id in tenant_ids:
            cur.execute(
                "insert into security.tenant_roles (role_name, tenant_id) values (%s, %s)",
                [role_name, tenant_id],
            )


def grant_finance_admin_login(pg: psycopg.Connection, role_name: str, password: str) -> None:
    """Create (or update) a login role in ``finance_admin`` (reads every mart row)."""
    with pg.transaction(), pg.cursor() as cur:
        cur.execute("select 1 from pg_roles where rolname = %s", [role_name])
        verb = "alter" if cur.fetchone() else "create"
        cur.execute(
            sql.SQL(verb + " role {} login password {}").format(
                sql.Identifier(role_name), sql.Literal(password)
            )
        )
        cur.execute(sql.SQL("grant finance_admin to {}").format(sql.Identifier(role_name)))


# --- reading: query results as Arrow, typed as DuckDB would type them -----------------------

_NUMERIC_SCALE = 12  # the warehouse's money scale (macros/money_type.sql)


def _arrow_type(type_name: str, precision: int | None, scale: int | None) -> pa.DataType:
    if type_name == "numeric":
        # a declared numeric(p, s) keeps its type; an undeclared one (sums) is money-scaled
        if precision is not None and scale is not None:
            return pa.decimal128(precision, scale)
        return pa.decimal128(38, _NUMERIC_SCALE)
    return {
        "int2": pa.int16(),
        "int4": pa.int32(),
        "int8": pa.int64(),
        "float4": pa.float32(),
        "float8": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
    }.get(type_name, pa.string())


def _arrow_column(values: list, type_name: str, arrow_type: pa.DataType) -> pa.Array:
    if type_name in {"json", "jsonb"}:
        values = [None if v is None else json.dumps(v, separators=(",", ":")) for v in values]
    elif arrow_type == pa.string():
        values = [None if v is None else str(v) for v in values]
    elif type_name == "numeric":
        try:
            return pa.array(values, arrow_type)
        except (pa.ArrowInvalid, ValueError):  # more than 12 decimals: not money, a measure
            return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array(values, arrow_type)


def query_arrow(pg: psycopg.Connection, query: str) -> pa.Table:
    """A query's rows as an Arrow table: numeric as exact decimals, times in UTC."""
    with pg.cursor() as cur:
        cur.execute(query)
        rows = cur.fetchall()
        described = [
            (
                column.name,
                (pg.adapters.types.get(column.type_code) or _UNKNOWN_TYPE).name,
                column.precision,
                column.scale,
            )
            for column in cur.description
        ]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in described]
    return pa.table(
        {
            name: _arrow_column(list(values), type_name, _arrow_type(type_name, precision, scale))
            for (name, type_name, precision, scale), values in zip(described, columns, strict=True)
        }
    )


class _UnknownType:
    name = "text"


_UNKNOWN_TYPE = _UnknownType()
