"""The published snapshot: the checked marts in a DuckDB file of their own, for readers.

DuckDB lets one process open a file read-write and then no other process can open it at all
(read-only included). BI tools and analysts therefore read a copy, written after the blocking
checks passed: the marts are copied into a temporary file beside the published one, which is then
renamed over it (`os.replace`, atomic on one file system). A reader sees the old snapshot or the
new one, never half of one; a run that fails before the rename leaves the old one as it was.

Only the `marts` schema is copied: raw and staging hold un-hashed user ids and raw payloads that
never reach readers (DESIGN.md, privacy), and they are most of the file's size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib import loader

PUBLISHED_SCHEMA = "marts"
# The storage format of the snapshot: readable by DuckDB >= 0.10 clients (DBeaver's JDBC driver,
# older CLIs) as well as 2.0; a file written with 2.0's default format is not (DESIGN.md).
STORAGE_VERSION = "v1.0.0"


@dataclass(frozen=True)
class Snapshot:
    """What one publication wrote."""

    path: Path
    tables: dict[str, int]
    size_bytes: int


def _quoted_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish_snapshot(warehouse: Path, published: Path) -> Snapshot:
    """Copy the warehouse's marts to `published` atomically; return the tables and row counts."""
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run the pipeline first")
    published.parent.mkdir(parents=True, exist_ok=True)
    temporary = published.with_name(f".{published.name}.{os.getpid()}.tmp")
    for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
        leftover.unlink(missing_ok=True)
    # an in-memory session with the writers' settings: their memory ceiling (this step runs in
    # the same process as the loaders and the checks) and UTC
    con = loader.connect(":memory:")
    try:
        con.execute(f"attach {_quoted_path(warehouse)} as wh (read_only)")
        tables = [
            name
            for (name,) in con.execute(
                """
                select table_name from duckdb_tables()
                where database_name = 'wh' and schema_name = ?
                order by table_name
                """,
                [PUBLISHED_SCHEMA],
            ).fetchall()
        ]
        if not tables:
            raise ValueError(f"{warehouse} has no tables in schema {PUBLISHED_SCHEMA!r}")
        con.execute(
            f"attach {_quoted_path(temporary)} as snap (storage_version '{STORAGE_VERSION}')"
        )
        schema = _quoted_name(PUBLISHED_SCHEMA)
        con.execute(f"create schema snap.{schema}")
        counts: dict[str, int] = {}
        for table in tables:
            name = _quoted_name(table)
            con.execute(f"create table snap.{schema}.{name} as from wh.{schema}.{name}")
            counts[table] = con.execute(f"select count(*) from snap.{schema}.{name}").fetchone()[0]
        con.execute("checkpoint snap")
        con.execute("detach snap")
        con.execute("detach wh")
    except BaseException:
        con.close()
        temporary.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(temporary, published)
    return Snapshot(path=published, tables=counts, size_bytes=published.stat().st_size)
