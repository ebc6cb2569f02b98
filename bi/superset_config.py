"""Superset's configuration for the project's BI tool (bi/bootstrap.py points
SUPERSET_CONFIG_PATH here).

What differs between machines comes from the environment: AI_CHARGEBACK_BI_HOME (metadata DB,
logs, pidfile; default .superset/ in the repository) and SUPERSET_SECRET_KEY (signs sessions;
the default is for a local demo only, see README.md).
"""

import os
from pathlib import Path

_REPOSITORY = Path(__file__).resolve().parents[1]
BI_HOME = Path(os.environ.get("AI_CHARGEBACK_BI_HOME", _REPOSITORY / ".superset")).resolve()
BI_HOME.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "ai-chargeback-local-demo-only-secret-key")
SQLALCHEMY_DATABASE_URI = f"sqlite:///{BI_HOME / 'superset.db'}"
DATA_DIR = str(BI_HOME)

# One local instance without Redis: no result cache (the snapshot changes under it after each
# publication), in-memory rate limits, no thumbnails or scheduled reports.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
RATELIMIT_STORAGE_URI = "memory://"
THUMBNAILS_ENABLED = False
FEATURE_FLAGS = {"THUMBNAILS": False, "ALERT_REPORTS": False}
