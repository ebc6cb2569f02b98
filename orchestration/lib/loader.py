"""Bulk raw loaders: landing files -> DuckDB ``raw`` schema, bad records -> ``audit.quarantine``.

Each file is loaded in one transaction: its previous rows (if the file changed) are replaced, good
records go to ``raw.<source>``, bad ones to ``audit.quarantine`` with file, line and reason, and
the file is recorded in ``audit.load_manifest``. A file whose sha256 is already in the manifest is
skipped, so reloading a landing directory changes nothing. Parsing is done by DuckDB's JSON
functions over whole files (no per-record Python), except for CSV rows and the small API pages,
whose money amounts must be read from their text, never through a float.

The new files of a source are parsed and typed in batches (up to ``_BATCH_MAX_FILES`` files or
``_BATCH_MAX_BYTES`` of content per statement), then written file by file, each in its own
transaction as above: the planning of the typed stage (a wide CASE per column), which costs more
than running it on a small file, is paid once per batch instead of once per file. A file bigger
than the byte bound (a month's OTLP files are ~70 MB each) is a batch of its own.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.lib import landing
from orchestration.lib.otlp import otlp_records_sql
from orchestration.lib.sources import COLUMN_TYPES, SOURCES, Column, SourceSpec

_RAW_SCHEMA = "raw"
MEMORY_LIMIT_ENV = "AI_CHARGEBACK_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GB"
_AUDIT_SCHEMA = "audit"
_MAX_RAW_TEXT = 20_000  # quarantine keeps the start of oversize records, not megabytes
# Hostile-input limits (a record beyond them is quarantined, never loaded, never fatal):
_MAX_RECORD_CHARS = 1 << 20  # one JSON line (OTLP export lines excepted) or CSV record
_MAX_TEXT_CHARS = 65_536  # one text value (ids, names, messages)
_MAX_COUNT = 10**15  # token and request counts: beyond any real response, far from overflow
# OTLP start/end times: unix nanoseconds from 1970-01-01 up to 2200-01-01 (exclusive)
_MAX_EPOCH_NANOS = 7_258_118_400_000_000_000
_CSV_FIELD_LIMIT = 1 << 26  # parse oversize CSV fields, then quarantine their record
# Typed-stage batches: many small files per statement, bounded in memory
_BATCH_MAX_FILES = 32
_BATCH_MAX_BYTES = 64 << 20  # decompressed content of the files of one batch
_META_COLUMNS = (
    ("_source_file", "VARCHAR"),
    ("_line_number", "BIGINT"),
    ("_record_path", "VARCHAR"),
    ("_landing_date", "DATE"),
    ("_loaded_at", "TIMESTAMPTZ"),
)


@dataclass
class FileReport:
    """What happened to one landing file."""

    relative_path: str
    status: str  # loaded | replaced | unchanged
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    read_error: str | None = None


@dataclass
class LoadReport:
    """What happened to one source in one load."""

    source: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def files_loaded(self) -> int:
        return sum(1 for f in self.files if f.status != "unchanged")

    @property
    def files_unchanged(self) -> int:
        return sum(1 for f in self.files if f.status == "unchanged")


def connect(database: str | Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the session settings every writer uses.

    DuckDB's default memory limit is 80 % of the machine; the warehouse's writers share
    one ceiling instead ($AI_CHARGEBACK_DUCKDB_MEMORY_LIMIT, the same as dbt's profile), and
    DuckDB spills to disk beyond it.
    """
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(database))
    con.execute("set TimeZone = 'UTC'")
    memory_limit = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)
    con.execute(f"set memory_limit = {_sql_str(memory_limit)}")
    return con


def ensure_audit_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the audit tables that every loader writes to."""
    con.execute(f"create schema if not exists {_RAW_SCHEMA}")
    con.execute(f"create schema if not exists {_AUDIT_SCHEMA}")
    con.execute(
        f"""
        create table if not exists {_AUDIT_SCHEMA}.load_manifest (
            source varchar not null,
            file_path varchar not null,
            landing_date date,
            sha256 varchar not null,
            size_bytes bigint not null,
            compression varchar not null,
            rows_in_file bigint not null,
            rows_loaded bigint not null,
            rows_quarantined bigint not null,
            file_shape varchar,
            read_error varchar,
            loaded_at timestamptz not null,
            primary key (source, file_path)
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {_AUDIT_SCHEMA}.quarantine (
            source varchar not null,
            file_path varchar not null,
            line_number bigint,
            record_path varchar,
            reason varchar not null,
            raw_text varchar,
            loaded_at timestamptz not null
        )
        """
    )


def ensure_raw_table(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    """Create ``raw.<source>`` with the typed columns of the spec plus load metadata."""
    columns = [f'"{c.name}" {COLUMN_TYPES[c.kind]}' for c in spec.all_columns]
    columns += [f"{name} {kind}" for name, kind in _META_COLUMNS]
    con.execute(
        f"create table if not exists {_RAW_SCHEMA}.{spec.table} (\n    "
        + ",\n    ".join(columns)
        + "\n)"
    )


def files_for(spec: SourceSpec, landing_root: Path, *, dates: set[date] | None) -> list:
    """The landing files this spec loads (by folder and file-name pattern)."""
    return [
        f
        for f in landing.discover(landing_root, spec.folder, dates=dates)
        if any(fnmatch.fnmatch(f.path.name, pattern) for pattern in spec.file_patterns)
    ]


def unclaimed_files(folder: str, landing_root: Path, *, dates: set[date] | None) -> list:
    """Files in a source folder that no spec loads (quarantined, never ignored silently)."""
    specs = [s for s in SOURCES.values() if s.folder == folder]
    return [
        f
        for f in landing.discover(landing_root, folder, dates=dates)
        if not any(
            fnmatch.fnmatch(f.path.name, pattern) for s in specs for pattern in s.file_patterns
        )
    ]


def load_source(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    landing_root: Path,
    *,
    dates: set[date] | None = None,
) -> LoadReport:
    """Load every (new or changed) file of one source; never stops on a bad file."""
    ensure_audit_schema(con)
    ensure_raw_table(con, spec)
    report = LoadReport(spec.name)
    batch: list[_PendingFile] = []
    batch_bytes = 0
    for landing_file in files_for(spec, landing_root, dates=dates):
        if not _is_inside(landing_file.path, landing_root):
            report.files.append(
                _quarantine_whole_file(
                    con,
                    spec,
                    landing_file,
                    "file resolves outside the landing directory (symbolic link?): not read",
                    sha256=_link_fingerprint(landing_file.path),
                )
            )
            continue
        pending = _pending(con, spec, landing_file)
        if pending is None:
            report.files.append(FileReport(landing_file.relative_path, "unchanged"))
            continue
        if batch and (
            len(batch) >= _BATCH_MAX_FILES
            or batch_bytes + len(pending.content.data) > _BATCH_MAX_BYTES
        ):
            report.files.extend(_load_batch(con, spec, batch))
            batch, batch_bytes = [], 0
        batch.append(pending)
        batch_bytes += len(pending.content.data)
    if batch:
        report.files.extend(_load_batch(con, spec, batch))
    if spec.name == _primary_spec_of(spec.folder).name:
        for stray in unclaimed_files(spec.folder, landing_root, dates=dates):
            report.files.append(_quarantine_whole_file(con, spec, stray, "no loader for file name"))
    return report


def _is_inside(path: Path, root: Path) -> bool:
    """The file really lies under the landing root (a symbolic link may point anywhere)."""
    return path.resolve().is_relative_to(root.resolve())


def _link_fingerprint(path: Path) -> str:
    """What identifies a file that is not read: where it points (its target is never opened)."""
    return hashlib.sha256(os.fsencode(path.resolve())).hexdigest()


def _primary_spec_of(folder: str) -> SourceSpec:
    return next(s for s in SOURCES.values() if s.folder == folder)


@dataclass(frozen=True)
class _PendingFile:
    """A new or changed file, read and waiting for its batch."""

    landing_file: landing.LandingFile
    sha256: str
    replaces: bool  # the manifest holds an earlier version of it
    content: landing.FileContent


def _pending(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, landing_file: landing.LandingFile
) -> _PendingFile | None:
    """The file read for loading, or None when the manifest already holds this exact file."""
    sha256 = landing.sha256_of(landing_file.path)
    # fetchall: a result left half-read would block registering the batch on this connection
    previous = con.execute(
        f"select sha256 from {_AUDIT_SCHEMA}.load_manifest where source = ? and file_path = ?",
        [spec.name, landing_file.relative_path],
    ).fetchall()
    if previous and previous[0][0] == sha256:
        return None
    return _PendingFile(landing_file, sha256, bool(previous), landing.read_file(landing_file.path))


def _load_batch(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, files: list[_PendingFile]
) -> list[FileReport]:
    """Parse and type the files in one statement, then write each in its own transaction."""
    tables: list[pa.Table] = []
    shapes: list[str | None] = []
    for index, pending in enumerate(files):
        table, shape = _extract(spec, pending.landing_file, pending.content.data)
        tables.append(
            table.append_column("_file_index", pa.array([index] * len(table), pa.int32()))
        )
        shapes.append(shape)
    con.register("_batch", pa.concat_tables(tables))
    try:
        _stage_typed_batch(con, spec)
    finally:
        con.unregister("_batch")
    try:
        return [
            _write_file(con, spec, pending, index, shape)
            for index, (pending, shape) in enumerate(zip(files, shapes, strict=True))
        ]
    finally:
        con.execute("drop table if exists _typed_batch")


def _write_file(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    pending: _PendingFile,
    index: int,
    shape: str | None,
) -> FileReport:
    """One file of a typed batch in one transaction (replacing its previous rows)."""
    landing_file, content = pending.landing_file, pending.content
    loaded_at = datetime.now(UTC)
    con.begin()
    try:
        if pending.replaces:  # a new file has no rows yet: no scan of the raw table
            _forget_file(con, spec, landing_file.relative_path)
        con.execute(
            "create or replace temp table _typed as "
            "select * exclude (_file_index) from _typed_batch where _file_index = ?",
            [index],
        )
        if spec.dedupe_key:
            _mark_duplicates(con, spec, landing_file.relative_path)
        loaded, quarantined = _write_staged(con, spec, landing_file, loaded_at)
        rows_in_file = loaded + quarantined
        if content.read_error is not None:
            _insert_quarantine(
                con,
                spec,
                landing_file.relative_path,
                reason=f"file unreadable past this point: {content.read_error}",
                raw_text=None,
                loaded_at=loaded_at,
            )
            quarantined += 1
            rows_in_file += 1
        con.execute(
            f"""
            insert into {_AUDIT_SCHEMA}.load_manifest values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                spec.name,
                landing_file.relative_path,
                landing_file.landing_date,
                pending.sha256,
                landing_file.path.stat().st_size,
                landing.compression_of(landing_file.path),
                rows_in_file,
                loaded,
                quarantined,
                shape,
                content.read_error,
                loaded_at,
            ],
        )
        con.execute("drop table if exists _typed")
        con.commit()
    except Exception:
        con.rollback()
        raise
    status = "replaced" if pending.replaces else "loaded"
    return FileReport(
        landing_file.relative_path, status, rows_in_file, loaded, quarantined, content.read_error
    )


def _quarantine_whole_file(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    landing_file: landing.LandingFile,
    reason: str,
    *,
    sha256: str | None = None,
) -> FileReport:
    sha256 = sha256 or landing.sha256_of(landing_file.path)
    previous = con.execute(
        f"select sha256 from {_AUDIT_SCHEMA}.load_manifest where source = ? and file_path = ?",
        [spec.name, landing_file.relative_path],
    ).fetchone()
    if previous is not None and previous[0] == sha256:
        return FileReport(landing_file.relative_path, "unchanged")
    loaded_at = datetime.now(UTC)
    con.begin()
    _forget_file(con, spec, landing_file.relative_path)
    _insert_quarantine(
        con, spec, landing_file.relative_path, reason=reason, raw_text=None, loaded_at=loaded_at
    )
    con.execute(
        f"insert into {_AUDIT_SCHEMA}.load_manifest values (?, ?, ?, ?, ?, ?, 1, 0, 1, null, ?, ?)",
        [
            spec.name,
            landing_file.relative_path,
            landing_file.landing_date,
            sha256,
            landing_file.path.lstat().st_size,
            landing.compression_of(landing_file.path),
            reason,
            loaded_at,
        ],
    )
    con.commit()
    return FileReport(landing_file.relative_path, "loaded", 1, 0, 1, reason)


def _forget_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec, relative_path: str) -> None:
    con.execute(f"delete from {_RAW_SCHEMA}.{spec.table} where _source_file = ?", [relative_path])
    con.execute(
        f"delete from {_AUDIT_SCHEMA}.quarantine where source = ? and file_path = ?",
        [spec.name, relative_path],
    )
    con.execute(
        f"delete from {_AUDIT_SCHEMA}.load_manifest where source = ? and file_path = ?",
        [spec.name, relative_path],
    )


def _insert_quarantine(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    relative_path: str,
    *,
    reason: str,
    raw_text: str | None,
    loaded_at: datetime,
) -> None:
    con.execute(
        f"insert into {_AUDIT_SCHEMA}.quarantine values (?, ?, null, null, ?, ?, ?)",
        [spec.name, relative_path, reason, raw_text, loaded_at],
    )


# --- extraction: file bytes -> one Arrow table of text columns per record -----------------------


def _decode_lines(data: bytes) -> tuple[list[int], list[str], list[str | None]]:
    """Line numbers, text and a pre-reason (invalid UTF-8, blank) for every physical line."""
    raw_lines = landing.split_lines(data)
    numbers: list[int] = []
    texts: list[str] = []
    reasons: list[str | None] = []
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None:
        lines = decoded.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, line in enumerate(lines, start=1):
            line = line.removesuffix("\r")
            if not line.strip():
                continue  # blank lines are not records
            numbers.append(number)
            texts.append(line)
            reasons.append(None)
        return numbers, texts, reasons
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        numbers.append(number)
        try:
            texts.append(raw.decode("utf-8"))
            reasons.append(None)
        except UnicodeDecodeError as error:
            texts.append(raw.decode("utf-8", errors="replace"))
            reasons.append(f"invalid UTF-8 at byte {error.start}")
    return numbers, texts, reasons


def _extract(
    spec: SourceSpec, landing_file: landing.LandingFile, data: bytes
) -> tuple[pa.Table, str | None]:
    if spec.format in {"jsonl", "otlp_jsonl"}:
        numbers, texts, reasons = _decode_lines(data)
        if spec.format == "jsonl":  # OTLP lines may carry big message attributes: never read
            reasons = [
                reason
                if reason is not None or len(text) <= _MAX_RECORD_CHARS
                else f"record is {len(text)} characters, over the limit of {_MAX_RECORD_CHARS}"
                for text, reason in zip(texts, reasons, strict=True)
            ]
        table = pa.table(
            {
                "_line_number": pa.array(numbers, pa.int64()),
                "_raw_text": pa.array(texts, pa.string()),
                "_pre_reason": pa.array(reasons, pa.string()),
            }
        )
        return table, None
    if spec.format == "csv":
        return _extract_csv(spec, landing_file, data)
    if spec.format == "json_pages":
        return _extract_pages(spec, landing_file, data)
    raise ValueError(f"source {spec.name}: unknown format {spec.format!r}")


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _provider_of(landing_file: landing.LandingFile) -> str:
    return landing_file.path.name.split("_", 1)[0].split(".", 1)[0].lower()


def _extract_csv(
    spec: SourceSpec, landing_file: landing.LandingFile, data: bytes
) -> tuple[pa.Table, str | None]:
    text = data.decode("utf-8", errors="replace")
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = {c.name: [] for c in spec.columns}
    numbers: list[int] = []
    raws: list[str] = []
    reasons: list[str | None] = []
    header: list[str] | None = None
    invalid_utf8 = "\ufffd" in text and b"\xef\xbf\xbd" not in data
    previous_end = 0
    lines = text.split("\n")
    try:
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if header is None:
                header = row
                continue
            if not any(cell.strip() for cell in row):
                continue
            raw = "\n".join(lines[start - 1 : previous_end])
            numbers.append(start)
            raws.append(raw)
            reason = None
            if len(raw) > _MAX_RECORD_CHARS:
                reason = f"record is {len(raw)} characters, over the limit of {_MAX_RECORD_CHARS}"
            elif len(row) != len(header):
                reason = f"expected {len(header)} fields, found {len(row)}"
            elif invalid_utf8 and "\ufffd" in raw:
                reason = "invalid UTF-8"
            values = dict(zip(header, row, strict=False)) if reason is None else {}
            normalised = {_snake(k): v for k, v in values.items()}
            for column in spec.columns:
                if column.source_path == "_provider":
                    columns[column.name].append(_provider_of(landing_file))
                    continue
                value = values.get(column.source_path)
                if value is None:
                    value = normalised.get(_snake(column.source_path))
                columns[column.name].append(value if value != "" else None)
            reasons.append(reason)
    except csv.Error as error:
        numbers.append(previous_end + 1)
        raws.append("")
        reasons.append(f"unreadable CSV: {error}")
        for column in spec.columns:
            columns[column.name].append(None)
    table = pa.table(
        {
            "_line_number": pa.array(numbers, pa.int64()),
            "_record_path": pa.array([None] * len(numbers), pa.string()),
            "_raw_text": pa.array(raws, pa.string()),
            "_pre_reason": pa.array(reasons, pa.string()),
            **{name: pa.array(values, pa.string()) for name, values in columns.items()},
        }
    )
    shape = "csv:" + ",".join(header) if header is not None else "csv:(empty)"
    return table, shape


def _flatten(obj: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _text_of(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_json_default)
    return str(value)


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _bucket_time(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat()
    return _text_of(value)


def _extract_pages(
    spec: SourceSpec, landing_file: landing.LandingFile, data: bytes
) -> tuple[pa.Table, str | None]:
    columns = {c.name: [] for c in spec.columns}
    numbers: list[int | None] = []
    paths: list[str | None] = []
    raws: list[str] = []
    reasons: list[str | None] = []
    seen_keys: set[str] = set()

    def add(path: str | None, raw: str, reason: str | None, values: dict[str, str | None]) -> None:
        numbers.append(None)
        paths.append(path)
        raws.append(raw[:_MAX_RAW_TEXT])
        reasons.append(reason)
        for column in spec.columns:
            columns[column.name].append(values.get(column.name))

    try:
        page = json.loads(data.decode("utf-8"), parse_float=Decimal)
    except RecursionError:
        add(
            None,
            data[:_MAX_RAW_TEXT].decode("utf-8", "replace"),
            "malformed JSON page: nested too deeply",
            {},
        )
        page = None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        add(
            None,
            data[:_MAX_RAW_TEXT].decode("utf-8", "replace"),
            f"malformed JSON page: {error}",
            {},
        )
        page = None
    if page is not None:
        buckets = page.get("data") if isinstance(page, dict) else None
        if not isinstance(buckets, list):
            add(
                None, data[:_MAX_RAW_TEXT].decode("utf-8", "replace"), "page has no data[] list", {}
            )
            buckets = []
        by_path = {c.source_path: c.name for c in spec.columns}
        for i, bucket in enumerate(buckets):
            if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
                add(f"data[{i}]", _text_of(bucket) or "", "bucket has no results[] list", {})
                continue
            start = _bucket_time(bucket.get("start_time", bucket.get("starting_at")))
            end = _bucket_time(bucket.get("end_time", bucket.get("ending_at")))
            for j, result in enumerate(bucket["results"]):
                try:
                    raw = json.dumps(result, default=_json_default, sort_keys=True)
                    flat = _flatten(result) if isinstance(result, dict) else {}
                except RecursionError:
                    add(f"data[{i}].results[{j}]", "", "result is nested too deeply", {})
                    continue
                if not isinstance(result, dict):
                    add(f"data[{i}].results[{j}]", raw, "result is not a JSON object", {})
                    continue
                seen_keys.update(flat)
                values: dict[str, str | None] = {
                    "provider": _provider_of(landing_file),
                    "bucket_start_time": start,
                    "bucket_end_time": end,
                    "result_json": raw,
                }
                for key, value in flat.items():
                    name = by_path.get(key)
                    if name is not None and name not in values:
                        values[name] = _text_of(value)
                add(f"data[{i}].results[{j}]", raw, None, values)
    table = pa.table(
        {
            "_line_number": pa.array(numbers, pa.int64()),
            "_record_path": pa.array(paths, pa.string()),
            "_raw_text": pa.array(raws, pa.string()),
            "_pre_reason": pa.array(reasons, pa.string()),
            **{name: pa.array(values, pa.string()) for name, values in columns.items()},
        }
    )
    return table, "json:" + ",".join(sorted(seen_keys))


# --- typing: text columns -> typed columns + one reason per bad record --------------------------


def _records_sql(spec: SourceSpec) -> str:
    """A query over ``_batch`` giving _file_index, _line_number, _record_path, _raw_text,
    _pre_reason and one text column per spec column."""
    if spec.format == "otlp_jsonl":
        return otlp_records_sql(spec)
    if spec.format == "jsonl":
        paths = ", ".join(
            "'$." + ".".join(f'"{part}"' for part in c.source_path.split(".")) + "'"
            for c in spec.columns
        )
        picks = ",\n        ".join(
            f'_values[{i}] as "{c.name}"' for i, c in enumerate(spec.columns, start=1)
        )
        return f"""
        with lines as (
            select
                _file_index,
                _line_number,
                _raw_text,
                coalesce(
                    _pre_reason,
                    case
                        when not json_valid(_raw_text) then 'malformed JSON'
                        when json_type(_raw_text) <> 'OBJECT' then 'not a JSON object'
                    end
                ) as _pre_reason
            from _batch
        ),
        extracted as (
            select
                *,
                case when _pre_reason is null
                    then json_extract_string(_raw_text, [{paths}])
                end as _values
            from lines
        )
        select
            _file_index,
            _line_number,
            null::varchar as _record_path,
            _raw_text,
            _pre_reason,
            {picks}
        from extracted
        """
    return "select * from _batch"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed_expression(column: Column) -> tuple[str, str]:
    """(typed value, reason-if-bad) expressions over the text column."""
    text = f"nullif(trim(\"{column.name}\"), '')"
    label = _sql_str(column.name)
    if column.kind in {"text"}:
        # Postgres text cannot hold NUL; nothing real needs megabytes in one value
        reason = (
            f"case when strpos({text}, chr(0)) > 0 then {label} || ' contains a NUL character'"
            f" when length({text}) > {_MAX_TEXT_CHARS} then {label} || ' is longer than "
            f"{_MAX_TEXT_CHARS} characters' end"
        )
        return text, reason
    if column.kind == "epoch_nanos":
        value = f"try_cast({text} as bigint)"
        reason = (
            f"case when {text} is null then null"
            f" when not regexp_full_match({text}, '[+-]?[0-9]+') then "
            f"{label} || ' is not an integer: ' || left({text}, 40)"
            f" when {value} is null or {value} < 0 or {value} >= {_MAX_EPOCH_NANOS} then "
            f"{label} || ' is out of range (1970 to 2200): ' || left({text}, 40) end"
        )
        return value, reason
    if column.kind in {"count", "integer"}:
        value = f"try_cast({text} as bigint)"
        checks = [
            f"when not regexp_full_match({text}, '[+-]?[0-9]+') then "
            f"{label} || ' is not an integer: ' || left({text}, 40)",
            f"when {value} is null then {label} || ' is out of range: ' || left({text}, 40)",
        ]
        if column.kind == "count":
            checks.append(f"when {value} < 0 then {label} || ' is negative: ' || {text}")
            checks.append(
                f"when {value} > {_MAX_COUNT} then {label} || ' is out of range: ' || {text}"
            )
        return value, f"case when {text} is null then null {' '.join(checks)} end"
    if column.kind == "decimal":
        value = "try_cast(" + text + " as decimal(38, 12))"
        reason = (
            f"case when {text} is not null and {value} is null "
            f"then {label} || ' is not a decimal amount: ' || left({text}, 40) end"
        )
        return value, reason
    if column.kind == "timestamp":
        value = f"try_cast({text} as timestamptz)"
        reason = (
            f"case when {text} is not null and ({value} is null "
            f"or {value} < timestamptz '1970-01-01 00:00:00+00' "
            f"or {value} >= timestamptz '2200-01-01 00:00:00+00') "
            f"then {label} || ' is not a valid timestamp: ' || left({text}, 40) end"
        )
        return value, reason
    if column.kind == "bool":
        value = f"try_cast({text} as boolean)"
        reason = (
            f"case when {text} is not null and {value} is null "
            f"then {label} || ' is not a boolean: ' || left({text}, 40) end"
        )
        return value, reason
    if column.kind == "json":
        reason = (
            f"case when {text} is not null and not json_valid({text}) "
            f"then {label} || ' is not valid JSON'"
            f" when strpos({text}, '\\u0000') > 0 then {label} || ' contains a NUL character'"
            f" when length({text}) > {_MAX_TEXT_CHARS} then {label} || ' is longer than "
            f"{_MAX_TEXT_CHARS} characters' end"
        )
        return f"case when json_valid({text}) then {text}::json end", reason
    if column.kind == "double":
        value = f"try_cast({text} as double)"
        reason = (
            f"case when {text} is not null and {value} is null "
            f"then {label} || ' is not a number: ' || left({text}, 40) end"
        )
        return value, reason
    raise ValueError(f"column {column.name}: unknown kind {column.kind!r}")


def _stage_typed_batch(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    """Materialise ``_typed_batch``: typed columns, line, ``_reason`` and ``_file_index`` per
    record of every file of the batch."""
    values: list[str] = []
    reasons: list[str] = []
    for column in spec.all_columns:
        value, reason = _typed_expression(column)
        values.append(f'{value} as "{column.name}"')
        reasons.append(reason)
        if column.required:
            reasons.append(
                f"case when nullif(trim(\"{column.name}\"), '') is null "
                f"then 'missing required field {column.name}' end"
            )
    if spec.format == "otlp_jsonl":
        reasons.insert(0, "_check_reason")
    reason_sql = "nullif(concat_ws('; ', " + ", ".join(reasons) + "), '')"
    con.execute("drop table if exists _typed_batch")
    con.execute(
        f"""
        create temp table _typed_batch as
        with records as ({_records_sql(spec)})
        select
            {", ".join(values)},
            _file_index,
            _line_number,
            _record_path,
            replace(coalesce(_pre_reason, {reason_sql}), chr(0), '\ufffd') as _reason,
            replace(left(_raw_text, {_MAX_RAW_TEXT}), chr(0), '\ufffd') as _raw_text
        from records
        """
    )


def _mark_duplicates(con: duckdb.DuckDBPyConnection, spec: SourceSpec, relative_path: str) -> None:
    """At-least-once delivery: the first copy of a key loads, later copies are quarantined."""
    key = ", ".join(f'"{k}"' for k in spec.dedupe_key)
    join = " and ".join(f'loaded."{k}" = _typed."{k}"' for k in spec.dedupe_key)
    con.execute(
        f"""
        update _typed set _reason = 'duplicate export of (' || {
            " || ', ' || ".join(f'_typed."{k}"' for k in spec.dedupe_key)
        } || '): first copy at line ' || firsts.first_line || ' of this file'
        from (
            select {key}, _line_number,
                min(_line_number) over (partition by {key}) as first_line,
                row_number() over (partition by {key} order by _line_number) as copy_number
            from _typed
            where _reason is null
        ) as firsts
        where {" and ".join(f'firsts."{k}" = _typed."{k}"' for k in spec.dedupe_key)}
            and firsts._line_number = _typed._line_number
            and firsts.copy_number > 1
            and _typed._reason is null
        """
    )
    con.execute(
        f"""
        update _typed set _reason = 'duplicate export of (' || {
            " || ', ' || ".join(f'_typed."{k}"' for k in spec.dedupe_key)
        } || '): already loaded from ' || loaded._source_file
        from {_RAW_SCHEMA}.{spec.table} as loaded
        where {join} and loaded._source_file <> ? and _typed._reason is null
        """,
        [relative_path],
    )


def _write_staged(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    landing_file: landing.LandingFile,
    loaded_at: datetime,
) -> tuple[int, int]:
    names = ", ".join(f'"{c.name}"' for c in spec.all_columns)
    con.execute(
        f"""
        insert into {_RAW_SCHEMA}.{spec.table} ({names}, {", ".join(n for n, _ in _META_COLUMNS)})
        select {names}, ?, _line_number, _record_path, ?, ?
        from _typed where _reason is null
        """,
        [landing_file.relative_path, landing_file.landing_date, loaded_at],
    )
    con.execute(
        f"""
        insert into {_AUDIT_SCHEMA}.quarantine
        select ?, ?, _line_number, _record_path, _reason, _raw_text, ?
        from _typed where _reason is not null
        """,
        [spec.name, landing_file.relative_path, loaded_at],
    )
    good, bad = con.execute(
        "select count(*) filter (where _reason is null),"
        " count(*) filter (where _reason is not null) from _typed"
    ).fetchone()
    return int(good), int(bad)


def load_all(
    con: duckdb.DuckDBPyConnection,
    landing_root: Path,
    *,
    sources: Iterable[str] | None = None,
    dates: set[date] | None = None,
) -> dict[str, LoadReport]:
    """Load every source (or the named ones); used by tests and the CLI."""
    names = list(sources) if sources is not None else list(SOURCES)
    return {name: load_source(con, SOURCES[name], landing_root, dates=dates) for name in names}
