"""Small builders of landing files in their real formats, for loader tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any


def attribute(key: str, value: Any) -> dict[str, Any]:
    """One OTLP KeyValue, typed as the OTLP JSON encoding writes it."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        values = [{"stringValue": v} for v in value]
        return {"key": key, "value": {"arrayValue": {"values": values}}}
    return {"key": key, "value": {"stringValue": value}}


def span(
    trace_id: str,
    span_id: str,
    *,
    parent: str = "",
    kind: int | str = 3,
    start_ns: int = 1_762_000_000_000_000_000,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One OTLP span."""
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": "chat gpt-4o",
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 1_000_000_000),
        "attributes": [attribute(k, v) for k, v in (attributes or {}).items()],
        "status": {"code": 1},
    }


def client_attributes(**overrides: Any) -> dict[str, Any]:
    """A well-formed upstream attempt."""
    base: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gateway.attempt": 1,
        "gateway.routing.decision": "primary",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def export_line(spans: list[dict[str, Any]]) -> str:
    """One ExportTraceServiceRequest as the OTLP file exporter writes it (one JSON line)."""
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [attribute("service.name", "ai-gateway")]},
                    "scopeSpans": [
                        {"scope": {"name": "ai-gateway", "version": "1"}, "spans": spans}
                    ],
                }
            ]
        }
    )


def write_lines(path: Path, lines: list[str], *, compress: bool = False) -> Path:
    """Write text lines, gzip-compressed when asked (as the collector's file exporter does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path
