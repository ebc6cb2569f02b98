"""The synthetic generator writes every landing source, deterministically, with exact truth."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import zstandard
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from ai_chargeback.cli import app
from ai_chargeback.generator import GenerationSummary, generate
from ai_chargeback.generator.config import CONTRACT_DISCOUNTS, MODELS
from ai_chargeback.generator.pricing import BATCH_CONTEXT, PriceBook

START = date(2026, 11, 2)
SMALL = {"days": 3, "tenants": 3, "requests_per_day": 150, "start": START}

pytestmark = pytest.mark.xdist_group("generator")


def _run(root: Path, name: str, **overrides: object) -> tuple[Path, GenerationSummary]:
    args = {**SMALL, "seed": 42, **overrides}
    out = root / name
    return out, generate(out, **args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out, _ = _run(tmp_path_factory.mktemp("gen"), "landing")
    return out


@pytest.fixture(scope="module")
def summary(landing: Path) -> dict:
    return json.loads((landing / "_ground_truth" / "summary.json").read_text())


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def requests(landing: Path) -> list[dict[str, str]]:
    return _csv(landing / "_ground_truth" / "requests.csv")


@pytest.fixture(scope="module")
def attempts(landing: Path) -> list[dict[str, str]]:
    return _csv(landing / "_ground_truth" / "attempts.csv")


@pytest.fixture(scope="module")
def faults(landing: Path) -> list[dict[str, str]]:
    return _csv(landing / "_ground_truth" / "faults.csv")


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        return zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()
    return data


def _files(landing: Path, source: str) -> list[Path]:
    return sorted(p for p in (landing / source).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def spans(landing: Path) -> dict:
    """Every span line: parsed spans with their file/line, and the unparseable lines."""
    parsed: list[tuple[str, int, dict, str]] = []  # (file, line, span, scope)
    raw_by_id: dict[tuple[str, str], list[tuple[str, int, bytes]]] = defaultdict(list)
    malformed: list[tuple[str, int]] = []
    spans_per_line: list[int] = []
    for path in _files(landing, "gateway_spans"):
        rel = path.relative_to(landing).as_posix()
        for number, line in enumerate(_read(path).splitlines(), start=1):
            try:
                request = json.loads(line)
            except json.JSONDecodeError:
                malformed.append((rel, number))
                continue
            count = 0
            for resource in request["resourceSpans"]:
                for scope in resource["scopeSpans"]:
                    for span in scope["spans"]:
                        count += 1
                        parsed.append((rel, number, span, scope["scope"]["name"]))
                        raw = json.dumps(span, sort_keys=True).encode()
                        raw_by_id[(span["traceId"], span["spanId"])].append((rel, number, raw))
            spans_per_line.append(count)
    return {
        "parsed": parsed,
        "by_id": raw_by_id,
        "malformed": malformed,
        "per_line": spans_per_line,
    }


def _attrs(span: dict) -> dict[str, object]:
    values = {}
    for attribute in span["attributes"]:
        ((kind, value),) = attribute["value"].items()
        values[attribute["key"]] = (kind, value)
    return values


# --- determinism and volume ------------------------------------------------------------------


def _digest_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_arguments_write_byte_identical_files(tmp_path: Path, landing: Path) -> None:
    again, _ = _run(tmp_path, "again")
    assert _digest_tree(again) == _digest_tree(landing)


def test_a_different_seed_writes_different_data(tmp_path: Path, landing: Path) -> None:
    other, _ = _run(tmp_path, "other", seed=7)
    first, second = _digest_tree(landing), _digest_tree(other)
    assert first.keys() & second.keys()
    changed = [name for name in first.keys() & second.keys() if first[name] != second[name]]
    assert any(name.startswith("gateway_spans/") for name in changed)
    assert any(name.startswith("app_requests/") for name in changed)


def test_volume_scales_with_requests_days_and_tenants(tmp_path: Path) -> None:
    _, base = _run(tmp_path, "base", days=2, tenants=2, requests_per_day=200)
    _, more_requests = _run(tmp_path, "requests", days=2, tenants=2, requests_per_day=400)
    _, more_days = _run(tmp_path, "days", days=4, tenants=2, requests_per_day=200)
    _, more_tenants = _run(tmp_path, "tenants", days=2, tenants=5, requests_per_day=200)
    assert 1.8 < more_requests.requests / base.requests < 2.2
    assert more_days.requests > 1.6 * base.requests
    assert more_tenants.requests == pytest.approx(base.requests, rel=0.1)
    spans_base = base.records_by_source["gateway_spans"]
    assert more_requests.records_by_source["gateway_spans"] > 1.5 * spans_base
    assert more_tenants.records_by_source["api_keys"] > base.records_by_source["api_keys"]


# --- every source, counted ---------------------------------------------------------------------


def test_every_landing_source_is_written_in_its_documented_place(landing: Path) -> None:
    names = {p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()}

    def has(pattern: str) -> bool:
        return any(Path(name).match(pattern) for name in names)

    for pattern in (
        "gateway_spans/2026-11-0?/spans-0001.jsonl.gz",
        "gateway_spans/2026-11-0?/spans-0001.jsonl.zst",
        "gateway_spend_logs/2026-11-0?/spend_logs.csv.gz",
        "app_requests/2026-11-0?/answer-synthesis.jsonl",
        "provider_response_usage/2026-11-0?/openai.jsonl",
        "provider_response_usage/2026-11-0?/anthropic.jsonl",
        "provider_usage_buckets/2026-11-0?/openai_usage_completions_p1.json",
        "provider_usage_buckets/2026-11-0?/anthropic_usage_report_p1.json",
        "provider_costs/2026-11-0?/openai_costs_p2.json",
        "provider_costs/2026-11-0?/anthropic_cost_report_p1.json",
        "provider_costs/2026-11-04/google_invoice.csv",
        "tenants/2026-11-02/tenants.csv",
        "api_keys/2026-11-02/api_keys.csv",
        "_ground_truth/requests.csv",
        "_ground_truth/attempts.csv",
        "_ground_truth/faults.csv",
        "_ground_truth/summary.json",
    ):
        assert has(pattern), pattern


def _count_records(landing: Path, source: str) -> int:
    total = 0
    for path in _files(landing, source):
        data = _read(path)
        if source == "gateway_spans":
            for line in data.splitlines():
                try:
                    request = json.loads(line)
                except json.JSONDecodeError:
                    total += 1
                    continue
                total += sum(
                    len(scope["spans"])
                    for resource in request["resourceSpans"]
                    for scope in resource["scopeSpans"]
                )
        elif path.name.endswith((".csv", ".csv.gz")):
            total += len(data.decode().splitlines()) - 1
        elif path.name.endswith(".jsonl"):
            total += len(data.splitlines())
        else:
            page = json.loads(data)
            total += sum(len(bucket["results"]) for bucket in page["data"])
    return total


def test_records_written_are_counted_and_split_into_loaded_and_quarantined(
    landing: Path, summary: dict, faults: list[dict[str, str]]
) -> None:
    quarantined = Counter(f["source"] for f in faults if f["expected_outcome"] == "quarantine")
    for source, counts in summary["sources"].items():
        assert _count_records(landing, source) == counts["records_written"], source
        loaded, quarantine = counts["expected_loaded"], counts["expected_quarantined"]
        assert counts["records_written"] == loaded + quarantine
        assert counts["expected_quarantined"] == quarantined[source]
        assert sum(counts["expected_quarantined_by_reason"].values()) == quarantined[source]


def test_every_fault_type_is_seeded_at_small_scale(faults: list[dict[str, str]]) -> None:
    seen = {(f["source"], f["fault_type"], f["expected_outcome"]) for f in faults}
    assert seen >= {
        ("gateway_spans", "malformed_json", "quarantine"),
        ("gateway_spans", "missing_required_attributes", "quarantine"),
        ("gateway_spans", "bad_token_count", "quarantine"),
        ("gateway_spans", "duplicate_span", "quarantine"),
        ("gateway_spans", "unknown_model", "loaded"),
        ("gateway_spans", "orphan_gateway_request", "loaded"),
        ("app_requests", "malformed_json", "quarantine"),
        ("app_requests", "late_arrival", "loaded"),
        ("app_requests", "app_request_without_spans", "loaded"),
        ("app_requests", "non_utc_timestamp", "loaded"),
        ("gateway_spend_logs", "bad_csv_row", "quarantine"),
        ("provider_usage_buckets", "usage_cached_tokens_reported_zero", "loaded"),
        ("provider_costs", "invoice_remainder", "loaded"),
    }
    details = {f["detail"] for f in faults if f["fault_type"] == "bad_token_count"}
    assert any('"-12"' in d for d in details) and any('"12k"' in d for d in details)


def test_quarantined_records_belong_to_no_ground_truth_request(
    faults: list[dict[str, str]], attempts: list[dict[str, str]], requests: list[dict[str, str]]
) -> None:
    span_ids = {a["span_id"] for a in attempts}
    request_ids = {r["app_request_id"] for r in requests} | {a["response_id"] for a in attempts}
    for fault in faults:
        if fault["expected_outcome"] != "quarantine":
            continue
        if fault["fault_type"] == "duplicate_span":
            continue  # a copy of a real span: the first copy is the one that counts
        assert fault["record_ref"] not in span_ids | request_ids, fault


def test_fault_lines_point_at_the_faulty_records(
    landing: Path, faults: list[dict[str, str]]
) -> None:
    for fault in faults:
        if fault["source"] not in ("gateway_spans", "app_requests", "gateway_spend_logs"):
            continue
        lines = _read(landing / fault["file"]).splitlines()
        line = lines[int(fault["line"]) - 1].decode()
        assert fault["record_ref"] in line, fault
        if fault["fault_type"] == "malformed_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(line)


# --- formats -------------------------------------------------------------------------------------


def test_spans_follow_the_otlp_genai_contract(spans: dict, requests: list[dict[str, str]]) -> None:
    assert max(spans["per_line"]) <= 100
    kinds = Counter()
    for _, _, span, scope in spans["parsed"]:
        attrs = _attrs(span)
        kinds[span["kind"]] += 1
        assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16
        assert span["startTimeUnixNano"].isdigit() and span["endTimeUnixNano"].isdigit()
        for kind, value in attrs.values():
            if kind == "intValue":
                assert isinstance(value, str)
        if span["kind"] == 2:
            assert span["parentSpanId"] == "" and scope == "ai-gateway"
            if "http.request.header.x-request-id" in attrs:
                kind, value = attrs["http.request.header.x-request-id"]
                assert kind == "arrayValue" and value["values"][0]["stringValue"].startswith("req_")
    servers = {(s["traceId"], s["spanId"]) for _, _, s, _ in spans["parsed"] if s["kind"] == 2}
    assert len(servers) == sum(1 for r in requests if r["gateway"] == "spans")
    assert kinds[3] > kinds[2]
    scopes = {scope for _, _, _, scope in spans["parsed"]}
    assert {"ai-gateway", "opentelemetry.instrumentation.openai_v2"} <= scopes


def test_token_attribute_dialects_hide_what_they_do_not_report(
    spans: dict, attempts: list[dict[str, str]]
) -> None:
    by_span = {a["span_id"]: a for a in attempts if a["span_id"]}
    seen = Counter()
    for _, _, span, _ in spans["parsed"]:
        truth = by_span.get(span["spanId"])
        if span["kind"] != 3 or truth is None or truth["is_success"] != "true":
            continue
        attrs = _attrs(span)
        seen[truth["dialect"]] += 1
        if truth["dialect"] == "contrib_openai_v2":
            assert not any("cache" in k or "reasoning" in k for k in attrs)
            assert attrs["gen_ai.usage.input_tokens"][1] == truth["gateway_input_tokens"]
        elif truth["dialect"] == "openllmetry_legacy":
            assert attrs["gen_ai.system"][1] == truth["provider"]
            assert attrs["gen_ai.usage.prompt_tokens"][1] == truth["gateway_input_tokens"]
        else:
            assert attrs["gen_ai.usage.input_tokens"][1] == truth["gateway_input_tokens"]
            if truth["gateway_cache_read_tokens"]:
                cached = attrs["gen_ai.usage.cache_read.input_tokens"][1]
                assert cached == truth["gateway_cache_read_tokens"]
    assert set(seen) == {"current", "contrib_openai_v2", "openllmetry_legacy"}


def test_failed_attempts_carry_no_tokens_and_no_provider_usage(
    landing: Path, spans: dict, attempts: list[dict[str, str]]
) -> None:
    failed = {a["span_id"] for a in attempts if a["is_success"] == "false" and a["span_id"]}
    assert failed
    for _, _, span, _ in spans["parsed"]:
        if span["spanId"] in failed:
            assert not any(k.startswith("gen_ai.usage") for k in _attrs(span))
            assert "error.type" in _attrs(span)
    responses = {
        json.loads(line)["response_id"]
        for path in _files(landing, "provider_response_usage")
        for line in path.read_text().splitlines()
    }
    assert all(a["response_id"] == "" for a in attempts if a["is_success"] == "false")
    with_usage = {
        a["response_id"]
        for a in attempts
        if a["is_success"] == "true" and a["provider"] in ("openai", "anthropic")
    }
    assert responses == with_usage


def test_streamed_estimates_differ_from_the_provider_count(attempts: list[dict[str, str]]) -> None:
    estimated = [a for a in attempts if a["is_estimated"] == "true"]
    assert estimated
    for a in estimated:
        provider, gateway = int(a["provider_input_tokens"]), int(a["gateway_input_tokens"])
        assert provider != gateway and abs(provider - gateway) <= 0.06 * provider + 1


def test_duplicate_spans_are_byte_identical_reexports_in_a_later_line(
    spans: dict, faults: list[dict[str, str]]
) -> None:
    duplicates = [f for f in faults if f["fault_type"] == "duplicate_span"]
    assert duplicates
    for fault in duplicates:
        copies = [v for (_, span_id), v in spans["by_id"].items() if span_id == fault["record_ref"]]
        (occurrences,) = copies
        assert len(occurrences) >= 2
        first, later = occurrences[0], occurrences[-1]
        assert first[2] == later[2]
        assert (later[0], later[1]) == (fault["file"], int(fault["line"]))
        assert (first[0], first[1]) < (later[0], later[1])


def test_app_requests_and_orphans_are_all_in_the_ground_truth(
    landing: Path, requests: list[dict[str, str]]
) -> None:
    app_ids = set()
    late = []
    for path in _files(landing, "app_requests"):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            app_ids.add(record["app_request_id"])
            stamp = datetime.fromisoformat(record["ts"]).astimezone(UTC)
            if stamp.date().isoformat() != path.parent.name:
                late.append(record["app_request_id"])
    truth = {r["request_key"]: r for r in requests}
    assert app_ids == {r["app_request_id"] for r in requests if r["app_request_id"]}
    orphans = [r for r in requests if r["request_key"].startswith("trace:")]
    assert {r["attribution_source"] for r in orphans} == {"api_key", "unattributed"}
    assert all(truth[request_id]["is_late_app_request"] == "true" for request_id in late)
    assert any(r["gateway"] == "" and r["pricing_status"] == "no_usage" for r in requests)


# --- money -----------------------------------------------------------------------------------


def test_sampled_list_costs_equal_genai_prices_calc_price(attempts: list[dict[str, str]]) -> None:
    priced = [a for a in attempts if a["pricing_status"] == "priced"]
    special = [
        a
        for a in priced
        if a["is_batch"] == "true"
        or int(a["cache_write_1h_tokens"]) > 0
        or int(a["uncached_input_tokens"]) + int(a["cache_read_tokens"]) > 200_000
    ]
    sample = special[:60] + priced[:: max(1, len(priced) // 120)]
    assert any(a["is_batch"] == "true" for a in sample)
    assert any(int(a["cache_write_1h_tokens"]) > 0 for a in sample)
    for a in sample:
        usage = Usage(
            input_tokens=int(a["uncached_input_tokens"])
            + int(a["cache_read_tokens"])
            + int(a["cache_write_tokens"]),
            cache_read_tokens=int(a["cache_read_tokens"]),
            cache_write_tokens=int(a["cache_write_tokens"]),
            cache_write_1h_tokens=int(a["cache_write_1h_tokens"]),
            output_tokens=int(a["output_tokens"]),
        )
        expected = calc_price(
            usage,
            a["canonical_model"],
            provider_id=a["provider"],
            genai_request_timestamp=datetime.fromisoformat(a["started_at"]),
            price_context=BATCH_CONTEXT if a["is_batch"] == "true" else None,
        ).total_price
        assert Decimal(a["list_cost_usd"]) == expected
        assert a["list_cost_usd"] == format(expected, "f")
        discount = CONTRACT_DISCOUNTS[a["provider"]]
        assert Decimal(a["effective_cost_usd"]) == expected * (1 - discount)


def test_price_book_replay_equals_calc_price_on_edge_cases() -> None:
    book = PriceBook()
    day = date(2026, 11, 15)
    at = datetime(2026, 11, 15, 23, 59, tzinfo=UTC)
    cases = [
        ("google", "gemini-2.5-pro", False, (150_000, 60_000, 0, 0, 2_000)),  # 210k: long tier
        ("google", "gemini-2.5-pro", True, (199_000, 1_000, 0, 0, 10)),  # exactly 200k: base
        ("anthropic", "claude-sonnet-4-20250514", False, (1_000, 500, 3_000, 1_200, 300)),
        ("openai", "o3-mini-2025-01-31", True, (4_000, 1_024, 0, 0, 3_000)),
        ("google", "gemini-2.5-flash", True, (0, 0, 0, 0, 0)),
    ]
    for provider, model, batch, (uncached, read, write, write_1h, out) in cases:
        row = book.row(provider, model, day, batch=batch)
        assert row is not None
        usage = {
            "input_tokens": uncached + read + write,
            "cache_read_tokens": read,
            "cache_write_tokens": write,
            "cache_write_1h_tokens": write_1h,
            "output_tokens": out,
        }
        total, _ = row.price(usage)
        expected = calc_price(
            Usage(**usage),
            model,
            provider_id=provider,
            genai_request_timestamp=at,
            price_context=BATCH_CONTEXT if batch else None,
        ).total_price
        assert total == expected and str(total) == str(expected)
    assert book.row("vllm", "acme-rewrite-llama-3.1-8b-ft", day, batch=False) is None


def test_configured_models_resolve_in_genai_prices() -> None:
    at = datetime(2026, 11, 15, tzinfo=UTC)
    for model in MODELS:
        if model.price_ref is None:
            continue
        for snapshot in model.snapshots:
            result = calc_price(
                Usage(input_tokens=10, output_tokens=1),
                snapshot,
                provider_id=model.provider,
                genai_request_timestamp=at,
            )
            alias = calc_price(
                Usage(input_tokens=10, output_tokens=1),
                model.request_name,
                provider_id=model.provider,
                genai_request_timestamp=at,
            )
            assert result.model.id == alias.model.id


def test_request_costs_are_the_sum_of_their_billable_attempts(
    requests: list[dict[str, str]], attempts: list[dict[str, str]]
) -> None:
    by_request: dict[str, list[dict[str, str]]] = defaultdict(list)
    for a in attempts:
        by_request[a["request_key"]].append(a)
    statuses = Counter()
    for r in requests:
        mine = by_request.get(r["request_key"], [])
        statuses[r["pricing_status"]] += 1
        assert int(r["attempts"]) == len(mine)
        billable = [a for a in mine if a["is_success"] == "true"]
        assert int(r["output_tokens"]) == sum(int(a["output_tokens"]) for a in billable)
        if r["pricing_status"] == "priced":
            assert Decimal(r["list_cost_usd"]) == sum(Decimal(a["list_cost_usd"]) for a in billable)
        elif r["pricing_status"] == "unpriced":
            assert r["list_cost_usd"] == "" and r["final_provider"] == "vllm"
        else:
            assert not billable and Decimal(r["list_cost_usd"]) == 0
        failed_first = [a for a in mine if a["is_success"] == "false"]
        assert all(Decimal(a["list_cost_usd"]) == 0 for a in failed_first)
    assert set(statuses) == {"priced", "unpriced", "no_usage"}


def test_invoices_equal_attributed_effective_cost_plus_the_remainder(
    summary: dict, attempts: list[dict[str, str]]
) -> None:
    attributed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for a in attempts:
        if a["pricing_status"] == "priced":
            attributed[(a["provider"], a["started_at"][:7])] += Decimal(a["effective_cost_usd"])
    remainder: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in summary["invoice_remainders"]:
        remainder[(r["provider"], r["date"][:7])] += Decimal(r["amount_usd"])
    assert summary["invoice_remainders"]
    for provider, months in summary["invoice_totals"].items():
        for month, total in months.items():
            key = (provider, month)
            assert Decimal(total) == attributed[key] + remainder[key], key
            share = remainder[key] / Decimal(total)
            assert share < Decimal("0.02")


def test_costs_pages_carry_exact_amounts(landing: Path, summary: dict) -> None:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for path in _files(landing, "provider_costs"):
        if path.name.startswith("openai_costs"):
            page = json.loads(path.read_bytes(), parse_float=Decimal)
            assert page["object"] == "page" and len(page["data"][0]["results"]) <= 50
            totals["openai"] += sum(r["amount"]["value"] for r in page["data"][0]["results"])
        elif path.name.startswith("anthropic_cost_report"):
            page = json.loads(path.read_bytes())
            totals["anthropic"] += sum(
                Decimal(r["amount"]) / 100 for r in page["data"][0]["results"]
            )
        elif path.name == "google_invoice.csv":
            totals["google"] += sum(Decimal(row["Cost (USD)"]) for row in _csv(path))
    for provider, months in summary["invoice_totals"].items():
        assert totals[provider] == sum(Decimal(v) for v in months.values())


def test_openai_usage_buckets_match_responses_except_the_seeded_mismatch(
    landing: Path, summary: dict
) -> None:
    from_responses: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for path in _files(landing, "provider_response_usage"):
        if path.name != "openai.jsonl":
            continue
        for line in path.read_text().splitlines():
            record = json.loads(line)
            key = (
                record["created_at"][:10],
                record["project_id"],
                record["api_key_id"],
                record["model"],
                record["batch"],
            )
            usage = record["usage"]
            totals = from_responses[key]
            totals[0] += usage["prompt_tokens"]
            totals[1] += usage["prompt_tokens_details"]["cached_tokens"]
            totals[2] += usage["completion_tokens"]
    mismatches = {
        (m["date"], m["project_id"], m["api_key_id"], m["model"], m["batch"]): m
        for m in summary["usage_mismatches"]
    }
    assert mismatches
    reported: dict[tuple, list[int]] = {}
    for path in _files(landing, "provider_usage_buckets"):
        if not path.name.startswith("openai_usage_completions"):
            continue
        page = json.loads(path.read_text())
        for bucket in page["data"]:
            day = datetime.fromtimestamp(bucket["start_time"], tz=UTC).date().isoformat()
            for result in bucket["results"]:
                key = (
                    day,
                    result["project_id"],
                    result["api_key_id"],
                    result["model"],
                    result["batch"],
                )
                reported[key] = [
                    result["input_tokens"],
                    result["input_cached_tokens"],
                    result["output_tokens"],
                ]
    assert reported.keys() == from_responses.keys()
    for key, values in reported.items():
        expected = from_responses[key]
        if key in mismatches:
            assert values[1] == 0 < expected[1] == mismatches[key]["responses_value"]
            assert values[0] == expected[0] and values[2] == expected[2]
        else:
            assert values == expected, key


def test_report_pages_chain_with_has_more_and_next_page(landing: Path) -> None:
    series: dict[tuple[str, str], list[tuple[int, dict]]] = defaultdict(list)
    for path in landing.glob("provider_*/*/*_p*.json"):
        stem, number = path.stem.rsplit("_p", 1)
        series[(path.parent.as_posix(), stem)].append((int(number), json.loads(path.read_text())))
    assert any(len(pages) > 1 for pages in series.values())
    for pages in series.values():
        pages.sort(key=lambda item: item[0])
        assert [n for n, _ in pages] == list(range(1, len(pages) + 1))
        for n, page in pages:
            last = n == len(pages)
            assert page["has_more"] is not last
            assert (page["next_page"] is None) is last
            assert sum(len(b["results"]) for b in page["data"]) <= 50


# --- episodes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def episode_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict[str, str]]]:
    out, _ = _run(
        tmp_path_factory.mktemp("episodes"), "episodes", days=6, tenants=2, requests_per_day=1500
    )
    summary = json.loads((out / "_ground_truth" / "summary.json").read_text())
    return summary, _csv(out / "_ground_truth" / "requests.csv")


def test_template_version_change_raises_output_tokens(episode_run: tuple) -> None:
    summary, requests = episode_run
    change = summary["episodes"]["template_change"]
    outputs: dict[str, list[int]] = defaultdict(list)
    for r in requests:
        template = r["prompt_template_id"] == change["prompt_template_id"]
        if template and r["pricing_status"] == "priced":
            outputs[r["prompt_template_version"]].append(int(r["output_tokens"]))
    before, after = outputs[change["from_version"]], outputs[change["to_version"]]
    ratio = (sum(after) / len(after)) / (sum(before) / len(before))
    assert 1.3 < ratio < 1.6


def test_fallback_episode_sends_the_route_to_the_premium_model(episode_run: tuple) -> None:
    summary, requests = episode_run
    episode = summary["episodes"]["fallback_episode"]
    inside, outside = Counter(), Counter()
    for r in requests:
        if r["route"] != episode["route"] or r["pricing_status"] != "priced":
            continue
        window = inside if episode["start"] <= r["requested_at"] < episode["end"] else outside
        window[r["final_provider"] == episode["fallback_provider"]] += 1
    assert inside[True] / sum(inside.values()) > 0.7
    assert outside[True] / sum(outside.values()) < 0.2


def test_cli_generate_prints_a_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--days",
            "1",
            "--tenants",
            "2",
            "--requests-per-day",
            "50",
            "--seed",
            "3",
            "--start",
            "2026-11-05",
            "--out",
            str(tmp_path / "cli"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "gateway_spans" in result.output
    assert (tmp_path / "cli" / "_ground_truth" / "summary.json").is_file()
    rows = list(csv.reader(io.StringIO((tmp_path / "cli/_ground_truth/requests.csv").read_text())))
    assert len(rows) > 40
