"""The AI gateway's spans as the OpenTelemetry Collector's file exporter writes them.

One line is one `ExportTraceServiceRequest` in OTLP JSON: one resource (a gateway instance),
one `scopeSpans` per instrumentation scope present in the batch (the gateway's own scope for
SERVER spans and current-dialect CLIENT spans; the contrib openai-v2 and legacy OpenLLMetry
instrumentations for theirs). Spans are exported in end-time order in batches of 20-100, at
most 50,000 spans per file, gzip (zstd some days).

Seeded faults are extra records that belong to no real request: a truncated single-span line,
CLIENT spans without model and provider, CLIENT spans with token counts "-12" / "12k", and
byte-identical re-exports of real spans in a later line (at-least-once delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import orjson

from ai_chargeback.generator.config import (
    CONTENT_CANARY,
    CONTRIB,
    CURRENT,
    ERROR_TYPES,
    FALLBACK,
    GATEWAY_VERSION,
    LATENCY,
    LEGACY,
    LOAD_BALANCE,
    MAX_SPANS_PER_FILE,
    MAX_SPANS_PER_LINE,
    MIN_SPANS_PER_LINE,
    MODELS,
    POLICY,
    PROVIDERS,
    RETRY,
    ROUTING_DECISIONS,
    SERVER_ADDRESS,
    UNKNOWN_MODEL_KEY,
    ZSTD_DAY_EVERY,
    FaultRates,
)
from ai_chargeback.generator.directory import NS, Directory
from ai_chargeback.generator.files import LOADED, QUARANTINE, FaultLog, Landing, open_output
from ai_chargeback.generator.traffic import ORPHAN, SPANS, DayTraffic

SOURCE = "gateway_spans"
SCOPES: tuple[tuple[str, str], ...] = (
    ("ai-gateway", GATEWAY_VERSION),
    ("opentelemetry.instrumentation.openai_v2", "2.1b0"),
    ("opentelemetry.instrumentation.openai", "0.26.4"),
    ("opentelemetry.instrumentation.anthropic", "0.26.4"),
)
GATEWAY_SCOPE, CONTRIB_SCOPE, LEGACY_OPENAI_SCOPE, LEGACY_ANTHROPIC_SCOPE = range(4)
_SCOPE_JSON = [orjson.dumps({"name": name, "version": version}) for name, version in SCOPES]
_INSTANCES = ("ai-gateway-7d9f8-0", "ai-gateway-7d9f8-1", "ai-gateway-7d9f8-2")


def _s(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _i(key: str, value: int | str) -> dict[str, Any]:
    return {"key": key, "value": {"intValue": str(value)}}


def _b(key: str, value: bool) -> dict[str, Any]:
    return {"key": key, "value": {"boolValue": value}}


def _a(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": value}]}}}


def _resource_json(instance: str) -> bytes:
    return orjson.dumps(
        {
            "attributes": [
                _s("service.name", "ai-gateway"),
                _s("service.version", GATEWAY_VERSION),
                _s("service.instance.id", instance),
                _s("deployment.environment.name", "prod"),
                _s("telemetry.sdk.name", "opentelemetry"),
                _s("telemetry.sdk.language", "python"),
                _s("telemetry.sdk.version", "1.38.0"),
            ]
        }
    )


_RESOURCES = [_resource_json(instance) for instance in _INSTANCES]


_OP_CHAT = _s("gen_ai.operation.name", "chat")
_METHOD = _s("http.request.method", "POST")
_PATH = _s("url.path", "/v1/chat/completions")
_STATUS_OK = {"code": 1}


def _messages(role: str, text: str) -> str:
    return orjson.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}]).decode()


def error_type(provider: str, status: int, stringified: bool) -> str:
    """The error.type the gateway records for a failed upstream call."""
    plain, klass = ERROR_TYPES[(provider, status)]
    return klass if stringified else plain


@dataclass
class _Line:
    spans: list[tuple[int, bytes]]
    faults: list[tuple[str, str, str, str]]  # (fault_type, outcome, record_ref, detail)


class _SpanSink:
    """Writes lines into files of at most MAX_SPANS_PER_FILE spans; tracks file and line."""

    def __init__(
        self, landing: Landing, faults: FaultLog, day: DayTraffic, rng: np.random.Generator
    ) -> None:
        self.landing = landing
        self.faults = faults
        self.day = day
        self.rng = rng
        self.suffix = ".jsonl.zst" if day.day_index % ZSTD_DAY_EVERY == 1 else ".jsonl.gz"
        self.file_no = 0
        self.spans_in_file = 0
        self.line_no = 0
        self.handle: BinaryIO | None = None
        self._context: Any = None
        self.rel = ""
        self.pending: list[bytes] = []

    def _rotate(self) -> None:
        self.close()
        self.file_no += 1
        path = self.landing.path(SOURCE, self.day.day, f"spans-{self.file_no:04d}{self.suffix}")
        self._context = open_output(path)
        self.handle = self._context.__enter__()
        self.rel = self.landing.relative(path)
        self.spans_in_file = 0
        self.line_no = 0
        self.faults.written(SOURCE, 0, files=1)

    def _reserve(self, n_spans: int) -> None:
        if self.handle is None or self.spans_in_file + n_spans > MAX_SPANS_PER_FILE:
            self._rotate()
        self.spans_in_file += n_spans
        self.line_no += 1

    def write_line(self, line: _Line) -> None:
        self._reserve(len(line.spans))
        by_scope: dict[int, list[bytes]] = {}
        for scope, payload in line.spans:
            by_scope.setdefault(scope, []).append(payload)
        scope_spans = b",".join(
            b'{"scope":' + _SCOPE_JSON[scope] + b',"spans":[' + b",".join(spans) + b"]}"
            for scope, spans in by_scope.items()
        )
        resource = _RESOURCES[int(self.rng.integers(0, len(_RESOURCES)))]
        self._emit(
            b'{"resourceSpans":[{"resource":'
            + resource
            + b',"scopeSpans":['
            + scope_spans
            + b"]}]}\n"
        )
        self.faults.written(SOURCE, len(line.spans))
        for fault_type, outcome, ref, detail in line.faults:
            self.faults.fault(SOURCE, self.rel, self.line_no, fault_type, outcome, ref, detail)

    def write_truncated(self, payload: bytes, ref: str) -> None:
        """A single-span line cut short (a crashed exporter): one quarantined record."""
        self._reserve(1)
        resource = _RESOURCES[0]
        line = (
            b'{"resourceSpans":[{"resource":'
            + resource
            + b',"scopeSpans":[{"scope":'
            + _SCOPE_JSON[GATEWAY_SCOPE]
            + b',"spans":['
            + payload
            + b"]}]}]}"
        )
        self._emit(line[: int(len(line) * 0.6)] + b"\n")
        self.faults.written(SOURCE, 1)
        self.faults.fault(
            SOURCE,
            self.rel,
            self.line_no,
            "malformed_json",
            QUARANTINE,
            ref,
            "truncated OTLP JSON line (one span)",
        )

    def _emit(self, data: bytes) -> None:
        self.pending.append(data)
        if len(self.pending) >= 256:
            self._flush()

    def _flush(self) -> None:
        if self.pending and self.handle is not None:
            self.handle.write(b"".join(self.pending))
        self.pending = []

    def close(self) -> None:
        self._flush()
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None
            self.handle = None


class SpanWriter:
    """Writes one day of gateway spans with the seeded span faults."""

    def __init__(
        self, landing: Landing, faults: FaultLog, directory: Directory, fault_rates: FaultRates
    ) -> None:
        self.landing = landing
        self.faults = faults
        self.directory = directory
        self.rates = fault_rates

    def write_day(self, day: DayTraffic, rng: np.random.Generator) -> None:
        """Serialise every SERVER/CLIENT span of the day plus the seeded faults."""
        kind = day.kind
        servers = np.flatnonzero((kind == SPANS) | (kind == ORPHAN))
        on_spans = (kind[day.a_req] == SPANS) | (kind[day.a_req] == ORPHAN)
        clients = np.flatnonzero(on_spans)
        ends = np.concatenate([day.end_ns[servers], day.a_end[clients]])
        refs = np.concatenate([-1 - servers, clients])  # <0: server span of request -1-x
        order = np.argsort(ends, kind="stable")
        refs = refs[order].tolist()
        total = len(refs)
        n_requests = len(servers)

        builder = _SpanBuilder(self.directory, day)
        rates = self.rates
        extras: list[tuple[int, int, str, object]] = []  # (position, seq, kind, payload)

        def count(rate: float, minimum: int) -> int:
            return max(minimum, int(rng.binomial(n_requests, rate)))

        seq = 0
        for fault_type, rate, minimum in (
            ("malformed_json", rates.malformed_span_lines, rates.min_per_day),
            ("missing_required_attributes", rates.missing_attribute_spans, rates.min_per_day),
            ("bad_token_count", rates.bad_token_count_spans, 2 * rates.min_per_day),
        ):
            for k in range(count(rate, minimum)):
                position = int(rng.integers(0, total + 1))
                variant = "negative" if k % 2 == 0 else "non_numeric"
                extras.append((position, seq, fault_type, variant))
                seq += 1
        for _ in range(count(rates.duplicate_spans, rates.min_per_day)):
            original = int(rng.integers(0, max(1, total - 1)))
            position = min(total, original + MAX_SPANS_PER_LINE + int(rng.integers(0, 400)))
            extras.append((position, seq, "duplicate_span", original))
            seq += 1
        extras.sort(key=lambda e: (e[0], e[1]))
        duplicate_sources = {e[3] for e in extras if e[2] == "duplicate_span"}

        sink = _SpanSink(self.landing, self.faults, day, rng)
        n_sizes = total // MIN_SPANS_PER_LINE + len(extras) + 8
        sizes = rng.integers(MIN_SPANS_PER_LINE, MAX_SPANS_PER_LINE + 1, n_sizes)
        size_index = 0
        line = _Line([], [])
        line_first = 0  # stream position of the first real span in the current line
        kept: dict[int, tuple[int, bytes, str]] = {}
        e = 0

        def flush() -> None:
            nonlocal line, size_index
            if line.spans:
                sink.write_line(line)
                line = _Line([], [])
                size_index += 1

        for position in range(total + 1):
            while e < len(extras) and extras[e][0] == position:
                _, _, fault_type, payload = extras[e]
                e += 1
                if fault_type == "duplicate_span":
                    original = int(payload)  # type: ignore[call-overload]
                    scope, data, ref = kept[original]
                    if original >= line_first:
                        flush()
                    line.spans.append((scope, data))
                    line.faults.append(
                        ("duplicate_span", QUARANTINE, ref, "byte-identical re-export")
                    )
                else:
                    scope, data, ref, detail = builder.fault_span(fault_type, str(payload), rng)
                    if fault_type == "malformed_json":
                        flush()
                        sink.write_truncated(data, ref)
                        continue
                    line.spans.append((scope, data))
                    line.faults.append((fault_type, QUARANTINE, ref, detail))
                if len(line.spans) >= sizes[size_index % len(sizes)]:
                    flush()
            if position == total:
                break
            if not line.spans:
                line_first = position
            ref_index = refs[position]
            if ref_index < 0:
                scope, data, ref, note = builder.server(-1 - ref_index)
            else:
                scope, data, ref, note = builder.client(ref_index)
            if position in duplicate_sources:
                kept[position] = (scope, data, ref)
            line.spans.append((scope, data))
            if note is not None:
                line.faults.append((note[0], LOADED, ref, note[1]))
            if len(line.spans) >= sizes[size_index % len(sizes)]:
                flush()
        flush()
        sink.close()


class _SpanBuilder:
    """Builds the JSON of single spans from the day's arrays (lists for fast indexing)."""

    def __init__(self, directory: Directory, day: DayTraffic) -> None:
        self.d = directory
        self.day = day
        self.keys = directory.keys
        self.trace = [
            f"{hi:016x}{lo:016x}"
            for hi, lo in zip(day.trace_hi.tolist(), day.trace_lo.tolist(), strict=True)
        ]
        self.server_span = [f"{s:016x}" for s in day.server_span.tolist()]
        self.kind = day.kind.tolist()
        self.tenant = day.tenant.tolist()
        self.workload = day.workload.tolist()
        self.start = day.start_ns.tolist()
        self.end = day.end_ns.tolist()
        self.status = day.status.tolist()
        self.ok = day.ok.tolist()
        self.stream = day.stream.tolist()
        self.batch = day.batch.tolist()
        self.header = day.tenant_header.tolist()
        self.content = day.content.tolist()
        self.gateway_key = day.gateway_key.tolist()
        self.att_first = day.att_first.tolist()
        self.att_count = day.att_count.tolist()
        self.a_req = day.a_req.tolist()
        self.a_no = day.a_no.tolist()
        self.a_model = day.a_model.tolist()
        self.a_provider = day.a_provider.tolist()
        self.a_snapshot = day.a_snapshot.tolist()
        self.a_decision = day.a_decision.tolist()
        self.a_status = day.a_status.tolist()
        self.a_ok = day.a_ok.tolist()
        self.a_key = day.a_key.tolist()
        self.a_start = day.a_start.tolist()
        self.a_end = day.a_end.tolist()
        self.a_span = [f"{s:016x}" for s in day.a_span.tolist()]
        self.a_dialect = day.a_dialect.tolist()
        self.a_estimated = day.a_estimated.tolist()
        self.a_content = day.a_content.tolist()
        self.a_stringified = day.a_error_stringified.tolist()
        self.a_gw_input = day.a_gw_input.tolist()
        self.a_gw_output = day.a_gw_output.tolist()
        self.a_gw_cache_read = day.a_gw_cache_read.tolist()
        self.a_gw_cache_write = day.a_gw_cache_write.tolist()
        self.a_gw_reasoning = day.a_gw_reasoning.tolist()
        self.a_response_id = day.a_response_id
        self.requested = [
            MODELS[MODEL_KEY_INDEX[ref.spec.model]].request_name for ref in directory.workloads
        ]
        self.prompts = [
            _messages(
                "user",
                f"{CONTENT_CANARY} [{ref.spec.workload}] "
                f"customer jane.doe@example.com asks about order 4417",
            )
            for ref in directory.workloads
        ]
        self.answer = _messages("assistant", f"{CONTENT_CANARY} Here is the answer you asked for.")

    def _error(self, j: int) -> str:
        return error_type(PROVIDERS[self.a_provider[j]], self.a_status[j], self.a_stringified[j])

    def server(self, i: int) -> tuple[int, bytes, str, tuple[str, str] | None]:
        wl = self.workload[i]
        spec = self.d.workloads[wl].spec
        last = self.att_first[i] + self.att_count[i] - 1
        ok = self.ok[i]
        provider = PROVIDERS[self.a_provider[last]]
        attrs = [_OP_CHAT, _s("gen_ai.request.model", self.requested[wl])]
        if ok:
            model = MODELS[self.a_model[last]]
            attrs.append(_s("gen_ai.response.model", model.snapshots[self.a_snapshot[last]]))
        attrs.append(_s("gen_ai.provider.name", provider))
        if self.kind[i] == SPANS:
            attrs.append(_a("http.request.header.x-request-id", self.day.app_ids[i]))
        if self.header[i]:
            attrs.append(_a("http.request.header.x-tenant-id", self.d.tenant_id(self.tenant[i])))
        attrs += [
            _s("gateway.route", spec.route),
            _s("gateway.api_key.id", self.keys[self.gateway_key[i]].api_key_id),
            _METHOD,
            _PATH,
            _i("http.response.status_code", self.status[i]),
        ]
        status: dict[str, Any] = _STATUS_OK
        if ok:
            attrs.append(_i("gen_ai.usage.input_tokens", self.a_gw_input[last]))
            attrs.append(_i("gen_ai.usage.output_tokens", self.a_gw_output[last]))
        else:
            error = self._error(last)
            attrs.append(_s("error.type", error))
            status = {"code": 2, "message": f"all {self.att_count[i]} upstream attempts failed"}
        attrs.append(_b("gateway.request.stream", self.stream[i]))
        attrs.append(_b("gateway.request.batch", self.batch[i]))
        if self.content[i]:
            attrs.append(_s("gen_ai.input.messages", self.prompts[wl]))
            if ok:
                attrs.append(_s("gen_ai.output.messages", self.answer))
        span = {
            "traceId": self.trace[i],
            "spanId": self.server_span[i],
            "parentSpanId": "",
            "name": f"chat {self.requested[wl]}",
            "kind": 2,
            "startTimeUnixNano": str(self.start[i]),
            "endTimeUnixNano": str(self.end[i]),
            "attributes": attrs,
            "status": status,
        }
        note = None
        if self.kind[i] == ORPHAN:
            key = self.keys[self.gateway_key[i]]
            owner = f"tenant {key.tenant_id}" if key.tenant_id else "the shared platform key"
            note = ("orphan_gateway_request", f"no x-request-id; {key.api_key_id} is {owner}")
        return GATEWAY_SCOPE, orjson.dumps(span), self.server_span[i], note

    def client(self, j: int) -> tuple[int, bytes, str, tuple[str, str] | None]:
        r = self.a_req[j]
        model = MODELS[self.a_model[j]]
        provider = model.provider
        dialect = self.a_dialect[j]
        ok = self.a_ok[j]
        attrs = [
            _OP_CHAT,
            _s("gen_ai.system" if dialect == LEGACY else "gen_ai.provider.name", provider),
            _s("gen_ai.request.model", model.request_name),
            _s("server.address", SERVER_ADDRESS[provider]),
        ]
        status: dict[str, Any] = _STATUS_OK
        if ok:
            attrs.append(_s("gen_ai.response.model", model.snapshots[self.a_snapshot[j]]))
            attrs.append(_s("gen_ai.response.id", self.a_response_id[j]))
            gi, go = self.a_gw_input[j], self.a_gw_output[j]
            cache_read = self.a_gw_cache_read[j]
            if dialect == LEGACY:
                attrs += [
                    _i("gen_ai.usage.prompt_tokens", gi),
                    _i("gen_ai.usage.completion_tokens", go),
                    _i("llm.usage.total_tokens", gi + go),
                ]
                if cache_read >= 0:
                    attrs.append(_i("gen_ai.usage.cache_read_input_tokens", cache_read))
            else:
                attrs += [_i("gen_ai.usage.input_tokens", gi), _i("gen_ai.usage.output_tokens", go)]
                if cache_read >= 0:
                    attrs.append(_i("gen_ai.usage.cache_read.input_tokens", cache_read))
                if self.a_gw_cache_write[j] >= 0:
                    attrs.append(
                        _i("gen_ai.usage.cache_creation.input_tokens", self.a_gw_cache_write[j])
                    )
                if self.a_gw_reasoning[j] >= 0:
                    attrs.append(_i("gen_ai.usage.reasoning.output_tokens", self.a_gw_reasoning[j]))
            if provider == "openai":
                key = (
                    "openai.response.service_tier"
                    if dialect == CURRENT
                    else ("gen_ai.openai.response.service_tier")
                )
                attrs.append(_s(key, "default"))
            attrs.append(_i("http.response.status_code", 200))
            attrs.append(_b("gateway.usage.estimated", self.a_estimated[j]))
        else:
            error = self._error(j)
            attrs.append(_i("http.response.status_code", self.a_status[j]))
            attrs.append(_s("error.type", error))
            status = {"code": 2, "message": f"upstream returned {self.a_status[j]}"}
        decision = self.a_decision[j]
        key_version = self.keys[self.a_key[j]]
        attrs += [
            _i("gateway.attempt", self.a_no[j]),
            _s("gateway.routing.decision", ROUTING_DECISIONS[decision]),
            _s("gateway.routing.reason", self._reason(j, decision)),
            _s("gateway.provider_key.id", key_version.api_key_id),
            _s("gateway.provider_project.id", key_version.project_id),
            _b("gateway.request.batch", self.batch[r]),
        ]
        if self.a_content[j]:
            attrs.append(_s("gen_ai.input.messages", self.prompts[self.workload[r]]))
            if ok:
                attrs.append(_s("gen_ai.output.messages", self.answer))
        span = {
            "traceId": self.trace[r],
            "spanId": self.a_span[j],
            "parentSpanId": self.server_span[r],
            "name": f"chat {model.request_name}",
            "kind": 3,
            "startTimeUnixNano": str(self.a_start[j]),
            "endTimeUnixNano": str(self.a_end[j]),
            "attributes": attrs,
            "status": status,
        }
        note = None
        if model.price_ref is None:
            note = ("unknown_model", f"{model.request_name} is not in genai-prices: unpriced")
        return _scope_of(dialect, provider), orjson.dumps(span), self.a_span[j], note

    def _reason(self, j: int, decision: int) -> str:
        model = MODELS[self.a_model[j]]
        if decision == RETRY:
            return f"retry after {self.a_status[j - 1]} from upstream"
        if decision == FALLBACK:
            previous = MODELS[self.a_model[j - 1]].request_name
            return f"fallback after {self.a_status[j - 1]} from {previous}"
        if decision == LATENCY:
            return f"lowest p50 latency over the last 5 minutes: {model.request_name}"
        if decision == POLICY:
            if model.key == UNKNOWN_MODEL_KEY:
                return "policy canary: self-hosted fine-tune"
            spec = self.d.workloads[self.workload[self.a_req[j]]].spec
            return f"policy long_context: prompt over {spec.policy_threshold} tokens"
        if decision == LOAD_BALANCE:
            return "weighted round-robin across provider keys"
        return "route default target"

    def fault_span(
        self, fault_type: str, variant: str, rng: np.random.Generator
    ) -> tuple[int, bytes, str, str]:
        """A standalone CLIENT span of a trace with no SERVER span (belongs to no request)."""
        raw = rng.bit_generator.random_raw(4).tolist()
        trace = f"{raw[0]:016x}{raw[1]:016x}"
        span_id = f"{raw[2]:016x}"
        start = self.day.day_start_ns + int(rng.integers(0, 86_000)) * NS
        attrs = [
            _OP_CHAT,
            _s("gen_ai.provider.name", "openai"),
            _s("gen_ai.request.model", "gpt-4o-mini"),
            _s("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
            _s("gen_ai.response.id", f"chatcmpl-fault{raw[3]:016x}"),
            _i("gen_ai.usage.input_tokens", 812),
            _i("gen_ai.usage.output_tokens", 57),
            _i("http.response.status_code", 200),
            _i("gateway.attempt", 1),
            _s("gateway.routing.decision", "primary"),
        ]
        detail = "truncated line"
        if fault_type == "missing_required_attributes":
            attrs = [
                a for a in attrs if a["key"] not in ("gen_ai.provider.name", "gen_ai.request.model")
            ]
            detail = "CLIENT span without gen_ai.request.model and without a provider attribute"
        elif fault_type == "bad_token_count":
            if variant == "negative":
                attrs[5] = _i("gen_ai.usage.input_tokens", "-12")
                detail = 'gen_ai.usage.input_tokens intValue "-12"'
            else:
                attrs[6] = _i("gen_ai.usage.output_tokens", "12k")
                detail = 'gen_ai.usage.output_tokens intValue "12k"'
        span = {
            "traceId": trace,
            "spanId": span_id,
            "parentSpanId": f"{raw[3]:016x}",
            "name": "chat gpt-4o-mini",
            "kind": 3,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 700_000_000),
            "attributes": attrs,
            "status": _STATUS_OK,
        }
        return GATEWAY_SCOPE, orjson.dumps(span), span_id, detail


MODEL_KEY_INDEX: dict[str, int] = {m.key: i for i, m in enumerate(MODELS)}


def _scope_of(dialect: int, provider: str) -> int:
    if dialect == CONTRIB:
        return CONTRIB_SCOPE
    if dialect == LEGACY:
        return LEGACY_ANTHROPIC_SCOPE if provider == "anthropic" else LEGACY_OPENAI_SCOPE
    return GATEWAY_SCOPE
