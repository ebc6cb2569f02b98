"""The Spark target's raw loader (Spark reads the landing files itself) against the DuckDB loader:
the same landing files give the same raw tables, the same quarantine rows and the same load
manifest, row by row, and loading them again through Spark changes nothing.

Two landing directories: the small generated data set of the other end-to-end tests (gzip and
zstd span files, truncated lines, missing attributes, bad token counts, duplicate spans, bad CSV
rows, API pages) and the hostile files of tests/test_hostile_input.py (invalid UTF-8, NUL
characters, oversize and deeply nested records, out-of-range numbers, odd file names, a symbolic
link out of the landing directory).
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import zstandard

pytest.importorskip("pyspark")

from ai_chargeback.generator import generate  # noqa: E402
from orchestration.lib import loader, spark, spark_loader  # noqa: E402
from orchestration.lib.sources import SOURCES, SourceSpec  # noqa: E402
from tests.builders import client_attributes, export_line, span  # noqa: E402
from tests.conftest import (  # noqa: E402
    E2E_DAYS,
    E2E_REQUESTS_PER_DAY,
    E2E_SEED,
    E2E_START,
    E2E_TENANTS,
)
from tests.test_hostile_input import TENANTS_HEADER, _write_hostile_landing  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

DATA_SETS = ("generated", "hostile")
DAY = "2026-11-04"
HOSTILE_SOURCES = ("app_requests", "gateway_spans", "provider_usage_buckets", "tenants")
QUARANTINE_COLUMNS = "source, file_path, line_number, record_path, reason, raw_text"
MANIFEST_COLUMNS = (
    "source, file_path, landing_date, sha256, size_bytes, compression, rows_in_file, "
    "rows_loaded, rows_quarantined, file_shape, read_error"
)


@dataclass(frozen=True)
class Loaded:
    """One landing directory loaded by both loaders (and by Spark a second time)."""

    data_set: str
    landing: Path
    duckdb_file: Path
    spark_dir: Path
    sources: tuple[str, ...]
    first: dict[str, loader.LoadReport]
    again: dict[str, loader.LoadReport]
    snapshot_after_first: dict[str, collections.Counter]
    snapshot_after_again: dict[str, collections.Counter]
    spark_seconds: float


@pytest.fixture(scope="module", autouse=True)
def _loader_session() -> Iterator[None]:
    """The loader's JVM ends with this module, not with the test worker."""
    yield
    spark_loader.stop_session()


def _write_awkward_files(root: Path) -> None:
    """Files the generator does not write, each at an edge of the line and record splitting:
    a gzip stream cut short, a zstd file, CRLF line ends, a byte order mark, blank and
    whitespace-only lines, JSON that is not an object, a file no loader claims, and CSV with a
    quoted line break, doubled quotes, missing fields and a blank record."""
    app = root / "app_requests" / DAY
    app.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"app_request_id": f"gz-{i}", "ts": "2026-11-04T10:00:00Z", "feature": "x" * i})
        for i in range(400)
    ]
    stream = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    (app / "cut.jsonl.gz").write_bytes(stream[: len(stream) // 2])
    (app / "batch.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(
            b'{"app_request_id": "zst-1", "ts": "2026-11-04T11:00:00Z"}\n'
            b'{"app_request_id": "zst-2", "ts": "not a time"}\n'
        )
    )
    (app / "crlf.jsonl").write_bytes(
        b'\xef\xbb\xbf{"app_request_id": "bom", "ts": "2026-11-04T12:00:00Z"}\r\n'
        b'{"app_request_id": "crlf", "ts": "2026-11-04T12:00:00Z", "tenant_id": " acme "}\r\n'
        b"   \r\n"
        b"\xc2\xa0\n"
        b"[1, 2]\n"
        b'"just a string"\n'
        b'{"app_request_id": "nested", "ts": "2026-11-04T12:00:00Z", "user_id": {"a": 1}}\n'
        b'{"app_request_id": 12, "ts": "2026-11-04T12:00:00+02:00", "workload": true}'
    )
    (app / "notes.txt").write_text("not a landing file\n")
    # JSON followed by more text: Spark's parser stops after the first value, DuckDB's does not
    (app / "tails.jsonl").write_text(
        '{"app_request_id": "whole", "ts": "2026-11-04T12:00:00Z"}\n'
        '{"app_request_id": "tail", "ts": "2026-11-04T12:00:00Z"} x\n'
        '{"app_request_id": "comma", "ts": "2026-11-04T12:00:00Z"}, {"b": 2}\n'
        '{"app_request_id": "space", "ts": "2026-11-04T12:00:00Z"} {"b": 2}\n'
        "[1, 2] 3\n"
    )
    spans = root / "gateway_spans" / DAY
    spans.mkdir(parents=True, exist_ok=True)
    line = export_line([span("ab" * 16, "12" * 8, attributes=client_attributes())])
    (spans / "spans-tails.jsonl").write_text(
        line
        + "\n"
        + line.replace("12" * 8, "34" * 8)
        + " x\n"
        + line.replace("12" * 8, "56" * 8)
        + ", 1\n"
    )
    tenants = root / "tenants" / DAY
    tenants.mkdir(parents=True, exist_ok=True)
    (tenants / "tenants.csv").write_bytes(
        b"\xef\xbb\xbf" + TENANTS_HEADER.encode() + b"\n"
        b't4,"Tenant ""Four""",c,"Business\nUnit",p,o,2026-01-01T00:00:00Z,\n'
        b"t5,Tenant 5,c,b,p\n"
        b",,,,,,,\n"
        b"\n"
        b"t6,Tenant 6,c,b,p,o,2026-02-30,\n"
        b"t7,Tenant 7,c,b,p,o,2026-01-01 00:00:00,2026-06-01\n"
    )
    (tenants / "tenants-crlf.csv").write_bytes(
        TENANTS_HEADER.encode() + b"\r\n"
        b"t8,Tenant 8,c,b,p,o,2026-01-01T00:00:00Z,\r\n"
        b't9,"Tenant\r\nNine",c,b,p,o,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z\r\n'
    )


def _spark_tables(sources: tuple[str, ...]) -> dict[str, collections.Counter]:
    """Every row (load times included) of the Spark target's raw and audit tables."""
    with spark.reader() as con:
        tables = [f"raw.{SOURCES[name].table}" for name in sources]
        tables += ["audit.quarantine", "audit.load_manifest"]
        return {
            table: collections.Counter(con.execute(f"from {table}").fetchall()) for table in tables
        }


@pytest.fixture(scope="module", params=DATA_SETS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    root = tmp_path_factory.mktemp(f"spark_loader_{request.param}")
    landing = root / "landing"
    if request.param == "generated":
        generate(
            landing,
            days=E2E_DAYS,
            tenants=E2E_TENANTS,
            requests_per_day=E2E_REQUESTS_PER_DAY,
            seed=E2E_SEED,
            start=E2E_START,
        )
        sources = tuple(SOURCES)
    else:
        _write_hostile_landing(landing)
        _write_awkward_files(landing)
        sources = HOSTILE_SOURCES
    duckdb_file = root / "duckdb.duckdb"
    con = loader.connect(duckdb_file)
    try:
        loader.load_all(con, landing, sources=sources)
    finally:
        con.close()

    previous = os.environ.get("AI_CHARGEBACK_SPARK_DIR")
    os.environ["AI_CHARGEBACK_SPARK_DIR"] = str(root / "spark")
    try:
        started = time.time()
        first = {name: spark.load_source(SOURCES[name], landing)[0] for name in sources}
        seconds = time.time() - started
        after_first = _spark_tables(sources)
        again = {name: spark.load_source(SOURCES[name], landing)[0] for name in sources}
        yield Loaded(
            data_set=request.param,
            landing=landing,
            duckdb_file=duckdb_file,
            spark_dir=root / "spark",
            sources=sources,
            first=first,
            again=again,
            snapshot_after_first=after_first,
            snapshot_after_again=_spark_tables(sources),
            spark_seconds=seconds,
        )
    finally:
        if previous is None:
            os.environ.pop("AI_CHARGEBACK_SPARK_DIR", None)
        else:
            os.environ["AI_CHARGEBACK_SPARK_DIR"] = previous


def _value(value: Any, *, is_json: bool) -> Any:
    """One comparable form: JSON text as the parsed value, times in UTC. Decimals stay Decimal
    (a float in their place is caught by the column types and the isinstance check)."""
    if is_json and value is not None:
        return json.dumps(json.loads(value), sort_keys=True)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def _rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], json_columns: set[str]):
    select = ", ".join(
        f'cast("{c}" as varchar)' if c in json_columns else f'"{c}"' for c in columns
    )
    return collections.Counter(
        tuple(_value(v, is_json=c in json_columns) for c, v in zip(columns, row, strict=True))
        for row in con.execute(f"select {select} from {table}").fetchall()
    )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(name, type) of a table's columns; JSON is stored as text on Spark."""
    return [
        (name, "VARCHAR" if kind == "JSON" else kind)
        for name, kind, *_ in con.execute(f"describe {table}").fetchall()
    ]


def _differences(expected: collections.Counter, actual: collections.Counter) -> tuple:
    return list((expected - actual).elements())[:3], list((actual - expected).elements())[:3]


def _raw_differences(duckdb_file: Path, sources: tuple[str, ...]) -> dict[str, tuple]:
    """The raw tables whose columns or rows differ between the loaders (load times aside)."""
    differing: dict[str, tuple] = {}
    with (
        duckdb.connect(str(duckdb_file), read_only=True) as on_duckdb,
        spark.reader() as on_spark,
    ):
        for source in sources:
            spec: SourceSpec = SOURCES[source]
            table = f"raw.{spec.table}"
            duck_columns = _columns(on_duckdb, table)
            spark_columns = _columns(on_spark, table)
            if spark_columns != duck_columns:
                differing[table] = (duck_columns, spark_columns)
                continue
            names = [name for name, _ in duck_columns if name != "_loaded_at"]
            json_columns = {c.name for c in spec.all_columns if c.kind == "json"}
            duck_rows = _rows(on_duckdb, table, names, json_columns)
            spark_rows = _rows(on_spark, table, names, json_columns)
            decimals = [i for i, (_, kind) in enumerate(duck_columns) if kind.startswith("DECIMAL")]
            assert all(
                row[i] is None or isinstance(row[i], Decimal)
                for row in spark_rows
                for i in decimals
            ), table
            if duck_rows != spark_rows or sum(duck_rows.values()) == 0:
                differing[table] = _differences(duck_rows, spark_rows)
    return differing


def _audit_rows(duckdb_file: Path, query: str) -> tuple[collections.Counter, collections.Counter]:
    with (
        duckdb.connect(str(duckdb_file), read_only=True) as on_duckdb,
        spark.reader() as on_spark,
    ):
        return (
            collections.Counter(on_duckdb.execute(query).fetchall()),
            collections.Counter(on_spark.execute(query).fetchall()),
        )


def test_spark_loader_raw_tables_equal_the_duckdb_loaders_row_for_row(loaded: Loaded) -> None:
    # every raw table has rows here, except the hostile landing's usage pages (all quarantined)
    empty = {"raw.provider_usage_buckets"} if loaded.data_set == "hostile" else set()
    differing = _raw_differences(loaded.duckdb_file, loaded.sources)
    assert {table: d for table, d in differing.items() if d != ([], [])} == {}
    assert set(differing) == empty


def test_spark_loader_quarantines_the_same_records_for_the_same_reasons(loaded: Loaded) -> None:
    where = "where source in (" + ", ".join(f"'{s}'" for s in loaded.sources) + ")"
    query = f"select {QUARANTINE_COLUMNS} from audit.quarantine {where}"
    with (
        duckdb.connect(str(loaded.duckdb_file), read_only=True) as on_duckdb,
        spark.reader() as on_spark,
    ):
        duck_rows = collections.Counter(on_duckdb.execute(query).fetchall())
        spark_rows = collections.Counter(on_spark.execute(query).fetchall())
        assert _columns(on_spark, "audit.quarantine") == _columns(on_duckdb, "audit.quarantine")
    assert _differences(duck_rows, spark_rows) == ([], [])
    reasons = " | ".join(row[4] for row in duck_rows)
    # the faults this data set is made of are all there, on both sides
    expected = (
        [
            "malformed JSON (OTLP export line)",
            "missing required attribute",
            "is negative",
            "is not an integer",
            "duplicate export of",
            "prompt_tokens is not an integer",
        ]
        if loaded.data_set == "generated"
        else [
            "invalid UTF-8",
            "contains a NUL character",
            "nested too deeply",
            "is out of range",
            "file resolves outside the landing directory",
            "file unreadable past this point: damaged gzip stream",
            "no loader for file name",
            "not a JSON object",
            "expected 8 fields, found 5",
        ]
    )
    assert [reason for reason in expected if reason not in reasons] == []


def test_spark_loader_writes_the_same_load_manifest(loaded: Loaded) -> None:
    query = f"select {MANIFEST_COLUMNS} from audit.load_manifest"
    with (
        duckdb.connect(str(loaded.duckdb_file), read_only=True) as on_duckdb,
        spark.reader() as on_spark,
    ):
        duck_rows = collections.Counter(on_duckdb.execute(query).fetchall())
        spark_rows = collections.Counter(on_spark.execute(query).fetchall())
    assert sum(duck_rows.values()) > 0
    assert _differences(duck_rows, spark_rows) == ([], [])
    print(f"Spark loader ({len(loaded.sources)} sources): {loaded.spark_seconds:.0f}s")


def test_loading_the_same_files_again_through_spark_changes_nothing(loaded: Loaded) -> None:
    assert all(report.files_loaded > 0 for report in loaded.first.values())
    assert {name: report.files_loaded for name, report in loaded.again.items()} == {
        name: 0 for name in loaded.sources
    }
    assert loaded.snapshot_after_again == loaded.snapshot_after_first


def test_a_changed_file_replaces_only_its_own_rows_as_on_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    _write_awkward_files(landing)
    sources = ("app_requests", "tenants")
    duckdb_file = tmp_path / "duckdb.duckdb"
    monkeypatch.setenv("AI_CHARGEBACK_SPARK_DIR", str(tmp_path / "spark"))

    def load_both() -> dict[str, loader.LoadReport]:
        con = loader.connect(duckdb_file)
        try:
            loader.load_all(con, landing, sources=sources)
        finally:
            con.close()
        return {name: spark.load_source(SOURCES[name], landing)[0] for name in sources}

    load_both()
    app = landing / "app_requests" / DAY
    (app / "crlf.jsonl").write_text(
        json.dumps({"app_request_id": "rewritten", "ts": "2026-11-04T13:00:00Z"}) + "\n{\n"
    )
    (landing / "tenants" / DAY / "tenants-crlf.csv").write_text(
        TENANTS_HEADER + "\nt10,Tenant 10,c,b,p,o,2026-03-01T00:00:00Z,\n"
    )
    reports = load_both()

    changed = {
        name: sorted((f.relative_path.rsplit("/", 1)[-1], f.status) for f in report.files)
        for name, report in reports.items()
    }
    assert changed == {
        "app_requests": [
            ("batch.jsonl.zst", "unchanged"),
            ("crlf.jsonl", "replaced"),
            ("cut.jsonl.gz", "unchanged"),
            ("notes.txt", "unchanged"),
            ("tails.jsonl", "unchanged"),
        ],
        "tenants": [("tenants-crlf.csv", "replaced"), ("tenants.csv", "unchanged")],
    }
    assert _raw_differences(duckdb_file, sources) == {}
    for query in (
        f"select {QUARANTINE_COLUMNS} from audit.quarantine",
        f"select {MANIFEST_COLUMNS} from audit.load_manifest",
    ):
        duck_rows, spark_rows = _audit_rows(duckdb_file, query)
        assert _differences(duck_rows, spark_rows) == ([], [])
    with spark.reader() as on_spark:
        ids = on_spark.execute(
            "select _source_file, list(app_request_id order by app_request_id) "
            "from raw.app_requests group by 1 order by 1"
        ).fetchall()
        lines = on_spark.execute(
            "select line_number, reason from audit.quarantine "
            "where file_path like '%crlf.jsonl' order by 1"
        ).fetchall()
    by_file = dict(ids)
    assert by_file.pop("app_requests/2026-11-04/crlf.jsonl") == ["rewritten"]
    assert by_file.pop("app_requests/2026-11-04/batch.jsonl.zst") == ["zst-1"]
    assert by_file.pop("app_requests/2026-11-04/tails.jsonl") == ["whole"]
    salvaged = by_file.pop("app_requests/2026-11-04/cut.jsonl.gz")
    assert by_file == {} and 100 < len(salvaged) < 400
    assert lines == [(2, "malformed JSON")]
