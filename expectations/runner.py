"""Validate marts with their GE 1.x suites and build Data Docs.

GE cannot read DuckDB through SQLAlchemy, so each suite's SQL runs in DuckDB and its result is
validated as a pandas DataFrame (GE's pandas data source, whole-DataFrame batch). Checks use an
ephemeral context; Data Docs use a file-backed context (a temporary folder unless one is given)
and write the static site to `docs/data_docs/` by default (local output, not committed).

    python -m expectations.runner [--warehouse PATH] [--suite NAME ...] [--docs [SITE_DIR]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict

import duckdb
import great_expectations as gx
import numpy as np
import pandas as pd
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig

from expectations.suites import SUITES, SuiteSpec, Thresholds, build_suite, get_spec

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_SITE_DIR = PROJECT_DIR / "docs" / "data_docs"
DATA_SOURCE_NAME = "marts"
BATCH_DEFINITION_NAME = "whole_mart"
SITE_NAME = "ai_chargeback"
RUN_NAME = "ai-chargeback"
SAMPLE_ROWS = 5
# SUMMARY keeps GE's result small on big marts; the partial lists feed the sample rows.
RESULT_FORMAT_PARTIAL_COUNT = 20
# Rows validated at once: GE's pandas engine copies the frame per condition; 10M attempts at
# once took more than 18 GB. Bigger marts are validated in day ranges of at most this many rows.
CHUNK_ROWS_ENV = "AI_CHARGEBACK_GE_CHUNK_ROWS"
DEFAULT_CHUNK_ROWS = 1_000_000
# What a Data Docs site folder may contain; anything else means it is not ours to clear.
_SITE_ENTRIES = frozenset({"index.html", "static", "expectations", "validations"})

logging.getLogger("great_expectations").setLevel(logging.WARNING)


class FailedExpectation(TypedDict):
    """One failed expectation, JSON-able (Dagster check metadata, logs, tests)."""

    expectation_type: str
    column: str | None
    kwargs: dict[str, Any]
    observed_value: Any
    unexpected_count: int | None
    element_count: int | None
    notes: str | None
    exception: str | None
    sample_rows: list[dict[str, Any]]


@dataclass(frozen=True)
class SuiteResult:
    """The outcome of one suite on one mart."""

    suite_name: str
    mart: str
    success: bool
    evaluated_expectations: int
    row_count: int
    failed_expectations: list[FailedExpectation] = field(default_factory=list)

    @property
    def failed_expectation_types(self) -> list[str]:
        """`type(column)` of each failed expectation, e.g. `expect_column_values_to_be_unique`."""
        return [
            f"{failed['expectation_type']}({failed['column'] or ''})"
            for failed in self.failed_expectations
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the whole result."""
        return {
            "suite_name": self.suite_name,
            "mart": self.mart,
            "success": self.success,
            "evaluated_expectations": self.evaluated_expectations,
            "row_count": self.row_count,
            "failed_expectations": list(self.failed_expectations),
        }


@dataclass(frozen=True)
class DataDocs:
    """A built Data Docs site and the suite results it shows."""

    index_html: Path
    results: list[SuiteResult]

    @property
    def success(self) -> bool:
        """True when every suite passed."""
        return all(result.success for result in self.results)


# --- contexts ------------------------------------------------------------------------------


def _quiet(context: AbstractDataContext) -> AbstractDataContext:
    """No progress bars, no analytics."""
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.analytics_enabled = False
    return context


def ephemeral_context() -> AbstractDataContext:
    """An in-memory GE context for checks: nothing is written anywhere."""
    return _quiet(gx.get_context(mode="ephemeral"))


@contextmanager
def file_context(context_dir: Path | None = None) -> Iterator[AbstractDataContext]:
    """A file-backed GE context (for Data Docs) in `context_dir`, or in a temporary folder."""
    if context_dir is not None:
        context_dir.mkdir(parents=True, exist_ok=True)
        yield _quiet(gx.get_context(mode="file", project_root_dir=str(context_dir)))
        return
    with tempfile.TemporaryDirectory(prefix="ai-chargeback-gx-") as tmp:
        yield _quiet(gx.get_context(mode="file", project_root_dir=tmp))


# --- validation ----------------------------------------------------------------------------


Reader = Callable[[str], pd.DataFrame]
"""Runs a query on the warehouse and returns its rows (DECIMAL as float64, as DuckDB's .df())."""


def duckdb_reader(con: duckdb.DuckDBPyConnection) -> Reader:
    """A reader over a DuckDB connection, each query on its own cursor (never disturbs the
    caller's pending results)."""

    def read(query: str) -> pd.DataFrame:
        cursor = con.cursor()
        try:
            return cursor.execute(query).df()
        finally:
            cursor.close()

    return read


def query_mart(
    con: duckdb.DuckDBPyConnection,
    suite_name: str,
    *,
    window: tuple[dt.date, dt.date] | None = None,
) -> pd.DataFrame:
    """Run the suite's SQL on the warehouse (derived check columns computed in DuckDB); with a
    window, only the rows a daily run wrote to a day-partitioned fact (`SuiteSpec.query_for`)."""
    return _read(duckdb_reader(con), get_spec(suite_name), get_spec(suite_name).query_for(window))


def _read(read: Reader, spec: SuiteSpec, query: str) -> pd.DataFrame:
    try:
        return read(query)
    except Exception as error:
        raise RuntimeError(f"suite {spec.name}: reading {spec.mart} failed: {error}") from error


def chunk_rows() -> int:
    """Most rows validated at once (``AI_CHARGEBACK_GE_CHUNK_ROWS``, default 1,000,000)."""
    value = os.environ.get(CHUNK_ROWS_ENV, "")
    try:
        rows = int(value) if value.strip() else DEFAULT_CHUNK_ROWS
    except ValueError:
        raise ValueError(f"{CHUNK_ROWS_ENV} must be a whole number, got {value!r}") from None
    if rows < 1:
        raise ValueError(f"{CHUNK_ROWS_ENV} must be at least 1, got {rows}")
    return rows


def day_ranges(read: Reader, spec: SuiteSpec, max_rows: int) -> list[tuple[dt.date, dt.date]]:
    """Consecutive day ranges ``[start, end)`` covering every row of the mart, each of at most
    ``max_rows`` rows (a bigger day is a range of its own). One range, or none, when the mart
    fits at once, has no day column, or has rows without a day (validated whole, where the
    not-null expectation names them)."""
    if spec.day_column is None:
        return []
    days = _read(read, spec, spec.days_query())
    if days.empty or days["day"].isna().any() or int(days["row_count"].sum()) <= max_rows:
        return []
    ranges: list[tuple[dt.date, dt.date]] = []
    start: dt.date | None = None
    rows = 0
    for day, count in zip(days["day"], days["row_count"], strict=True):
        day = pd.Timestamp(day).date()
        if start is not None and rows + int(count) > max_rows:
            ranges.append((start, day))
            start, rows = None, 0
        if start is None:
            start = day
        rows += int(count)
    last = pd.Timestamp(days["day"].iloc[-1]).date()
    ranges.append((start if start is not None else last, last + dt.timedelta(days=1)))
    return ranges


def validate_mart(
    con: duckdb.DuckDBPyConnection,
    suite_name: str,
    *,
    thresholds: Thresholds | None = None,
    context: AbstractDataContext | None = None,
    window: tuple[dt.date, dt.date] | None = None,
    max_rows: int | None = None,
) -> SuiteResult:
    """Read the mart (or a daily run's window of it) through its suite's SQL and validate it."""
    return validate_with(
        duckdb_reader(con),
        suite_name,
        thresholds=thresholds,
        context=context,
        window=window,
        max_rows=max_rows,
    )


def validate_with(
    read: Reader,
    suite_name: str,
    *,
    thresholds: Thresholds | None = None,
    context: AbstractDataContext | None = None,
    window: tuple[dt.date, dt.date] | None = None,
    max_rows: int | None = None,
) -> SuiteResult:
    """Validate a mart read through ``read``: a daily run's window of it, or every row, in
    day ranges of at most ``max_rows`` (``chunk_rows()``) rows so that memory stays bounded
    however big the mart grows. A DataFrame of 10M attempts took more than 18 GB in GE."""
    spec = get_spec(suite_name)
    limits = thresholds if thresholds is not None else Thresholds.from_env()
    gx_context = context if context is not None else ephemeral_context()
    if window is not None:
        ranges = []
    else:
        ranges = day_ranges(read, spec, max_rows if max_rows is not None else chunk_rows())
    if not ranges:
        frame = _read(read, spec, spec.query_for(window))
        return validate_dataframe(frame, suite_name, thresholds=limits, context=gx_context)
    results = []
    for day_range in ranges:
        # the ranges split every row of the mart: the window_keep rows are in their own range
        frame = _read(read, spec, spec.query_for(day_range, keep=False))
        results.append(validate_dataframe(frame, suite_name, thresholds=limits, context=gx_context))
        del frame
    return merge_results(results)


def merge_results(results: Sequence[SuiteResult]) -> SuiteResult:
    """One result of a suite validated in parts: failed where any part failed, counts summed,
    sample rows from the first parts that had them."""
    first = results[0]
    merged: dict[tuple[str, str | None, str], FailedExpectation] = {}
    for result in results:
        for failed in result.failed_expectations:
            key = (
                failed["expectation_type"],
                failed["column"],
                json.dumps(failed["kwargs"], sort_keys=True, default=str),
            )
            if key not in merged:
                merged[key] = FailedExpectation(**{**failed, "element_count": None})
                merged[key]["sample_rows"] = list(failed["sample_rows"])
            else:
                kept = merged[key]
                kept["unexpected_count"] = _sum_or_none(
                    kept["unexpected_count"], failed["unexpected_count"]
                )
                kept["sample_rows"] = (kept["sample_rows"] + failed["sample_rows"])[:SAMPLE_ROWS]
                kept["exception"] = kept["exception"] or failed["exception"]
    row_count = sum(result.row_count for result in results)
    for failed in merged.values():
        failed["element_count"] = row_count
    return SuiteResult(
        suite_name=first.suite_name,
        mart=first.mart,
        success=all(result.success for result in results),
        evaluated_expectations=first.evaluated_expectations,
        row_count=row_count,
        failed_expectations=list(merged.values()),
    )


def _sum_or_none(left: int | None, right: int | None) -> int | None:
    if left is None or right is None:
        return left if right is None else right
    return left + right


def validate_dataframe(
    df: pd.DataFrame,
    suite_name: str,
    *,
    thresholds: Thresholds | None = None,
    context: AbstractDataContext | None = None,
    run_id: RunIdentifier | None = None,
) -> SuiteResult:
    """Validate a DataFrame shaped like the suite's query result."""
    spec = get_spec(suite_name)
    limits = thresholds if thresholds is not None else Thresholds.from_env()
    frame = df.reset_index(drop=True)
    gx_context = context if context is not None else ephemeral_context()
    result = _run(gx_context, spec, frame, limits, run_id=run_id)
    return _summarise(spec, frame, result)


def validate_marts(
    con: duckdb.DuckDBPyConnection,
    suite_names: Sequence[str] | None = None,
    *,
    thresholds: Thresholds | None = None,
) -> list[SuiteResult]:
    """Validate several marts (all guarded marts by default) in one ephemeral context."""
    context = ephemeral_context()
    limits = thresholds if thresholds is not None else Thresholds.from_env()
    return [
        validate_mart(con, name, thresholds=limits, context=context)
        for name in (suite_names or list(SUITES))
    ]


def _run(
    context: AbstractDataContext,
    spec: SuiteSpec,
    frame: pd.DataFrame,
    thresholds: Thresholds,
    *,
    run_id: RunIdentifier | None,
) -> ExpectationSuiteValidationResult:
    """Register (or refresh) the suite and its validation definition, then run it."""
    try:
        data_source = context.data_sources.get(DATA_SOURCE_NAME)
    except (KeyError, ValueError, LookupError):
        data_source = context.data_sources.add_pandas(name=DATA_SOURCE_NAME)
    try:
        asset = data_source.get_asset(spec.name)
    except LookupError:
        asset = data_source.add_dataframe_asset(name=spec.name)
    try:
        batch_definition = asset.get_batch_definition(BATCH_DEFINITION_NAME)
    except (KeyError, ValueError, LookupError):
        batch_definition = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)
    suite = context.suites.add_or_update(build_suite(spec.name, thresholds))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=spec.name, data=batch_definition, suite=suite)
    )
    return definition.run(
        batch_parameters={"dataframe": frame},
        result_format={
            "result_format": "SUMMARY",
            "partial_unexpected_count": RESULT_FORMAT_PARTIAL_COUNT,
            "unexpected_index_column_names": list(spec.key_columns),
        },
        run_id=run_id,
    )


def _summarise(
    spec: SuiteSpec, frame: pd.DataFrame, result: ExpectationSuiteValidationResult
) -> SuiteResult:
    """Turn GE's result into a SuiteResult with sample rows taken from the DataFrame."""
    failed = [_failed(spec, frame, outcome) for outcome in result.results if not outcome.success]
    return SuiteResult(
        suite_name=spec.name,
        mart=spec.mart,
        success=bool(result.success),
        evaluated_expectations=int(result.statistics["evaluated_expectations"]),
        row_count=len(frame),
        failed_expectations=failed,
    )


def _failed(
    spec: SuiteSpec, frame: pd.DataFrame, outcome: ExpectationValidationResult
) -> FailedExpectation:
    """One failed expectation: what it checks, what GE saw and the offending rows."""
    config = outcome.expectation_config
    config_json = config.to_json_dict()
    kwargs = {k: _jsonable(v) for k, v in config_json["kwargs"].items() if k != "batch_id"}
    details = outcome.result or {}
    column = kwargs.get("column")
    domain = [column] if column else list(kwargs.get("column_list") or [])
    context_columns = list((config.meta or {}).get("context_columns", []))
    return FailedExpectation(
        expectation_type=config.type,
        column=column,
        kwargs=kwargs,
        observed_value=_jsonable(details.get("observed_value")),
        unexpected_count=_int_or_none(details.get("unexpected_count")),
        element_count=_int_or_none(details.get("element_count")),
        notes=_notes(config_json.get("notes")),
        exception=_exception_message(outcome),
        sample_rows=_sample_rows(
            frame,
            details.get("partial_unexpected_index_list") or [],
            columns=_unique([*spec.key_columns, *domain, *context_columns]),
        ),
    )


def _sample_rows(
    frame: pd.DataFrame, index_list: Sequence[Any], *, columns: Sequence[str]
) -> list[dict[str, Any]]:
    """Up to SAMPLE_ROWS offending rows, found in the DataFrame by GE's key + value dicts."""
    present = [column for column in columns if column in frame.columns]
    used: set[int] = set()
    rows: list[dict[str, Any]] = []
    for entry in index_list:
        if len(rows) == SAMPLE_ROWS:
            break
        if not isinstance(entry, Mapping):
            continue
        position = _find_row(frame, entry, used)
        if position is None:
            rows.append({key: _jsonable(value) for key, value in entry.items()})
            continue
        used.add(position)
        record = frame.iloc[position]
        rows.append({column: _jsonable(record[column]) for column in present})
    return rows


def _find_row(frame: pd.DataFrame, entry: Mapping[str, Any], used: set[int]) -> int | None:
    """Position of the first not-yet-used row whose values equal the entry's (NULL = NULL)."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in entry.items():
        if column not in frame.columns:
            return None
        series = frame[column]
        if _is_missing(value):
            mask &= series.isna().to_numpy()
        else:
            mask &= (series == value).fillna(False).to_numpy(dtype=bool)
    for position in np.flatnonzero(mask):
        if int(position) not in used:
            return int(position)
    return None


# --- data docs -----------------------------------------------------------------------------


def build_data_docs(
    source: duckdb.DuckDBPyConnection | Mapping[str, pd.DataFrame],
    *,
    site_dir: Path = DEFAULT_SITE_DIR,
    suite_names: Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
    context_dir: Path | None = None,
) -> DataDocs:
    """Validate the marts in a file-backed context and write GE Data Docs (HTML) to site_dir.

    `source` is a warehouse connection, or DataFrames by suite name (shaped like each suite's
    query result). The site is rebuilt from scratch: previous Data Docs in site_dir are removed.
    """
    if isinstance(source, Mapping):
        frames = dict(source)
        names = list(suite_names or frames)
    else:
        names = list(suite_names or SUITES)
        frames = {name: query_mart(source, name) for name in names}
    limits = thresholds if thresholds is not None else Thresholds.from_env()
    site = site_dir.resolve()
    _clear_site(site)
    run_id = RunIdentifier(run_name=RUN_NAME, run_time=dt.datetime.now(dt.UTC))
    with file_context(context_dir) as context:
        for existing in list(context.get_config().data_docs_sites or {}):
            context.delete_data_docs_site(existing)
        context.add_data_docs_site(
            site_name=SITE_NAME,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(site),
                },
            },
        )
        results = [
            validate_dataframe(
                frames[name], name, thresholds=limits, context=context, run_id=run_id
            )
            for name in names
        ]
        context.build_data_docs(site_names=[SITE_NAME])
    return DataDocs(index_html=site / "index.html", results=results)


def _clear_site(site: Path) -> None:
    """Remove a previous Data Docs build; refuse a folder that holds anything else."""
    if not site.exists():
        return
    entries = {entry.name for entry in site.iterdir()}
    foreign = entries - _SITE_ENTRIES
    if foreign or (entries and "index.html" not in entries):
        raise ValueError(
            f"{site}: not a Data Docs folder (found {sorted(foreign or entries)}); "
            "pass an empty or Data Docs-only site_dir"
        )
    for name in entries:
        path = site / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


# --- JSON helpers --------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    """True for None, NaN, NA and NaT (scalars only)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    """A plain JSON value: numpy/pandas scalars, Decimal, dates and NULLs converted."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(item) for item in value.tolist()]
    if _is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if hasattr(value, "to_json_dict"):
        return _jsonable(value.to_json_dict())
    return str(value)


def _int_or_none(value: Any) -> int | None:
    """An int, or None when GE reported nothing."""
    return None if value is None else int(value)


def _notes(value: Any) -> str | None:
    """GE notes (a string, a list, or a {format, content} dict) as one string."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("content")
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    return str(value)


def _exception_message(outcome: ExpectationValidationResult) -> str | None:
    """GE's exception message when the expectation could not be evaluated."""
    info = outcome.exception_info or {}
    candidates = [info] if "raised_exception" in info else list(info.values())
    for item in candidates:
        if isinstance(item, Mapping) and item.get("raised_exception"):
            return str(item.get("exception_message"))
    return None


def _unique(items: Sequence[str]) -> list[str]:
    """Items in order, without repeats."""
    return list(dict.fromkeys(items))


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Validate the warehouse's marts, print the results as JSON, optionally build Data Docs."""
    parser = argparse.ArgumentParser(prog="python -m expectations.runner", description=__doc__)
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=Path(os.environ.get("AI_CHARGEBACK_DUCKDB", "warehouse/ai_chargeback.duckdb")),
    )
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), dest="suites")
    parser.add_argument("--docs", nargs="?", type=Path, const=DEFAULT_SITE_DIR, default=None)
    args = parser.parse_args(argv)
    if not args.warehouse.exists():
        parser.error(f"{args.warehouse}: no warehouse file (set AI_CHARGEBACK_DUCKDB)")
    con = duckdb.connect(str(args.warehouse), read_only=True)
    try:
        if args.docs is not None:
            docs = build_data_docs(con, site_dir=args.docs, suite_names=args.suites)
            results = docs.results
            print(f"Data Docs: {docs.index_html}", file=sys.stderr)
        else:
            results = validate_marts(con, args.suites)
    finally:
        con.close()
    print(json.dumps([result.to_dict() for result in results], indent=2))
    return 0 if all(result.success for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
