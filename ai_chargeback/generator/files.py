"""Deterministic file output, record counters and the fault log shared by every writer.

Compressed files are byte-identical across runs: gzip with mtime 0 and no file name in the
header, zstd single-threaded. Every record written is counted per source, and every seeded
fault is logged with its file and physical line, so the ground truth can say exactly what the
loaders must load and what they must quarantine.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

import zstandard

from ai_chargeback.generator.config import GZIP_LEVEL, ZSTD_LEVEL

SOURCES: tuple[str, ...] = (
    "gateway_spans",
    "gateway_spend_logs",
    "app_requests",
    "provider_response_usage",
    "provider_usage_buckets",
    "provider_costs",
    "tenants",
    "api_keys",
)
QUARANTINE = "quarantine"
LOADED = "loaded"
FAULT_COLUMNS: tuple[str, ...] = (
    "source",
    "file",
    "line",
    "fault_type",
    "expected_outcome",
    "record_ref",
    "detail",
)


class Landing:
    """Paths under the landing root: `<root>/<source>/<YYYY-MM-DD>/<name>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, source: str, day: date, name: str) -> Path:
        folder = self.root / source / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


@contextmanager
def open_output(path: Path) -> Iterator[BinaryIO]:
    """A binary writer that compresses by file suffix (.gz, .zst) deterministically."""
    with path.open("wb") as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(
                filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=raw, mtime=0
            ) as handle:
                yield handle  # type: ignore[misc]
        elif path.name.endswith(".zst"):
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0)
            with compressor.stream_writer(raw, closefd=False) as handle:
                yield handle  # type: ignore[misc]
        else:
            yield raw


def csv_bytes(rows: list[list[str]] | list[tuple[str, ...]]) -> bytes:
    """CSV text (\\n line ends, minimal quoting) of rows, header included by the caller."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue().encode()


@dataclass
class SourceCount:
    """Records written to one source and those the loaders must quarantine, by reason."""

    records_written: int = 0
    files_written: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    loaded_faults: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)  # records per file kind

    def as_dict(self) -> dict[str, object]:
        quarantined = sum(self.quarantined.values())
        return {
            "files_written": self.files_written,
            "records_written": self.records_written,
            "expected_loaded": self.records_written - quarantined,
            "expected_quarantined": quarantined,
            "expected_quarantined_by_reason": dict(sorted(self.quarantined.items())),
            "loaded_faults_by_type": dict(sorted(self.loaded_faults.items())),
            "records_by_kind": dict(sorted(self.by_kind.items())),
        }


class FaultLog:
    """Streams `_ground_truth/faults.csv` and keeps the per-source counters."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(FAULT_COLUMNS)
        self.counts: dict[str, SourceCount] = {source: SourceCount() for source in SOURCES}

    def written(self, source: str, records: int, *, files: int = 0) -> None:
        count = self.counts[source]
        count.records_written += records
        count.files_written += files

    def fault(
        self,
        source: str,
        file: str,
        line: int | str,
        fault_type: str,
        outcome: str,
        record_ref: str,
        detail: str,
    ) -> None:
        if outcome == QUARANTINE:
            self.counts[source].quarantined[fault_type] += 1
        else:
            self.counts[source].loaded_faults[fault_type] += 1
        self._writer.writerow((source, file, line, fault_type, outcome, record_ref, detail))

    def close(self) -> None:
        self._handle.close()
