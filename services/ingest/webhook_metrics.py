"""What ingest counts of the webhooks it answers, for Prometheus and OTLP.

- `xobito.ingest.events`: events by kind (statuses, messages, ...) and
  outcome: `recorded`, `dead_lettered` (kept for a replay after a fix),
  `retry` (answered 503: Meta sends them again) or `refused` (4xx);
- `xobito.ingest.batch.size`: events per webhook, the batch handed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace

_meter = metrics.get_meter(__name__)
_events = _meter.create_counter(
    "xobito.ingest.events",
    unit="{event}",
    description="Events received in webhooks, by kind and outcome.",
)
_batch_size = _meter.create_histogram(
    "xobito.ingest.batch.size",
    unit="{event}",
    description="Events per webhook.",
    explicit_bucket_boundaries_advisory=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
)


def outcome(http_status: int, summary: Mapping[str, Any]) -> str:
    if http_status == 200:
        return "dead_lettered" if summary.get("dead_lettered") else "recorded"
    return "retry" if http_status >= 500 else "refused"


def record(http_status: int, summary: Mapping[str, Any]) -> None:
    """Count one answered webhook, and describe it on the request's span."""
    events: Mapping[str, int] = summary.get("events", {})
    result = outcome(http_status, summary)
    for kind, count in events.items():
        _events.add(count, {"kind": kind, "outcome": result})
    total = sum(events.values())
    if events:
        _batch_size.record(total)
    trace.get_current_span().set_attributes(
        {"xobito.events": total, "xobito.outcome": result}
    )
