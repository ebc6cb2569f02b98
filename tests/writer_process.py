"""Another process holding a DuckDB file read-write, as a pipeline run does while it writes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("create schema if not exists scratch")
con.execute("create or replace table scratch.run_in_progress as select 1 as step")
print("holding", flush=True)
sys.stdin.read()
con.close()
"""


@contextmanager
def held_read_write(database: Path) -> Iterator[None]:
    """While inside, another process has `database` open read-write (and so locked)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if line.strip() != "holding":
            raise RuntimeError(f"the writer did not open {database}: {process.stderr.read()}")
        yield
    finally:
        process.stdin.close()
        process.wait(timeout=60)
