"""Hostile and private input at the loaders, on both warehouses: message contents and unmapped
attributes never reach the warehouse; oversize, deeply nested, mis-encoded, out-of-range and
SQL-looking input gives a quarantine row with a reason (or loads as plain data), never a crash
of the batch, and never changes the SQL that runs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestration.lib import loader, postgres
from orchestration.lib.sources import SOURCES
from tests import postgres_server
from tests.builders import attribute, client_attributes, export_line, span, write_lines

# The Postgres half shares the local cluster with tests/test_postgres.py: same worker.
pytestmark = [pytest.mark.xdist_group("e2e")]

DAY = "2026-11-03"
DBNAME = "ai_chargeback_hostile"
SECRET = "CANARY-7f3a-do-not-store"
SQL_INJECTION = "'; drop table raw.app_requests; --"
APP_HEADER = {"ts": "2026-11-03T10:00:00Z"}
TENANTS_HEADER = (
    "tenant_id,tenant_name,cost_center,business_unit,plan,owner_email,valid_from,valid_to"
)


@dataclass
class Warehouse:
    """One engine's warehouse, loaded through the engine's loader, read with plain SQL."""

    engine: str
    load: Callable[[Path, list[str]], dict[str, loader.LoadReport]]
    query: Callable[[str], list[tuple]]


@pytest.fixture(scope="module")
def postgres_settings() -> postgres.PostgresSettings:
    return postgres_server.start(DBNAME)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse of each engine."""
    if request.param == "duckdb":
        con = loader.connect(tmp_path / "warehouse.duckdb")

        def load_duckdb(root: Path, sources: list[str]) -> dict[str, loader.LoadReport]:
            return loader.load_all(con, root, sources=sources)

        yield Warehouse("duckdb", load_duckdb, lambda sql: con.execute(sql).fetchall())
        con.close()
        return
    settings = request.getfixturevalue("postgres_settings")
    with postgres.connection(settings) as pg:
        for schema in ("raw", "audit"):
            pg.execute(f"drop schema if exists {schema} cascade")

        def load_postgres(root: Path, sources: list[str]) -> dict[str, loader.LoadReport]:
            return {name: postgres.load_source(pg, SOURCES[name], root) for name in sources}

        yield Warehouse("postgres", load_postgres, lambda sql: pg.execute(sql).fetchall())


def _every_text_value(warehouse: Warehouse) -> str:
    """Every value of every raw and audit table, as one text (for canary searches)."""
    tables = warehouse.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'audit') order by 1, 2"
    )
    assert tables
    dump = []
    for schema, table in tables:
        for row in warehouse.query(f"select * from {schema}.{table}"):
            dump.append("|".join(str(value) for value in row))
    return "\n".join(dump)


def _quarantine(warehouse: Warehouse) -> dict[tuple[str, int | None], str]:
    return {
        (file_path.rsplit("/", 1)[-1], line): reason
        for file_path, line, reason in warehouse.query(
            "select file_path, line_number, reason from audit.quarantine"
        )
    }


def _app_line(**fields: Any) -> str:
    return json.dumps({**APP_HEADER, **fields})


# --- privacy --------------------------------------------------------------------------------


def test_message_contents_and_unmapped_attributes_never_reach_the_warehouse(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    contents = {
        "gen_ai.input.messages": f'[{{"role": "user", "content": "{SECRET}"}}]',
        "gen_ai.output.messages": SECRET,
        "gen_ai.system_instructions": SECRET,
        "app.debug.payload": SECRET,  # an attribute the map does not know
    }
    loaded = span("a" * 32, "1" * 16, attributes=client_attributes(**contents))
    quarantined = span(
        "b" * 32,
        "2" * 16,
        attributes=client_attributes(**contents, **{"gen_ai.usage.input_tokens": "12k"}),
    )
    # a truncated line whose first span attribute is the system prompt, within the first
    # 200 characters that the quarantine keeps of an undecodable line
    early = {
        "traceId": "c",
        "attributes": [attribute("gen_ai.system_instructions", SECRET)],
    }
    truncated = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [early]}]}]})[:180]
    assert SECRET in truncated
    event = span("d" * 32, "4" * 16, attributes=client_attributes())
    event["events"] = [{"name": "gen_ai.content.prompt", "attributes": [attribute("x", SECRET)]}]
    write_lines(
        tmp_path / "gateway_spans" / DAY / "spans-0000.jsonl",
        [export_line([loaded, quarantined]), truncated, export_line([event])],
    )

    reports = warehouse.load(tmp_path, ["gateway_spans"])

    assert (reports["gateway_spans"].rows_loaded, reports["gateway_spans"].rows_quarantined) == (
        2,
        2,
    )
    assert SECRET not in _every_text_value(warehouse)


# --- hostile records ------------------------------------------------------------------------


def _write_hostile_landing(root: Path) -> None:
    """One landing directory with a good record and a hostile one per kind of attack."""
    app = root / "app_requests" / DAY
    write_lines(
        app / "search.jsonl",
        [
            _app_line(app_request_id="good-1", tenant_id="acme"),
            _app_line(app_request_id="oversize", tenant_id="t" * 2_000_000),
            _app_line(app_request_id="nul\u0000id", tenant_id="acme"),
            '{"app_request_id": "raw-nul", "tenant_id": "a\x00b"}',
            _app_line(app_request_id="far-future", ts="2300-01-01T00:00:00Z"),
            _app_line(app_request_id="year-99999", ts="99999-01-01T00:00:00Z"),
            _app_line(app_request_id="deep")[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
            _app_line(app_request_id=SQL_INJECTION, tenant_id=SQL_INJECTION, feature="?"),
        ],
    )
    (app / "mis-encoded.jsonl").write_bytes(
        b'{"app_request_id": "bad-utf8", "ts": "2026-11-03T10:00:00Z", "tenant_id": "\xff\xfe"}\n'
        + _app_line(app_request_id="good-2").encode()
        + b"\n"
    )
    write_lines(app / f"x{SQL_INJECTION}.jsonl", [_app_line(app_request_id="odd-name")])
    write_lines(app / "..%2f..%2fetc%2fpasswd.jsonl", [_app_line(app_request_id="hidden-name")])
    write_lines(app / "x..%2f..%2fetc%2fpasswd.jsonl", [_app_line(app_request_id="dot-dot-name")])
    (app / "passwd.jsonl").symlink_to("/etc/passwd")
    (app / os.fsdecode(b"\xff\xfe-name.jsonl")).write_text(
        _app_line(app_request_id="undecodable-name") + "\n"
    )

    spans = root / "gateway_spans" / DAY
    huge = client_attributes(**{"gen_ai.usage.input_tokens": 99999999999999999999})
    max_bigint = client_attributes(**{"gen_ai.usage.output_tokens": 2**63 - 1})
    sql_ids = client_attributes(
        **{"gen_ai.request.model": SQL_INJECTION, "http.request.header.x-request-id": "x'--"}
    )
    deep_line = export_line([span("e" * 32, "5" * 16, attributes=client_attributes())])
    deep_line = deep_line[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    write_lines(
        spans / "spans-0000.jsonl",
        [
            export_line([span("a" * 32, "1" * 16, attributes=client_attributes())]),
            export_line([span("b" * 32, "2" * 16, attributes=huge)]),
            export_line([span("c" * 32, "3" * 16, attributes=max_bigint)]),
            export_line([span("d" * 32, "4" * 16, start_ns=99999999999999999999)]),
            export_line([span("f" * 32, "6" * 16, start_ns=-5, attributes=client_attributes())]),
            export_line([span(SQL_INJECTION, "7" * 16, attributes=sql_ids)]),
            deep_line,
        ],
    )

    page = {
        "object": "page",
        "data": [{"start_time": 1762128000, "end_time": 1762214400, "results": []}],
    }
    deep_page = json.dumps(page)[:-3] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}]}"
    buckets = root / "provider_usage_buckets" / DAY
    buckets.mkdir(parents=True)
    (buckets / "openai_usage_completions_p1.json").write_text(deep_page)

    tenants = root / "tenants" / DAY
    tenants.mkdir(parents=True)
    (tenants / "tenants.csv").write_bytes(
        (TENANTS_HEADER + "\n").encode()
        + b"t1,\xff\xfe,c,b,p,o,2026-01-01,\n"
        + f"t2,{'x' * 200_000},c,b,p,o,2026-01-01,\n".encode()
        + b"t3,Tenant 3,c,b,p,o,2026-01-01,\n"
    )


EXPECTED_QUARANTINE = {
    ("search.jsonl", 2): "record is 2000",
    ("search.jsonl", 3): "app_request_id contains a NUL character",
    ("search.jsonl", 4): "malformed JSON",
    ("search.jsonl", 5): "ts is not a valid timestamp: 2300-01-01",
    ("search.jsonl", 6): "ts is not a valid timestamp: 99999-01-01",
    ("mis-encoded.jsonl", 1): "invalid UTF-8",
    ("passwd.jsonl", None): "file resolves outside the landing directory",
    ("spans-0000.jsonl", 2): "input_tokens is out of range: 99999999999999999999",
    ("spans-0000.jsonl", 3): "output_tokens is out of range: 9223372036854775807",
    ("spans-0000.jsonl", 4): "start_time_unix_nano is out of range",
    ("spans-0000.jsonl", 5): "start_time_unix_nano is out of range (1970 to 2200): -5",
    ("openai_usage_completions_p1.json", None): "nested too deeply",
    ("tenants.csv", 2): "invalid UTF-8",
    ("tenants.csv", 3): "tenant_name is longer than 65536 characters",
}


def test_hostile_records_are_quarantined_with_a_reason_and_the_batch_goes_on(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    _write_hostile_landing(tmp_path)

    warehouse.load(tmp_path, ["app_requests", "gateway_spans", "provider_usage_buckets", "tenants"])

    quarantine = _quarantine(warehouse)
    for place, reason in EXPECTED_QUARANTINE.items():
        assert place in quarantine, place
        assert reason in quarantine[place], (place, quarantine[place])
    assert len(quarantine) == len(EXPECTED_QUARANTINE), sorted(
        set(quarantine) - set(EXPECTED_QUARANTINE)
    )
    loaded_requests = {r[0] for r in warehouse.query("select app_request_id from raw.app_requests")}
    assert loaded_requests == {
        "good-1",
        "good-2",
        "deep",
        SQL_INJECTION,
        "odd-name",
        "dot-dot-name",
        "undecodable-name",
    }
    assert {r[0] for r in warehouse.query("select tenant_id from raw.tenants")} == {"t3"}
    spans = warehouse.query("select trace_id, request_model from raw.gateway_spans order by 1")
    assert spans == [(SQL_INJECTION, SQL_INJECTION), ("a" * 32, "gpt-4o"), ("e" * 32, "gpt-4o")]
    # the symbolic link's target was never read
    assert "root:" not in _every_text_value(warehouse)


def test_sql_in_ids_and_file_names_is_stored_as_data(warehouse: Warehouse, tmp_path: Path) -> None:
    _write_hostile_landing(tmp_path)

    warehouse.load(tmp_path, ["app_requests"])

    assert warehouse.query(
        "select tenant_id, feature from raw.app_requests where app_request_id like '%drop table%'"
    ) == [(SQL_INJECTION, "?")]
    files = {r[0] for r in warehouse.query("select file_path from audit.load_manifest")}
    assert f"app_requests/{DAY}/x{SQL_INJECTION}.jsonl" in files
    assert f"app_requests/{DAY}/\ufffd\ufffd-name.jsonl" in files
    assert f"app_requests/{DAY}/x..%2f..%2fetc%2fpasswd.jsonl" in files
    # a name starting with "." is a file still being written (landing convention): not read
    assert not any(
        "hidden" in r[0] for r in warehouse.query("select app_request_id from raw.app_requests")
    )
    # the table the injected text names is still there, with every good row
    assert warehouse.query("select count(*) from raw.app_requests") == [(7,)]


def test_reloading_hostile_files_changes_nothing(warehouse: Warehouse, tmp_path: Path) -> None:
    _write_hostile_landing(tmp_path)
    sources = ["app_requests", "gateway_spans", "provider_usage_buckets", "tenants"]
    warehouse.load(tmp_path, sources)
    before = warehouse.query(
        "select source, file_path, rows_loaded, rows_quarantined from audit.load_manifest "
        "order by 1, 2"
    )

    again = warehouse.load(tmp_path, sources)

    assert all(f.status == "unchanged" for report in again.values() for f in report.files)
    assert (
        warehouse.query(
            "select source, file_path, rows_loaded, rows_quarantined from audit.load_manifest "
            "order by 1, 2"
        )
        == before
    )
