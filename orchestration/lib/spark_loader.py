"""The Spark target's raw loader: Spark reads the landing files itself and types and quarantines
their records, with the same columns, types, reasons and bookkeeping as the DuckDB loader.

The driver (this process) keeps the file bookkeeping: discovery, the sha256 fingerprint, the load
manifest, unchanged files skipped and changed files replacing their own rows. Spark does the
records: it reads the files (``spark.read.text``, gzip decompressed by Hadoop's codec), splits the
lines keeping each line's 1-based number, decodes OTLP export lines with ``from_json`` and an
explicit ``StructType`` of ``ExportTraceServiceRequest`` (the structure of ``otlp.py``), maps the
span attributes by ``seeds/gateway_attribute_map.csv``, parses the JSON lines and CSV records,
casts every column from its text (money straight to DECIMAL(38, 12), never through a double),
gives each bad record its reason and quarantines duplicates, then writes parquet.

What the driver still decodes: ``.zst`` files (Hadoop's zstd codec needs native libraries) are
decompressed into scratch files that Spark then reads, a gzip stream Spark cannot read to the end
is salvaged the way the DuckDB loader salvages it, and the JSON pages of the provider APIs
(``provider_usage_buckets``, ``provider_costs``: documents of a few KB) are flattened by the
DuckDB loader's own extraction before Spark types and quarantines their rows.

Layout (one parquet file set per landing file, so that a changed file replaces only its own):

    raw/<table>/<file key>-<n>.parquet           good records
    audit/quarantine/<source>-<file key>-*.parquet
    audit/load_manifest/<source>.parquet         one row per landing file (written by the driver)

Known differences from the DuckDB loader (edge cases the generator never writes; the test's
generated, hostile and awkward files give equal tables): Spark's JSON parser stops after the first
value of a line, so text after it is caught by checks (``_trailing_content``) that cannot see an
OTLP line holding two export requests back to back, nor a JSON line nested more than 1,000 levels
followed by another object; JSON numbers keep their source text where DuckDB re-serialises them
(only the text of a reason such as ``is not an integer: 1.50`` can differ); CSV records are joined
across lines by quote parity and split at ``\n`` only (Python's csv also ends a record at a bare
``\r`` and takes a quote inside an unquoted field literally); the JSON-typed columns are checked
with ``try_parse_json``; and two changed files of one load that share a span key name the earlier
file of this load as the loaded copy, where DuckDB may name the later file's previous rows. Each
file is one row of text until its lines are split: a task holds a whole file (the 2 GB default
loads 35 MB span files; a file over 2 GB uncompressed cannot be read this way).

One local ``SparkSession`` per process (``local[$AI_CHARGEBACK_SPARK_CORES]``, driver memory
$AI_CHARGEBACK_SPARK_MEMORY, as in profiles.yml), without Hive support: the Derby metastore
belongs to dbt's process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib import landing, loader, paths
from orchestration.lib.otlp import (
    _BAD_LINE_KEPT_CHARS,
    _SPAN_KIND_CLIENT,
    _SPAN_KIND_SERVER,
    OTLP_STRUCTURE,
    candidates_by_column,
)
from orchestration.lib.sources import AttributeCandidate, Column, SourceSpec, load_attribute_map

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

CORES_ENV = "AI_CHARGEBACK_SPARK_CORES"
MEMORY_ENV = "AI_CHARGEBACK_SPARK_MEMORY"
RAW = "raw"
AUDIT = "audit"
_FILE = "_file_order"
_CORRUPT = "_corrupt_record"
# Python's str.isspace() (what the DuckDB loader's line.strip() removes) as a Java regex class
_PY_SPACE = (
    "[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000]"
)
# bytes.strip(): what a blank line is when the file is not valid UTF-8
_ASCII_SPACE = "[\\t\\n\\x0b\\x0c\\r ]"
_REPLACEMENT = "\ufffd"
# a quoted CSV field: possessive quantifiers, so that Java's regex does not recurse per character
_QUOTED_FIELD = '"[^"]*+(?:""[^"]*+)*+"'
_JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": _CORRUPT,
    "allowSingleQuotes": "false",
    "allowNumericLeadingZeros": "false",
    "allowNonNumericNumbers": "false",
    # DuckDB reads past deep nesting in fields nobody asked for; Jackson stops at 1,000 levels
    "maxNestingDepth": str(2**31 - 1),
}
_MANIFEST_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file_path", pa.string()),
        ("landing_date", pa.date32()),
        ("sha256", pa.string()),
        ("size_bytes", pa.int64()),
        ("compression", pa.string()),
        ("rows_in_file", pa.int64()),
        ("rows_loaded", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("file_shape", pa.string()),
        ("read_error", pa.string()),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)
_QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file_path", pa.string()),
        ("line_number", pa.int64()),
        ("record_path", pa.string()),
        ("reason", pa.string()),
        ("raw_text", pa.string()),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)
_ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "count": pa.int64(),
    "integer": pa.int64(),
    "epoch_nanos": pa.int64(),
    "decimal": pa.decimal128(38, 12),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "json": pa.string(),
    "double": pa.float64(),
}
_META_ARROW = (
    ("_source_file", pa.string()),
    ("_line_number", pa.int64()),
    ("_record_path", pa.string()),
    ("_landing_date", pa.date32()),
    ("_loaded_at", pa.timestamp("us", tz="UTC")),
)

_session: SparkSession | None = None


def session() -> SparkSession:
    """The process's one local SparkSession (in-memory catalog: no Hive, no Derby)."""
    global _session
    if _session is None:
        from pyspark.sql import SparkSession

        scratch = paths.spark_dir() / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        _session = (
            SparkSession.builder.master(f"local[{os.environ.get(CORES_ENV, '2')}]")
            .appName("ai-chargeback-loader")
            .config("spark.driver.memory", os.environ.get(MEMORY_ENV, "2g"))
            .config("spark.sql.catalogImplementation", "in-memory")
            .config("spark.sql.warehouse.dir", str(scratch / "loader-warehouse"))
            .config("spark.local.dir", str(scratch))
            .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={scratch}")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.decimalOperations.allowPrecisionLoss", "false")
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            .config("spark.sql.shuffle.partitions", "4")
            # one projection types every column of a wide source: whole-stage code for it grows
            # past the JVM's 64 KB method limit (Spark then falls back, logging a stack trace)
            .config("spark.sql.codegen.wholeStage", "false")
            # a file is one row until its lines are exploded: the filters Spark infers from the
            # explode would split every file twice more, holding its text three times in memory
            .config(
                "spark.sql.optimizer.excludedRules",
                "org.apache.spark.sql.catalyst.optimizer.InferFiltersFromGenerate",
            )
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        _session.sparkContext.setLogLevel("ERROR")
    return _session


def stop_session() -> None:
    """End the process's loader session (its JVM), if one was started."""
    global _session
    if _session is not None:
        _session.stop()
        _session = None


def raw_dir() -> Path:
    return paths.spark_dir() / RAW


def audit_dir() -> Path:
    return paths.spark_dir() / AUDIT


# --- bookkeeping (driver) -------------------------------------------------------------------------


@dataclass
class _Planned:
    """A landing file Spark will read: where from, and what the driver already knows of it."""

    order: int
    landing_file: landing.LandingFile
    sha256: str
    replaces: bool
    spark_path: Path | None = None
    read_error: str | None = None


def _file_key(spec: SourceSpec, relative_path: str) -> str:
    return hashlib.sha256(f"{spec.name}\0{relative_path}".encode()).hexdigest()[:24]


def _manifest_path(spec: SourceSpec) -> Path:
    return audit_dir() / "load_manifest" / f"{spec.name}.parquet"


def _read_manifest(spec: SourceSpec) -> dict[str, dict]:
    path = _manifest_path(spec)
    if not path.exists():
        return {}
    return {row["file_path"]: row for row in pq.read_table(path).to_pylist()}


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Write a parquet file atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(table, temporary)
    temporary.replace(path)


def _write_manifest(spec: SourceSpec, rows: dict[str, dict]) -> None:
    ordered = [rows[k] for k in sorted(rows)]
    _write_parquet(pa.Table.from_pylist(ordered, schema=_MANIFEST_SCHEMA), _manifest_path(spec))


def _remove_parts(folder: Path, prefix: str) -> None:
    if folder.is_dir():
        for stale in folder.glob(f"{prefix}-*.parquet"):
            stale.unlink()


def _raw_arrow_schema(spec: SourceSpec) -> pa.Schema:
    return pa.schema([(c.name, _ARROW_TYPES[c.kind]) for c in spec.all_columns] + list(_META_ARROW))


def _ensure_schema_file(spec: SourceSpec) -> None:
    """A raw table with no rows yet is still a parquet folder with its schema (dbt-spark
    registers every raw table; Spark cannot infer a schema from an empty folder)."""
    folder = raw_dir() / spec.table
    if not any(folder.glob("*.parquet")):
        _write_parquet(_raw_arrow_schema(spec).empty_table(), folder / "schema-00000.parquet")


def _quarantine_file_row(
    spec: SourceSpec, relative_path: str, reason: str, loaded_at: datetime
) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "source": spec.name,
                "file_path": relative_path,
                "line_number": None,
                "record_path": None,
                "reason": reason,
                "raw_text": None,
                "loaded_at": loaded_at,
            }
        ],
        schema=_QUARANTINE_SCHEMA,
    )


def _manifest_row(
    spec: SourceSpec,
    landing_file: landing.LandingFile,
    sha256: str,
    *,
    size_bytes: int,
    loaded: int,
    quarantined: int,
    shape: str | None,
    read_error: str | None,
    loaded_at: datetime,
) -> dict:
    return {
        "source": spec.name,
        "file_path": landing_file.relative_path,
        "landing_date": landing_file.landing_date,
        "sha256": sha256,
        "size_bytes": size_bytes,
        "compression": landing.compression_of(landing_file.path),
        "rows_in_file": loaded + quarantined,
        "rows_loaded": loaded,
        "rows_quarantined": quarantined,
        "file_shape": shape,
        "read_error": read_error,
        "loaded_at": loaded_at,
    }


def _retire_duckdb_state() -> None:
    """A directory written by the earlier loader (its state in ``loader_state.duckdb``, each table
    as one ``part-00000.parquet``) has no per-file parts to replace: remove those files once, and
    the files are loaded again from the landing directory."""
    state = paths.spark_dir() / "loader_state.duckdb"
    if not state.exists():
        return
    for folder in (raw_dir(), audit_dir()):
        if folder.is_dir():
            for stale in folder.glob("*/part-00000.parquet"):
                stale.unlink()
    for leftover in (state, state.with_name(state.name + ".wal")):
        leftover.unlink(missing_ok=True)


def load_source(
    spec: SourceSpec, landing_root: Path, *, dates: set[date] | None = None
) -> loader.LoadReport:
    """Load every new or changed file of one source with Spark; never stops on a bad file."""
    _retire_duckdb_state()
    manifest = _read_manifest(spec)
    report = loader.LoadReport(spec.name)
    loaded_at = datetime.now(UTC)
    planned: list[_Planned] = []
    whole_file: list[tuple[landing.LandingFile, str, str]] = []  # (file, reason, sha256)
    for landing_file in loader.files_for(spec, landing_root, dates=dates):
        if not loader._is_inside(landing_file.path, landing_root):
            whole_file.append(
                (
                    landing_file,
                    "file resolves outside the landing directory (symbolic link?): not read",
                    loader._link_fingerprint(landing_file.path),
                )
            )
            continue
        sha256 = landing.sha256_of(landing_file.path)
        previous = manifest.get(landing_file.relative_path)
        if previous is not None and previous["sha256"] == sha256:
            report.files.append(loader.FileReport(landing_file.relative_path, "unchanged"))
            continue
        planned.append(_Planned(len(planned), landing_file, sha256, previous is not None))
    if spec.name == loader._primary_spec_of(spec.folder).name:
        for stray in loader.unclaimed_files(spec.folder, landing_root, dates=dates):
            whole_file.append((stray, "no loader for file name", landing.sha256_of(stray.path)))

    if planned:
        scratch = paths.spark_dir() / "tmp" / f"load-{spec.name}-{uuid.uuid4().hex[:8]}"
        try:
            counts, shapes = _load_with_spark(spec, planned, scratch, loaded_at)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for item in planned:
            relative = item.landing_file.relative_path
            good, bad = counts.get(item.order, (0, 0))
            if item.read_error is not None:
                _write_parquet(
                    _quarantine_file_row(
                        spec,
                        relative,
                        f"file unreadable past this point: {item.read_error}",
                        loaded_at,
                    ),
                    audit_dir()
                    / "quarantine"
                    / f"{spec.name}-{_file_key(spec, relative)}-read-error.parquet",
                )
                bad += 1
            manifest[relative] = _manifest_row(
                spec,
                item.landing_file,
                item.sha256,
                size_bytes=item.landing_file.path.stat().st_size,
                loaded=good,
                quarantined=bad,
                shape=shapes.get(item.order),
                read_error=item.read_error,
                loaded_at=loaded_at,
            )
            report.files.append(
                loader.FileReport(
                    relative,
                    "replaced" if item.replaces else "loaded",
                    good + bad,
                    good,
                    bad,
                    item.read_error,
                )
            )
    for landing_file, reason, sha256 in whole_file:
        relative = landing_file.relative_path
        previous = manifest.get(relative)
        if previous is not None and previous["sha256"] == sha256:
            report.files.append(loader.FileReport(relative, "unchanged"))
            continue
        key = _file_key(spec, relative)
        _remove_parts(raw_dir() / spec.table, key)
        _remove_parts(audit_dir() / "quarantine", f"{spec.name}-{key}")
        _write_parquet(
            _quarantine_file_row(spec, relative, reason, loaded_at),
            audit_dir() / "quarantine" / f"{spec.name}-{key}-file.parquet",
        )
        manifest[relative] = _manifest_row(
            spec,
            landing_file,
            sha256,
            size_bytes=landing_file.path.lstat().st_size,
            loaded=0,
            quarantined=1,
            shape=None,
            read_error=reason,
            loaded_at=loaded_at,
        )
        report.files.append(loader.FileReport(relative, "loaded", 1, 0, 1, reason))
    _ensure_schema_file(spec)
    if planned or whole_file or not _manifest_path(spec).exists():
        _write_manifest(spec, manifest)
    return report


def _stage_inputs(spec: SourceSpec, planned: list[_Planned], scratch: Path) -> None:
    """Give Spark one path per file, named by its order: a link to the landing file (plain or
    gzip, which Spark reads itself), or the driver's decompression of a zstd file. (JSON pages
    are read by the driver: nothing to stage.)"""
    if spec.format == "json_pages":
        return
    inputs = scratch / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    for item in planned:
        path = item.landing_file.path
        compression = landing.compression_of(path)
        if compression == "zstd" or item.read_error is not None:
            content = landing.read_file(path)
            item.read_error = content.read_error
            target = inputs / f"{item.order:06d}.txt"
            target.write_bytes(content.data)
        else:
            suffix = ".gz" if compression == "gzip" else ".txt"
            target = inputs / f"{item.order:06d}{suffix}"
            if target.exists() or target.is_symlink():
                target.unlink()
            target.symlink_to(path.resolve())
        item.spark_path = target


def _load_with_spark(
    spec: SourceSpec, planned: list[_Planned], scratch: Path, loaded_at: datetime
) -> tuple[dict[int, tuple[int, int]], dict[int, str | None]]:
    """Read, type and quarantine the planned files in one Spark job; move its parquet into
    place: ({order: (rows loaded, rows quarantined)}, {order: file shape})."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    _stage_inputs(spec, planned, scratch)
    try:
        return _run_job(spec, planned, scratch, loaded_at)
    except (Py4JJavaError, PySparkException):
        # A gzip stream damaged mid-way fails Spark's whole read: find it, salvage what the
        # driver can decompress (as the DuckDB loader does) and run the job again.
        damaged = False
        for item in planned:
            if landing.compression_of(item.landing_file.path) == "gzip":
                item.read_error = landing.read_file(item.landing_file.path).read_error
                damaged = damaged or item.read_error is not None
        if not damaged:
            raise
        shutil.rmtree(scratch, ignore_errors=True)
        _stage_inputs(spec, planned, scratch)
        return _run_job(spec, planned, scratch, loaded_at)


def _run_job(
    spec: SourceSpec, planned: list[_Planned], scratch: Path, loaded_at: datetime
) -> tuple[dict[int, tuple[int, int]], dict[int, str | None]]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark = session()
    files = spark.createDataFrame(
        [
            (
                item.order,
                item.landing_file.relative_path,
                item.landing_file.landing_date,
                loader._provider_of(item.landing_file),
            )
            for item in planned
        ],
        f"{_FILE} int, _source_file string, _landing_date date, _provider string",
    )
    shapes: dict[int, str | None] = {}
    if spec.format == "otlp_jsonl":
        # the lines feed two branches (spans, bad lines): read and split each file once
        lines = _lines(spark, planned, with_size_limit=False).persist(StorageLevel.MEMORY_AND_DISK)
        records = _otlp_records(lines)
    elif spec.format == "jsonl":
        records = _jsonl_records(spec, _lines(spark, planned, with_size_limit=True))
    elif spec.format == "csv":
        records, shapes = _csv_records(spec, spark, planned, files)
    elif spec.format == "json_pages":
        records, shapes = _page_records(spec, spark, planned)
    else:
        raise ValueError(f"source {spec.name}: unknown format {spec.format!r}")

    typed = _typed(spec, records)
    if spec.dedupe_key:
        # the duplicate checks read the records three times: decode them once
        typed = typed.persist(StorageLevel.MEMORY_AND_DISK)
        typed.count()
        typed = _mark_duplicates(spec, typed, planned)
    typed = typed.join(F.broadcast(files.drop("_provider")), _FILE).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        good = typed.where(F.col("_reason").isNull()).select(
            *[F.col(c.name) for c in spec.all_columns],
            F.col("_source_file"),
            F.col("_line_number"),
            F.col("_record_path"),
            F.col("_landing_date"),
            F.lit(loaded_at).alias("_loaded_at"),
            F.col(_FILE),
        )
        bad = typed.where(F.col("_reason").isNotNull()).select(
            F.lit(spec.name).alias("source"),
            F.col("_source_file").alias("file_path"),
            F.col("_line_number").alias("line_number"),
            F.col("_record_path").alias("record_path"),
            F.col("_reason").alias("reason"),
            F.col("_raw_text").alias("raw_text"),
            F.lit(loaded_at).alias("loaded_at"),
            F.col(_FILE),
        )
        good.write.partitionBy(_FILE).parquet(str(scratch / "raw"))
        bad.write.partitionBy(_FILE).parquet(str(scratch / "quarantine"))
    finally:
        spark.catalog.clearCache()  # this job's cached records (the session is the loader's)

    counts: dict[int, tuple[int, int]] = {}
    for item in planned:
        key = _file_key(spec, item.landing_file.relative_path)
        raw_target = raw_dir() / spec.table
        quarantine_target = audit_dir() / "quarantine"
        _remove_parts(raw_target, key)
        _remove_parts(quarantine_target, f"{spec.name}-{key}")
        good_rows = _move_parts(scratch / "raw" / f"{_FILE}={item.order}", raw_target, key)
        bad_rows = _move_parts(
            scratch / "quarantine" / f"{_FILE}={item.order}",
            quarantine_target,
            f"{spec.name}-{key}",
        )
        counts[item.order] = (good_rows, bad_rows)
    return counts, shapes


def _move_parts(written: Path, target: Path, prefix: str) -> int:
    """Move Spark's part files of one landing file into the table folder; their row count."""
    rows = 0
    target.mkdir(parents=True, exist_ok=True)
    for number, part in enumerate(sorted(written.glob("part-*.parquet"))):
        rows += pq.ParquetFile(part).metadata.num_rows
        part.replace(target / f"{prefix}-{number:05d}.parquet")
    return rows


# --- lines: files -> (file, line number, text, pre-reason) ---------------------------------------


def _lines(spark: SparkSession, planned: list[_Planned], *, with_size_limit: bool) -> DataFrame:
    """Every non-blank physical line of the files, numbered from 1, as the DuckDB loader's
    ``_decode_lines`` sees them: a file that is valid UTF-8 is split as text, any other file
    byte-wise, its invalid lines quarantined with the byte offset of the first bad sequence."""
    from pyspark.sql import functions as F

    texts = _read_texts(spark, planned)
    # ISO-8859-1 keeps every byte as one character: a byte-wise split of a non-UTF-8 file
    by_bytes = F.transform(
        F.split(F.decode(F.col("value").cast("binary"), "ISO-8859-1"), "\n", -1),
        lambda line: F.encode(line, "ISO-8859-1").cast("string"),
    )
    pieces = texts.select(
        _FILE,
        "_valid_file",
        F.when(F.col("_valid_file"), F.split("value", "\n", -1))
        .otherwise(by_bytes)
        .alias("_pieces"),
    ).withColumn("_count", F.size("_pieces"))
    # the count is taken before the explode: an expression over the array after it would make
    # every line's row carry the whole file
    exploded = pieces.select(
        _FILE,
        "_valid_file",
        "_count",
        F.posexplode("_pieces").alias("_pos", "_text"),
    )
    # a final empty piece (the text ends with a line break) is not a line
    lines = (
        exploded.where(~((F.col("_pos") == F.col("_count") - 1) & (F.col("_text") == "")))
        .withColumn("_bytes", F.col("_text").cast("binary"))
        .select(
            _FILE,
            "_valid_file",
            (F.col("_pos") + 1).cast("bigint").alias("_line_number"),
            # byte-wise (a regex would turn the bytes of a non-UTF-8 line into valid text)
            F.when(
                F.col("_bytes").endswith(F.lit(b"\r")),
                F.expr("substring(_bytes, 1, octet_length(_bytes) - 1)"),
            )
            .otherwise(F.col("_bytes"))
            .cast("string")
            .alias("_line"),
        )
    )
    # blank lines are not records (str.strip() of a UTF-8 file, bytes.strip() of any other)
    lines = lines.where(
        ~F.when(F.col("_valid_file"), F.col("_line").rlike(f"^{_PY_SPACE}*\\z")).otherwise(
            F.col("_line").rlike(f"^{_ASCII_SPACE}*\\z")
        )
    )
    valid_line = F.expr("is_valid_utf8(_line)")
    fixed = F.expr("make_valid_utf8(_line)")
    first_bad = F.instr(fixed, _REPLACEMENT)
    pre_reason = F.when(
        ~valid_line,
        F.concat(
            F.lit("invalid UTF-8 at byte "),
            F.octet_length(F.substring(fixed, 1, first_bad - 1)).cast("string"),
        ),
    )
    text = F.when(valid_line, F.col("_line")).otherwise(fixed)
    if with_size_limit:
        pre_reason = F.coalesce(
            pre_reason,
            F.when(
                F.length(text) > loader._MAX_RECORD_CHARS,
                F.concat(
                    F.lit("record is "),
                    F.length(text).cast("string"),
                    F.lit(f" characters, over the limit of {loader._MAX_RECORD_CHARS}"),
                ),
            ),
        )
    return lines.select(
        _FILE, "_line_number", text.alias("_raw_text"), pre_reason.alias("_pre_reason")
    )


def _read_texts(spark: SparkSession, planned: list[_Planned]) -> DataFrame:
    """One row per file: its order, its whole text (bytes as read) and whether it is UTF-8."""
    from pyspark.sql import functions as F

    texts = spark.read.text([str(item.spark_path) for item in planned], wholetext=True)
    return texts.select(
        F.regexp_extract(F.col("_metadata.file_path"), r"/(\d{6})\.[a-z]+$", 1)
        .cast("int")
        .alias(_FILE),
        F.col("value"),
        F.expr("is_valid_utf8(value)").alias("_valid_file"),
    )


# --- records per format: -> _file_order, _line_number, _record_path, _raw_text, _pre_reason,
#     (_check_reason) and one text column per spec column -----------------------------------------


def _spark_type(structure: object):
    """The Spark type of an ``OTLP_STRUCTURE``-style description (dict, [item] or 'VARCHAR')."""
    from pyspark.sql import types as T

    if isinstance(structure, dict):
        return T.StructType(
            [T.StructField(name, _spark_type(value)) for name, value in structure.items()]
        )
    if isinstance(structure, list):
        return T.ArrayType(_spark_type(structure[0]))
    return T.StringType()


def _trailing_content(text: SparkColumn) -> SparkColumn:
    """Text after a JSON object that Spark's parser has read (it stops after the first value;
    DuckDB's ``json_valid`` rejects the line). ``[<text>]`` must be an array of one value; where
    Spark cannot say (``json_array_length`` is null past 1,000 nesting levels too), a line with
    fewer brackets than that is malformed, one with more counts as whole if it ends with ``}``."""
    from pyspark.sql import functions as F

    length = F.json_array_length(F.concat(F.lit("["), text, F.lit("]")))
    brackets = F.length(text) - F.length(F.regexp_replace(text, "[\\[{]", ""))
    ends_as_object = text.rlike("\\}[ \\t\\n\\r]*\\z")
    return F.when(length.isNotNull(), length != 1).otherwise(~ends_as_object | (brackets < 1000))


def _json_validity(text: SparkColumn) -> SparkColumn:
    """DuckDB's ``json_valid``: the text parses as one JSON value."""
    from pyspark.sql import functions as F

    return F.try_parse_json(text).isNotNull()


def _otlp_records(lines: DataFrame, candidates: list[AttributeCandidate] | None = None):
    """One row per span of each export line (``otlp.otlp_records_sql`` in Spark), bad lines as
    one row each."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    candidates = candidates if candidates is not None else load_attribute_map()
    request_type = _spark_type(OTLP_STRUCTURE)
    request_type = T.StructType(request_type.fields + [T.StructField(_CORRUPT, T.StringType())])
    decoded = lines.select(
        _FILE,
        "_line_number",
        "_raw_text",
        "_pre_reason",
        F.when(
            F.col("_pre_reason").isNull(), F.from_json("_raw_text", request_type, _JSON_OPTIONS)
        ).alias("request"),
    ).withColumn(
        "_pre_reason",
        F.coalesce(
            "_pre_reason",
            F.when(
                (F.col(f"request.{_CORRUPT}").isNotNull() & ~_json_validity(F.col("_raw_text")))
                # Spark's parser stops after the request; DuckDB's json_valid rejects what follows
                | (
                    F.col(f"request.{_CORRUPT}").isNull()
                    & ~F.col("_raw_text").rlike("\\}[ \\t\\n\\r]*\\z")
                ),
                F.lit("malformed JSON (OTLP export line)"),
            ),
        ),
    )
    span_count = F.expr(
        "coalesce(aggregate(request.resourceSpans, 0, (acc, r) -> acc + coalesce(aggregate("
        "r.scopeSpans, 0, (a2, s) -> a2 + if(s.spans is null, 0, size(s.spans))), 0)), 0)"
    )
    bad_lines = decoded.where(F.col("_pre_reason").isNotNull() | (span_count == 0)).select(
        _FILE,
        "_line_number",
        F.lit(None).cast("string").alias("_record_path"),
        F.concat(
            F.regexp_replace(
                F.substring("_raw_text", 1, _BAD_LINE_KEPT_CHARS),
                '(?s)("spans".*?)"key".*$',
                "$1",
            ),
            F.lit(" ... ("),
            F.length("_raw_text").cast("string"),
            F.lit(" characters; the rest is not stored)"),
        ).alias("_raw_text"),
        F.coalesce(
            "_pre_reason",
            F.lit("OTLP export line has no resourceSpans[].scopeSpans[].spans[]"),
        ).alias("_pre_reason"),
    )
    resource_spans = decoded.where(F.col("_pre_reason").isNull()).select(
        _FILE, "_line_number", F.explode("request.resourceSpans").alias("resource_span")
    )
    scope_spans = resource_spans.select(
        _FILE,
        "_line_number",
        F.col("resource_span.resource.attributes").alias("resource_attributes"),
        F.explode("resource_span.scopeSpans").alias("scope_span"),
    )
    unnested = scope_spans.select(
        _FILE,
        "_line_number",
        "resource_attributes",
        F.col("scope_span.scope").alias("scope"),
        F.explode("scope_span.spans").alias("raw_span"),
    )
    kind = F.col("raw_span.kind")
    code = F.col("raw_span.status.code")
    spans = unnested.select(
        _FILE,
        "_line_number",
        "resource_attributes",
        "scope",
        F.col("raw_span.traceId").alias("traceId"),
        F.col("raw_span.spanId").alias("spanId"),
        F.col("raw_span.parentSpanId").alias("parentSpanId"),
        F.col("raw_span.name").alias("name"),
        # Exporters write enums as numbers or as their proto names: read both.
        F.when(kind == "SPAN_KIND_INTERNAL", "1")
        .when(kind == "SPAN_KIND_SERVER", "2")
        .when(kind == "SPAN_KIND_CLIENT", "3")
        .when(kind == "SPAN_KIND_PRODUCER", "4")
        .when(kind == "SPAN_KIND_CONSUMER", "5")
        .otherwise(kind)
        .alias("kind"),
        F.col("raw_span.startTimeUnixNano").alias("startTimeUnixNano"),
        F.col("raw_span.endTimeUnixNano").alias("endTimeUnixNano"),
        F.col("raw_span.attributes").alias("attributes"),
        F.struct(
            F.when(code == "STATUS_CODE_UNSET", "0")
            .when(code == "STATUS_CODE_OK", "1")
            .when(code == "STATUS_CODE_ERROR", "2")
            .otherwise(code)
            .alias("code"),
            F.col("raw_span.status.message").alias("message"),
        ).alias("status"),
        F.transform("raw_span.attributes", lambda a: a["key"]).alias("attribute_keys"),
    )

    attribute_columns = []
    required_checks = []
    for column_name, group in candidates_by_column(candidates).items():
        texts = [_attribute_text(c) for c in group]
        expression = texts[0] if len(texts) == 1 else F.coalesce(*texts)
        attribute_columns.append(expression.alias(column_name))
        keys = " or ".join(c.attribute_key for c in group)
        for scope in sorted({c.required_on for c in group} - {""}):
            condition = {
                "any": F.lit(True),
                "client": F.col("kind") == str(_SPAN_KIND_CLIENT),
                "server": F.col("kind") == str(_SPAN_KIND_SERVER),
            }[scope]
            required_checks.append(
                F.when(
                    condition & F.nullif(F.trim(expression), F.lit("")).isNull(),
                    F.lit(f"missing required attribute {keys}"),
                )
            )
    mapped_keys = sorted({c.attribute_key for c in candidates})
    check_reason = (
        F.nullif(F.concat_ws("; ", *required_checks), F.lit(""))
        if required_checks
        else F.lit(None).cast("string")
    )
    service = F.get(F.filter("resource_attributes", lambda a: a["key"] == "service.name"), 0)[
        "value"
    ]["stringValue"]
    raw_span = F.struct(
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "kind",
        "startTimeUnixNano",
        "endTimeUnixNano",
        F.filter("attributes", lambda a: a["key"].isin(mapped_keys)).alias("attributes"),
        "status",
    )
    flattened = spans.select(
        _FILE,
        "_line_number",
        F.lit(None).cast("string").alias("_record_path"),
        F.to_json(raw_span, {"ignoreNullFields": "false"}).alias("_raw_text"),
        F.lit(None).cast("string").alias("_pre_reason"),
        check_reason.alias("_check_reason"),
        F.col("traceId").alias("trace_id"),
        F.col("spanId").alias("span_id"),
        F.nullif(F.col("parentSpanId"), F.lit("")).alias("parent_span_id"),
        F.col("name").alias("span_name"),
        F.col("kind").alias("span_kind"),
        F.col("startTimeUnixNano").alias("start_time_unix_nano"),
        F.col("endTimeUnixNano").alias("end_time_unix_nano"),
        F.col("status.code").alias("status_code"),
        F.col("status.message").alias("status_message"),
        service.alias("service_name"),
        F.col("scope.name").alias("scope_name"),
        F.col("scope.version").alias("scope_version"),
        *attribute_columns,
    )
    return flattened.unionByName(bad_lines, allowMissingColumns=True)


def _attribute_text(candidate: AttributeCandidate) -> SparkColumn:
    """The text of the first attribute with the candidate's key, read as its value kind says
    (``otlp._value_text``)."""
    from pyspark.sql import functions as F

    position = F.array_position("attribute_keys", candidate.attribute_key)
    value = F.get("attributes", (position - 1).cast("int"))["value"]
    kind = candidate.value_kind
    if kind == "string":
        return value["stringValue"]
    if kind == "int":
        return F.coalesce(value["intValue"], value["stringValue"], value["doubleValue"])
    if kind == "bool":
        return F.coalesce(value["boolValue"], value["stringValue"])
    if kind == "double":
        return F.coalesce(value["doubleValue"], value["intValue"], value["stringValue"])
    if kind == "string_array":
        return F.coalesce(
            F.get(value["arrayValue"]["values"], 0)["stringValue"], value["stringValue"]
        )
    raise ValueError(f"unknown value kind {kind!r}")


def _path_schemas(columns: tuple[Column, ...]) -> list[tuple[dict, list[Column]]]:
    """Schema trees (nested dicts, leaves 'VARCHAR') for the columns' JSON paths; a path that is
    both a leaf and a prefix of another (``usage`` and ``usage.input_tokens``) goes to a tree of
    its own, read by a second ``from_json``."""
    trees: list[tuple[dict, list[Column]]] = []
    for column in columns:
        parts = column.source_path.split(".")
        for tree, members in trees:
            if _fits(tree, parts):
                _add(tree, parts)
                members.append(column)
                break
        else:
            tree: dict = {}
            _add(tree, parts)
            trees.append((tree, [column]))
    return trees


def _fits(tree: dict, parts: list[str]) -> bool:
    node = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part not in node:
            return True
        if last or node[part] == "VARCHAR":
            return False
        node = node[part]
    return True


def _add(tree: dict, parts: list[str]) -> None:
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = "VARCHAR"


def _jsonl_records(spec: SourceSpec, lines: DataFrame) -> DataFrame:
    """One row per JSON line: each column's text at its path (``json_extract_string``)."""
    from pyspark.sql import functions as F

    # an object line parses; any other line is malformed, or valid JSON that is not an object
    probe = F.from_json("_raw_text", f"{_CORRUPT} string", _JSON_OPTIONS)
    is_object = F.col("_raw_text").rlike("^[ \\t\\n\\r]*\\{")
    one_value = F.json_array_length(F.concat(F.lit("["), F.col("_raw_text"), F.lit("]"))) == 1
    whole_object = probe[_CORRUPT].isNull() & is_object & ~_trailing_content(F.col("_raw_text"))
    checked = lines.withColumn(
        "_pre_reason",
        F.coalesce(
            "_pre_reason",
            F.when(
                ~whole_object,
                F.when(one_value & ~is_object, F.lit("not a JSON object")).otherwise(
                    F.lit("malformed JSON")
                ),
            ),
        ),
    )
    picks = []
    for number, (tree, members) in enumerate(_path_schemas(spec.columns)):
        schema = _spark_type(tree)
        parsed = F.when(
            F.col("_pre_reason").isNull(), F.from_json("_raw_text", schema, _JSON_OPTIONS)
        )
        name = f"_json{number}"
        checked = checked.withColumn(name, parsed)
        for column in members:
            picks.append(F.col(f"{name}.{_quoted_path(column.source_path)}").alias(column.name))
    return checked.select(
        _FILE,
        "_line_number",
        F.lit(None).cast("string").alias("_record_path"),
        "_raw_text",
        "_pre_reason",
        *picks,
    )


def _quoted_path(path: str) -> str:
    return ".".join(f"`{part}`" for part in path.split("."))


def _csv_records(
    spec: SourceSpec, spark: SparkSession, planned: list[_Planned], files: DataFrame
) -> tuple[DataFrame, dict[int, str | None]]:
    """One row per CSV record (``loader._extract_csv`` in Spark): physical lines joined while a
    quoted field is open, fields parsed with ``from_csv``, columns found by header name."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    texts = _read_texts(spark, planned).select(
        _FILE,
        # Python's csv reads the text decoded with errors="replace"
        F.when(F.col("_valid_file"), F.col("value"))
        .otherwise(F.expr("make_valid_utf8(value)"))
        .alias("value"),
        (~F.col("_valid_file") & ~F.col("value").contains(_REPLACEMENT)).alias("_invalid_utf8"),
    )
    pieces = texts.select(
        _FILE, "_invalid_utf8", F.split("value", "\n", -1).alias("_pieces")
    ).withColumn("_count", F.size("_pieces"))
    lines = pieces.select(
        _FILE, "_invalid_utf8", "_count", F.posexplode("_pieces").alias("_pos", "_line")
    ).where(~((F.col("_pos") == F.col("_count") - 1) & (F.col("_line") == "")))
    # a line with an odd number of quotes opens (or closes) a quoted field across lines
    odd = ((F.length("_line") - F.length(F.regexp_replace("_line", '"', ""))) % 2 == 1).cast("int")
    by_file = Window.partitionBy(_FILE).orderBy("_pos")
    lines = lines.withColumn("_odd", odd).withColumn(
        "_open_before",
        F.coalesce(F.sum("_odd").over(by_file.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0))
        % 2,
    )
    lines = lines.withColumn(
        "_start",
        F.max(F.when(F.col("_open_before") == 0, F.col("_pos"))).over(
            by_file.rowsBetween(Window.unboundedPreceding, 0)
        ),
    )
    records = (
        lines.groupBy(_FILE, "_start", "_invalid_utf8")
        .agg(
            F.array_join(
                F.transform(
                    F.array_sort(F.collect_list(F.struct("_pos", "_line"))), lambda x: x["_line"]
                ),
                "\n",
            ).alias("_raw_text")
        )
        .select(
            _FILE,
            (F.col("_start") + 1).cast("bigint").alias("_line_number"),
            "_invalid_utf8",
            "_raw_text",
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    headers = {
        row[_FILE]: row["_raw_text"]
        for row in records.where(F.col("_line_number") == 1).select(_FILE, "_raw_text").collect()
    }
    parsed_headers = {order: _parse_header(text) for order, text in headers.items()}
    shapes: dict[int, str | None] = {
        item.order: (
            "csv:" + ",".join(parsed_headers[item.order])
            if item.order in parsed_headers
            else "csv:(empty)"
        )
        for item in planned
    }
    width = max([len(h) for h in parsed_headers.values()] + [1])
    schema = ", ".join(f"c{i} string" for i in range(width))
    # the record without its line end (CRLF files: the last line's "\r" ends the record)
    record = F.regexp_replace("_raw_text", "\r\\z", "")
    fields = F.from_csv(record, schema, {"quote": '"', "escape": '"', "mode": "PERMISSIVE"})
    field_count = F.size(F.split(F.regexp_replace(record, _QUOTED_FIELD, ""), ",", -1))
    header_width = F.coalesce(
        F.element_at(
            F.create_map(
                *[x for order, h in parsed_headers.items() for x in (F.lit(order), F.lit(len(h)))]
            ),
            F.col(_FILE),
        )
        if parsed_headers
        else F.lit(None).cast("int"),
        F.lit(0),
    )
    body = records.where(F.col("_line_number") > 1).withColumn("_fields", fields)
    all_fields = F.array(*[F.col(f"_fields.c{i}") for i in range(width)])
    blank = F.forall(all_fields, lambda x: x.isNull() | x.rlike(f"^{_PY_SPACE}*\\z")) & (
        field_count <= width
    )
    body = body.where(~blank)
    reason = (
        F.when(
            F.length("_raw_text") > loader._MAX_RECORD_CHARS,
            F.concat(
                F.lit("record is "),
                F.length("_raw_text").cast("string"),
                F.lit(f" characters, over the limit of {loader._MAX_RECORD_CHARS}"),
            ),
        )
        .when(
            field_count != header_width,
            F.concat(
                F.lit("expected "),
                header_width.cast("string"),
                F.lit(" fields, found "),
                field_count.cast("string"),
            ),
        )
        .when(
            F.col("_invalid_utf8") & F.col("_raw_text").contains(_REPLACEMENT),
            F.lit("invalid UTF-8"),
        )
    )
    body = body.withColumn("_pre_reason", reason).join(
        F.broadcast(files.select(_FILE, "_provider")), _FILE
    )
    picks = []
    for column in spec.columns:
        if column.source_path == "_provider":
            picks.append(F.col("_provider").alias(column.name))
            continue
        by_file = {
            order: _header_index(header, column.source_path)
            for order, header in parsed_headers.items()
        }
        value = F.lit(None).cast("string")
        for order, index in by_file.items():
            if index is not None:
                value = F.when(F.col(_FILE) == order, F.col(f"_fields.c{index}")).otherwise(value)
        picks.append(
            F.when(F.col("_pre_reason").isNull(), F.nullif(value, F.lit(""))).alias(column.name)
        )
    return (
        body.select(
            _FILE,
            "_line_number",
            F.lit(None).cast("string").alias("_record_path"),
            "_raw_text",
            "_pre_reason",
            *picks,
        ),
        shapes,
    )


def _parse_header(text: str) -> list[str]:
    """The header record's field names (the driver reads one record per file, as Spark found
    it, to map the columns by name)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0] if rows else []


def _header_index(header: list[str], source_path: str) -> int | None:
    """Where a column is in this file: by exact name, else by snake-cased name
    (``loader._extract_csv``: the first header with that name wins)."""
    for i, name in enumerate(header):
        if name == source_path:
            return i
    wanted = loader._snake(source_path)
    found = None
    for i, name in enumerate(header):
        if loader._snake(name) == wanted:
            found = i  # dict(zip(...)) keeps the last of duplicate names
    return found


def _page_records(
    spec: SourceSpec, spark: SparkSession, planned: list[_Planned]
) -> tuple[DataFrame, dict[int, str | None]]:
    """JSON pages of the provider APIs (a few KB each): flattened on the driver by the DuckDB
    loader's own extraction, typed and quarantined by Spark like every other source."""
    tables = []
    shapes: dict[int, str | None] = {}
    for item in planned:
        content = landing.read_file(item.landing_file.path)
        item.read_error = content.read_error
        table, shape = loader._extract_pages(spec, item.landing_file, content.data)
        shapes[item.order] = shape
        tables.append(
            table.append_column(_FILE, pa.array([item.order] * table.num_rows, pa.int32()))
        )
    combined = pa.concat_tables(tables)
    return spark.createDataFrame(combined), shapes


# --- typing (``loader._typed_expression`` in Spark) ----------------------------------------------


def _typed_column(column: Column) -> tuple[SparkColumn, SparkColumn]:
    """(typed value, reason-if-bad) over the column's text."""
    from pyspark.sql import functions as F

    text = F.nullif(F.trim(F.col(column.name)), F.lit(""))
    label = column.name
    clip = F.substring(text, 1, 40)

    def says(message: str, *tail: SparkColumn) -> SparkColumn:
        return F.concat(F.lit(f"{label}{message}"), *tail)

    kind = column.kind
    if kind == "text":
        reason = F.when(F.instr(text, "\u0000") > 0, says(" contains a NUL character")).when(
            F.length(text) > loader._MAX_TEXT_CHARS,
            says(f" is longer than {loader._MAX_TEXT_CHARS} characters"),
        )
        return text, reason
    integer = text.rlike("^[+-]?[0-9]+\\z")
    if kind == "epoch_nanos":
        value = text.try_cast("bigint")
        reason = (
            F.when(text.isNull(), F.lit(None))
            .when(~integer, says(" is not an integer: ", clip))
            .when(
                value.isNull() | (value < 0) | (value >= loader._MAX_EPOCH_NANOS),
                says(" is out of range (1970 to 2200): ", clip),
            )
        )
        return value, reason
    if kind in {"count", "integer"}:
        value = text.try_cast("bigint")
        reason = (
            F.when(text.isNull(), F.lit(None))
            .when(~integer, says(" is not an integer: ", clip))
            .when(value.isNull(), says(" is out of range: ", clip))
        )
        if kind == "count":
            reason = reason.when(value < 0, says(" is negative: ", text)).when(
                value > loader._MAX_COUNT, says(" is out of range: ", text)
            )
        return value, reason
    if kind == "decimal":
        value = text.try_cast("decimal(38, 12)")
        reason = F.when(text.isNotNull() & value.isNull(), says(" is not a decimal amount: ", clip))
        return value, reason
    if kind == "timestamp":
        value = text.try_cast("timestamp")
        reason = F.when(
            text.isNotNull()
            & (
                value.isNull()
                | (value < F.lit(datetime(1970, 1, 1, tzinfo=UTC)))
                | (value >= F.lit(datetime(2200, 1, 1, tzinfo=UTC)))
            ),
            says(" is not a valid timestamp: ", clip),
        )
        return value, reason
    if kind == "bool":
        value = text.try_cast("boolean")
        reason = F.when(text.isNotNull() & value.isNull(), says(" is not a boolean: ", clip))
        return value, reason
    if kind == "json":
        valid = _json_validity(text)
        reason = (
            F.when(text.isNotNull() & ~valid, says(" is not valid JSON"))
            .when(F.instr(text, "\\u0000") > 0, says(" contains a NUL character"))
            .when(
                F.length(text) > loader._MAX_TEXT_CHARS,
                says(f" is longer than {loader._MAX_TEXT_CHARS} characters"),
            )
        )
        return F.when(valid, text), reason
    if kind == "double":
        value = text.try_cast("double")
        reason = F.when(text.isNotNull() & value.isNull(), says(" is not a number: ", clip))
        return value, reason
    raise ValueError(f"column {column.name}: unknown kind {column.kind!r}")


def _typed(spec: SourceSpec, records: DataFrame) -> DataFrame:
    """Typed columns, ``_reason`` per record (first the line's own, then each column's) and the
    quarantine's raw text (``loader._stage_typed``)."""
    from pyspark.sql import functions as F

    values = []
    reasons = []
    if spec.format == "otlp_jsonl":
        reasons.append(F.col("_check_reason"))
    for column in spec.all_columns:
        value, reason = _typed_column(column)
        values.append(value.alias(column.name))
        reasons.append(reason)
        if column.required:
            reasons.append(
                F.when(
                    F.nullif(F.trim(F.col(column.name)), F.lit("")).isNull(),
                    F.lit(f"missing required field {column.name}"),
                )
            )
    reason = F.coalesce(F.col("_pre_reason"), F.nullif(F.concat_ws("; ", *reasons), F.lit("")))
    return records.select(
        *values,
        _FILE,
        "_line_number",
        "_record_path",
        F.regexp_replace(reason, "\u0000", _REPLACEMENT).alias("_reason"),
        F.regexp_replace(
            F.substring("_raw_text", 1, loader._MAX_RAW_TEXT), "\u0000", _REPLACEMENT
        ).alias("_raw_text"),
    )


def _mark_duplicates(spec: SourceSpec, typed: DataFrame, planned: list[_Planned]) -> DataFrame:
    """At-least-once delivery (``loader._mark_duplicates``): within a file the first copy of a key
    loads; a key already loaded from another file (earlier in this load, or by an earlier load)
    is quarantined with that file's name."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = list(spec.dedupe_key)
    key_text = F.concat_ws(", ", *[F.col(k) for k in key])
    ok = F.col("_reason").isNull()
    in_file = Window.partitionBy(_FILE, *key)
    on_line = Window.partitionBy(_FILE, *key, "_line_number")
    typed = typed.withColumn(
        "_first_line", F.min(F.when(ok, F.col("_line_number"))).over(in_file)
    ).withColumn("_copies_on_line", F.sum(ok.cast("int")).over(on_line))
    duplicate_in_file = ok & (
        (F.col("_line_number") > F.col("_first_line")) | (F.col("_copies_on_line") > 1)
    )
    typed = typed.withColumn(
        "_reason",
        F.when(
            duplicate_in_file,
            F.concat(
                F.lit("duplicate export of ("),
                key_text,
                F.lit("): first copy at line "),
                F.col("_first_line").cast("string"),
                F.lit(" of this file"),
            ),
        ).otherwise(F.col("_reason")),
    ).drop("_first_line", "_copies_on_line")

    spark = typed.sparkSession
    relative = {item.order: item.landing_file.relative_path for item in planned}
    loaded_keys = typed.where(F.col("_reason").isNull()).select(
        *key, F.col(_FILE).alias("_other_order")
    )
    earlier = (
        typed.where(F.col("_reason").isNull())
        .select(*key, _FILE)
        .join(loaded_keys, key)
        .where(F.col("_other_order") < F.col(_FILE))
        .groupBy(*key, _FILE)
        .agg(F.min("_other_order").alias("_earlier_order"))
    )
    order_names = F.create_map(
        *[x for order, name in relative.items() for x in (F.lit(order), F.lit(name))]
    )
    typed = typed.join(earlier, [*key, _FILE], "left").withColumn(
        "_already_from", F.element_at(order_names, F.col("_earlier_order"))
    )
    folder = raw_dir() / spec.table
    if any(folder.glob("*.parquet")):
        replaced = list(relative.values())
        previous = (
            spark.read.parquet(str(folder))
            .where(~F.col("_source_file").isin(replaced))
            .groupBy(*key)
            .agg(F.min("_source_file").alias("_loaded_from"))
        )
        typed = typed.join(previous, key, "left").withColumn(
            "_already_from", F.coalesce("_loaded_from", "_already_from")
        )
    return typed.withColumn(
        "_reason",
        F.when(
            F.col("_reason").isNull() & F.col("_already_from").isNotNull(),
            F.concat(
                F.lit("duplicate export of ("),
                key_text,
                F.lit("): already loaded from "),
                F.col("_already_from"),
            ),
        ).otherwise(F.col("_reason")),
    ).drop("_earlier_order", "_already_from", "_loaded_from")
