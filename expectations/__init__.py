"""Great Expectations 1.x suites for the marts finance relies on (one suite per guarded mart).

`suites` holds the thresholds, each suite's SQL (derived check columns computed exactly in
DuckDB) and its expectations; `runner` reads a mart into pandas, validates it and builds Data
Docs. GE analytics are switched off before GE is imported: no network is assumed.
"""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
