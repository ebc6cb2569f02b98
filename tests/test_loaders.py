"""Raw loaders: bad records are quarantined with a reason, nothing is lost, reloads are no-ops."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.lib import loader
from orchestration.lib.sources import SOURCES
from tests.builders import client_attributes, export_line, span, write_lines

DAY = "2026-11-03"


@pytest.fixture()
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = loader.connect(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


def _spans_dir(root: Path) -> Path:
    return root / "gateway_spans" / DAY


def _quarantine(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple[int, str]]:
    return con.execute(
        "select line_number, reason from audit.quarantine where source = ? order by all",
        [source],
    ).fetchall()


def test_bad_spans_are_quarantined_with_a_reason_naming_the_problem(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    good = span("a" * 32, "1" * 16, attributes=client_attributes())
    lines = [
        export_line([good]),
        export_line(
            [
                span(
                    "b" * 32,
                    "2" * 16,
                    attributes=client_attributes(**{"gen_ai.usage.input_tokens": "12k"}),
                )
            ]
        ),
        export_line(
            [
                span(
                    "c" * 32,
                    "3" * 16,
                    attributes=client_attributes(**{"gen_ai.usage.output_tokens": -7}),
                )
            ]
        ),
        export_line(
            [
                span(
                    "d" * 32,
                    "4" * 16,
                    attributes=client_attributes(
                        **{"gen_ai.request.model": None, "gen_ai.provider.name": None}
                    ),
                )
            ]
        ),
        export_line([good]),  # at-least-once delivery: the same span again
        export_line([good])[:40],  # truncated write
    ]
    write_lines(_spans_dir(tmp_path) / "spans-0000.jsonl.gz", lines, compress=True)

    report = loader.load_source(con, SOURCES["gateway_spans"], tmp_path)

    assert report.rows_loaded == 1
    assert report.rows_quarantined == 5
    reasons = dict(_quarantine(con, "gateway_spans"))
    assert "input_tokens is not an integer: 12k" in reasons[2]
    assert "output_tokens is negative: -7" in reasons[3]
    assert "missing required attribute gen_ai.provider.name or gen_ai.system" in reasons[4]
    assert "missing required attribute gen_ai.request.model" in reasons[4]
    assert reasons[5].startswith("duplicate export of")
    assert reasons[6].startswith("malformed JSON")


def test_every_record_is_loaded_or_quarantined(tmp_path: Path, con: duckdb.DuckDBPyConnection):
    spans = [
        span(
            f"{i:032x}",
            f"{i:016x}",
            attributes=client_attributes(
                **({"gen_ai.usage.input_tokens": "x"} if i % 7 == 0 else {})
            ),
        )
        for i in range(1, 251)
    ]
    lines = [export_line(spans[i : i + 100]) for i in range(0, 250, 100)]
    write_lines(_spans_dir(tmp_path) / "spans-0000.jsonl", lines)

    report = loader.load_source(con, SOURCES["gateway_spans"], tmp_path)

    assert report.rows_loaded + report.rows_quarantined == 250
    assert report.rows_quarantined == len([i for i in range(1, 251) if i % 7 == 0])
    manifest = con.execute(
        "select rows_in_file, rows_loaded, rows_quarantined from audit.load_manifest"
    ).fetchone()
    assert manifest == (250, 250 - report.rows_quarantined, report.rows_quarantined)


def test_duplicate_span_in_a_later_file_is_quarantined(tmp_path: Path, con):
    first = span("a" * 32, "1" * 16, attributes=client_attributes())
    write_lines(_spans_dir(tmp_path) / "spans-0000.jsonl", [export_line([first])])
    write_lines(_spans_dir(tmp_path) / "spans-0001.jsonl", [export_line([first])])

    loader.load_source(con, SOURCES["gateway_spans"], tmp_path)

    assert con.execute("select count(*) from raw.gateway_spans").fetchone() == (1,)
    (reason,) = con.execute("select reason from audit.quarantine").fetchone()
    assert reason.endswith("already loaded from gateway_spans/2026-11-03/spans-0000.jsonl")


def test_message_contents_never_reach_the_warehouse(tmp_path: Path, con):
    secret = "my password is hunter2"
    attributes = client_attributes(
        **{
            "gen_ai.input.messages": secret,
            "gen_ai.output.messages": secret,
            "gen_ai.system_instructions": secret,
            "gen_ai.usage.input_tokens": "bad",
        }
    )
    write_lines(
        _spans_dir(tmp_path) / "spans-0000.jsonl",
        [
            export_line([span("a" * 32, "1" * 16, attributes=attributes)]),
            export_line(
                [
                    span(
                        "b" * 32,
                        "2" * 16,
                        attributes=client_attributes(**{"gen_ai.input.messages": secret}),
                    )
                ]
            ),
        ],
    )

    loader.load_source(con, SOURCES["gateway_spans"], tmp_path)

    dump = con.execute(
        "select string_agg(cast(columns(*) as varchar), '|') from raw.gateway_spans"
    ).fetchall()
    quarantined = con.execute("select string_agg(raw_text, '|') from audit.quarantine").fetchone()
    assert secret not in str(dump)
    assert quarantined[0] is not None and secret not in quarantined[0]


def _table_fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, str]:
    count, checksum = con.execute(
        f"select count(*), coalesce(sum(hash(t)), 0)::varchar from {table} as t"
    ).fetchone()
    return int(count), str(checksum)


def test_reloading_the_same_files_changes_nothing(tmp_path: Path, con):
    write_lines(
        _spans_dir(tmp_path) / "spans-0000.jsonl",
        [export_line([span("a" * 32, "1" * 16, attributes=client_attributes())]), "{"],
    )
    app = tmp_path / "app_requests" / DAY / "search.jsonl"
    write_lines(
        app, [json.dumps({"app_request_id": "r1", "ts": "2026-11-03T10:00:00+01:00"}), "not json"]
    )
    loader.load_all(con, tmp_path, sources=["gateway_spans", "app_requests"])
    tables = ["raw.gateway_spans", "raw.app_requests", "audit.quarantine", "audit.load_manifest"]
    before = {t: _table_fingerprint(con, t) for t in tables}

    again = loader.load_all(con, tmp_path, sources=["gateway_spans", "app_requests"])

    assert {t: _table_fingerprint(con, t) for t in tables} == before
    assert all(f.status == "unchanged" for r in again.values() for f in r.files)


def test_a_changed_file_replaces_only_its_own_rows(tmp_path: Path, con):
    day = tmp_path / "app_requests" / DAY
    write_lines(day / "a.jsonl", [json.dumps({"app_request_id": "a1", "ts": "2026-11-03T10:00Z"})])
    write_lines(
        day / "b.jsonl",
        [json.dumps({"app_request_id": "b1", "ts": "2026-11-03T10:00Z"}), "{broken"],
    )
    loader.load_all(con, tmp_path, sources=["app_requests"])

    write_lines(day / "b.jsonl", [json.dumps({"app_request_id": "b2", "ts": "2026-11-03T11:00Z"})])
    loader.load_all(con, tmp_path, sources=["app_requests"])

    ids = [
        r[0]
        for r in con.execute("select app_request_id from raw.app_requests order by 1").fetchall()
    ]
    assert ids == ["a1", "b2"]
    assert con.execute("select count(*) from audit.quarantine").fetchone() == (0,)
    assert con.execute("select count(*) from audit.load_manifest").fetchone() == (2,)


def test_a_broken_file_does_not_stop_the_rest_of_the_batch(tmp_path: Path, con):
    good = [
        export_line([span("a" * 32, f"{i:016x}", attributes=client_attributes())])
        for i in range(1, 4)
    ]
    write_lines(_spans_dir(tmp_path) / "spans-0000.jsonl", good)
    broken = gzip.compress(("\n".join(good) + "\n").encode(), mtime=0)
    (_spans_dir(tmp_path) / "spans-0001.jsonl.gz").write_bytes(broken[: len(broken) // 2])
    truncated = export_line([span("b" * 32, "9" * 16, attributes=client_attributes())])
    write_lines(_spans_dir(tmp_path) / "spans-0002.jsonl", [truncated[: len(truncated) // 2]])
    later = export_line([span("c" * 32, "1" * 16, attributes=client_attributes())])
    write_lines(_spans_dir(tmp_path) / "spans-0003.jsonl", [later])

    report = loader.load_source(con, SOURCES["gateway_spans"], tmp_path)

    statuses = {f.relative_path.rsplit("/", 1)[1]: f for f in report.files}
    assert statuses["spans-0000.jsonl"].rows_loaded == 3
    assert statuses["spans-0001.jsonl.gz"].read_error is not None
    assert statuses["spans-0002.jsonl"].rows_quarantined == 1
    assert statuses["spans-0003.jsonl"].rows_loaded == 1
    reasons = [r for _, r in _quarantine(con, "gateway_spans")]
    assert any(
        r.startswith("file unreadable past this point: damaged gzip stream") for r in reasons
    )


def test_csv_rows_with_bad_values_are_quarantined_with_their_line(tmp_path: Path, con):
    header = (
        "request_id,call_type,api_key,spend,prompt_tokens,completion_tokens,total_tokens,"
        "startTime,endTime,model,model_group,custom_llm_provider,api_base,user,team_id,"
        "end_user,request_tags,metadata,cache_hit"
    )
    ok = (
        "chatcmpl-1,acompletion,abc,0.000123456789,100,20,120,2026-11-03 10:00:00.000000+00:00,"
        "2026-11-03 10:00:01.000000+00:00,gpt-4o-mini-2024-07-18,gpt-4o-mini,openai,"
        'https://api.openai.com,u1,team-1,,"[]","{""spend_logs_metadata"": '
        '{""app_request_id"": ""req_1""}}",False'
    )
    bad = ok.replace("chatcmpl-1", "chatcmpl-2").replace(",100,20,", ",1e2x,20,")
    short = "chatcmpl-3,acompletion"
    path = tmp_path / "gateway_spend_logs" / DAY / "spend_logs.csv.gz"
    write_lines(path, [header, ok, bad, short], compress=True)

    report = loader.load_source(con, SOURCES["gateway_spend_logs"], tmp_path)

    assert (report.rows_loaded, report.rows_quarantined) == (1, 2)
    assert _quarantine(con, "gateway_spend_logs") == [
        (3, "prompt_tokens is not an integer: 1e2x"),
        (4, "expected 19 fields, found 2"),
    ]
    spend, app_request = con.execute(
        "select spend, metadata->>'$.spend_logs_metadata.app_request_id'"
        " from raw.gateway_spend_logs"
    ).fetchone()
    assert str(spend) == "0.000123456789"
    assert app_request == "req_1"


def test_cost_amounts_are_read_from_their_text_not_through_a_float(tmp_path: Path, con):
    page = (
        '{"object": "page", "data": [{"object": "bucket", "start_time": 1762128000, '
        '"end_time": 1762214400, "results": [{"object": "organization.costs.result", '
        '"amount": {"value": 12345678.123456789012, "currency": "usd"}, '
        '"line_item": "gpt-4o-2024-08-06, input", "project_id": "proj_a"}, '
        '{"object": "organization.costs.result", "amount": {"value": "n/a", "currency": "usd"},'
        ' "line_item": "x", "project_id": "proj_a"}]}], "has_more": false, "next_page": null}'
    )
    write_lines(tmp_path / "provider_costs" / DAY / "openai_costs_p1.json", [page])

    report = loader.load_source(con, SOURCES["provider_costs"], tmp_path)

    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    amount, start = con.execute(
        "select amount_value, bucket_start_time from raw.provider_costs"
    ).fetchone()
    assert str(amount) == "12345678.123456789012"
    assert start == datetime(2025, 11, 3, tzinfo=UTC)
    (path, reason) = con.execute("select record_path, reason from audit.quarantine").fetchone()
    assert path == "data[0].results[1]"
    assert reason == "amount_value is not a decimal amount: n/a"


def test_a_file_no_loader_understands_is_quarantined_not_ignored(tmp_path: Path, con):
    write_lines(tmp_path / "provider_costs" / DAY / "notes.txt", ["hello"])

    report = loader.load_source(con, SOURCES["provider_costs"], tmp_path)

    assert report.rows_quarantined == 1
    assert _quarantine(con, "provider_costs") == [(None, "no loader for file name")]


def _loaded_rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    columns = [
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema || '.' || table_name = ? and column_name <> '_loaded_at' "
            "and column_name <> 'loaded_at' order by ordinal_position",
            [table],
        ).fetchall()
    ]
    select = ", ".join(f'cast("{c}" as varchar)' for c in columns)
    return con.execute(f"select {select} from {table} order by all").fetchall()


def test_batches_of_files_load_exactly_what_one_file_at_a_time_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ai_chargeback.generator import generate

    landing = tmp_path / "landing"
    generate(
        landing, days=2, tenants=3, requests_per_day=120, seed=5, start=datetime(2026, 11, 2).date()
    )
    results = {}
    for label, max_files in (("one_by_one", 1), ("batched", 7)):
        monkeypatch.setattr(loader, "_BATCH_MAX_FILES", max_files)
        with loader.connect(tmp_path / f"{label}.duckdb") as con:
            reports = loader.load_all(con, landing)
            tables = [f"raw.{name}" for name in SOURCES] + ["audit.quarantine"]
            results[label] = {t: _loaded_rows(con, t) for t in tables}
            results[label]["audit.load_manifest"] = _loaded_rows(con, "audit.load_manifest")
            assert sum(r.files_loaded for r in reports.values()) > 7 * 3
    assert results["batched"]["audit.quarantine"], "the generator seeds bad records"
    for table, rows in results["one_by_one"].items():
        assert results["batched"][table] == rows, table
