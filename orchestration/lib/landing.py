"""Finding and reading landing files as they arrive: plain, gzip or zstd, possibly truncated.

Layout (docs/landing_formats.md): ``<landing>/<source>/<YYYY-MM-DD>/<file>``. Folders whose name
starts with ``_`` are not sources. A damaged file is read as far as it goes; what could not be
read is reported, never raised, so one bad file cannot stop a batch.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import zstandard

_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandingFile:
    """One file of one source, addressed relative to the landing root."""

    source: str
    path: Path
    relative_path: str
    landing_date: date


@dataclass(frozen=True)
class FileContent:
    """The decompressed bytes of a file, and why reading stopped early (if it did)."""

    data: bytes
    read_error: str | None


def discover(
    landing_root: Path, source: str, *, dates: set[date] | None = None
) -> list[LandingFile]:
    """Every file of ``source`` under ``landing_root``, sorted by date then name."""
    source_dir = landing_root / source
    if not source_dir.is_dir():
        return []
    files: list[LandingFile] = []
    for day_dir in sorted(source_dir.iterdir()):
        if (
            not day_dir.is_dir()
            or day_dir.name.startswith("_")
            or not _DATE_DIR.match(day_dir.name)
        ):
            continue
        landing_date = date.fromisoformat(day_dir.name)
        if dates is not None and landing_date not in dates:
            continue
        for path in sorted(day_dir.iterdir()):
            if path.is_file() and not path.name.startswith((".", "_")):
                files.append(
                    LandingFile(
                        source=source,
                        path=path,
                        relative_path=_printable(path.relative_to(landing_root).as_posix()),
                        landing_date=landing_date,
                    )
                )
    return files


def _printable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (possible on Linux) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def landing_dates(landing_root: Path) -> list[date]:
    """All landing dates that have at least one file in any source."""
    found: set[date] = set()
    if not landing_root.is_dir():
        return []
    for source_dir in landing_root.iterdir():
        if not source_dir.is_dir() or source_dir.name.startswith("_"):
            continue
        for day_dir in source_dir.iterdir():
            if day_dir.is_dir() and _DATE_DIR.match(day_dir.name) and any(day_dir.iterdir()):
                found.add(date.fromisoformat(day_dir.name))
    return sorted(found)


def sha256_of(path: Path) -> str:
    """The sha256 of the file as it lies on disk (compressed bytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def compression_of(path: Path) -> str:
    """'gzip', 'zstd' or 'none', from the file name."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith(".zst"):
        return "zstd"
    return "none"


def read_file(path: Path) -> FileContent:
    """Decompress a whole file; a truncated or corrupt stream keeps what was readable."""
    kind = compression_of(path)
    if kind == "none":
        return FileContent(path.read_bytes(), None)
    raw = path.read_bytes()
    if kind == "gzip":
        return _gunzip(raw)
    return _unzstd(raw)


def _gunzip(raw: bytes) -> FileContent:
    try:
        return FileContent(gzip.decompress(raw), None)
    except (OSError, EOFError, zlib.error) as error:
        # Salvage what a streaming decoder can still produce before the damage.
        decoder = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        try:
            data = decoder.decompress(raw)
        except zlib.error:
            data = b""
        return FileContent(data, f"damaged gzip stream: {error}")


def _unzstd(raw: bytes) -> FileContent:
    decompressor = zstandard.ZstdDecompressor()
    try:
        reader = decompressor.stream_reader(raw, read_across_frames=True)
        parts: list[bytes] = []
        while chunk := reader.read(_CHUNK):
            parts.append(chunk)
        return FileContent(b"".join(parts), None)
    except zstandard.ZstdError as error:
        return FileContent(b"".join(parts), f"damaged zstd stream: {error}")


def split_lines(data: bytes) -> list[bytes]:
    """Physical lines without their line breaks; a final empty line is not a record."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]
