"""What ingest counts of the webhooks it answers, for Prometheus and OTLP.

- `xobito.ingest.events`: events by kind (statuses, messages, ...) and
  outcome: `recorded`, `dead_lettered` (kept for a replay after a fix),
  `retry` (answered 503: Meta sends them again) or `refused` (4xx);
- `xobito.ingest.batch.size`: events per webhook, the batch handed on.

The events are counted in a plain dict, which the meter reads when it
collects: a counter instrument's add costs some twenty microseconds of
CPU, the dict's a fraction of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

# (kind, outcome) -> events so far
_counts: dict[tuple[str, str], int] = {}


def _observe(options: CallbackOptions) -> Iterable[Observation]:
    # A copy: the meter may collect from another thread.
    counts = _counts.copy()
    return [
        Observation(count, {"kind": kind, "outcome": outcome})
        for (kind, outcome), count in counts.items()
    ]


_meter = metrics.get_meter(__name__)
_meter.create_observable_counter(
    "xobito.ingest.events",
    callbacks=[_observe],
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
        key = (kind, result)
        _counts[key] = _counts.get(key, 0) + count
    total = sum(events.values())
    if events:
        _batch_size.record(total)
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({"xobito.events": total, "xobito.outcome": result})
