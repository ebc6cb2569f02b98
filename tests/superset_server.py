"""The BI tool of the tests: Superset from .venv-bi (`make bi-install`), set up by bi/bootstrap.py
on a published snapshot, with its own metadata home and a free port, and a REST client for it."""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestration.lib.paths import PROJECT_ROOT

BI_PYTHON = PROJECT_ROOT / ".venv-bi" / "bin" / "python"
BOOTSTRAP = PROJECT_ROOT / "bi" / "bootstrap.py"
ADMIN_USER = "analyst-admin"
ADMIN_PASSWORD = "test-only-password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Superset:
    """A running instance: its URL, home and the environment bi/bootstrap.py ran with."""

    url: str
    home: Path
    env: dict[str, str]

    def api(self) -> requests.Session:
        """A REST session logged in through /api/v1/security/login (JWT), with a CSRF token."""
        session = requests.Session()
        login = session.post(
            f"{self.url}/api/v1/security/login",
            json={
                "username": ADMIN_USER,
                "password": ADMIN_PASSWORD,
                "provider": "db",
                "refresh": False,
            },
            timeout=30,
        )
        login.raise_for_status()
        session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        csrf = session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=30)
        csrf.raise_for_status()
        session.headers["X-CSRFToken"] = csrf.json()["result"]
        session.headers["Referer"] = self.url
        return session

    def browser_cookies(self) -> dict[str, str]:
        """The session cookie of a login through the web form, for the browser."""
        session = requests.Session()
        page = html.unescape(session.get(f"{self.url}/login/", timeout=30).text)
        token = re.search(r'id="csrf_token"\s+value="([^"]+)"', page)
        assert token, "no CSRF token on the login page"
        answer = session.post(
            f"{self.url}/login/",
            data={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf_token": token[1]},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302 and "session" in session.cookies, answer.text[:500]
        return {"session": session.cookies["session"]}

    def database_id(self, session: requests.Session, name: str = "ai_chargeback") -> int:
        found = session.get(f"{self.url}/api/v1/database/", timeout=30).json()["result"]
        return next(d["id"] for d in found if d["database_name"] == name)

    def sql_lab(self, session: requests.Session, sql: str) -> list[dict[str, Any]]:
        """Run `sql` in SQL Lab (synchronously); numbers parsed as Decimal from the JSON text."""
        answer = session.post(
            f"{self.url}/api/v1/sqllab/execute/",
            json={"database_id": self.database_id(session), "sql": sql, "runAsync": False},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text[:2000]
        body = json.loads(answer.text, parse_float=Decimal)
        assert body["status"] == "success", body
        return body["data"]

    def bootstrap(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BI_PYTHON), str(BOOTSTRAP), command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


@contextmanager
def running_superset(published: Path, home: Path) -> Iterator[Superset]:
    """Initialise Superset on `published` (metadata in `home`), start it, stop it afterwards."""
    if not BI_PYTHON.exists():
        pytest.skip(f"{BI_PYTHON} is missing: run `make bi-install` (make test does)")
    port = _free_port()
    env = {
        **os.environ,
        "AI_CHARGEBACK_PUBLISHED": str(published),
        "AI_CHARGEBACK_BI_HOME": str(home),
        "AI_CHARGEBACK_BI_PORT": str(port),
        "AI_CHARGEBACK_BI_ADMIN_USER": ADMIN_USER,
        "AI_CHARGEBACK_BI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SUPERSET_SECRET_KEY": "tests-only-secret-key",
    }
    server = Superset(url=f"http://127.0.0.1:{port}", home=home, env=env)
    for command in ("init", "start"):
        completed = server.bootstrap(command)
        if completed.returncode != 0:
            log = home / "superset.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            server.bootstrap("stop")
            pytest.fail(
                f"bi/bootstrap.py {command} failed:\n{completed.stdout[-3000:]}"
                f"{completed.stderr[-3000:]}\n{tail}"
            )
    try:
        yield server
    finally:
        server.bootstrap("stop")
