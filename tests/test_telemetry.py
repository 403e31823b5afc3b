"""Traces, metrics and log correlation, seen from outside the processes.

The services run as their own processes (tests.stack), each told by the
standard OTEL_* variables to export to an OTLP collector this module
serves, which keeps what it receives in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import httpx
import pytest
import redis
from opentelemetry import trace
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from gateway import live
from tests.sender import CASES, case_sends, start_campaign
from tests.stack import Servers, Stack, reset_data
from xobito import telemetry
from xobito.devstack import free_port

T = TypeVar("T")

WEBHOOK_SPAN = "POST /webhooks/whatsapp"
SERVER, CLIENT = 2, 3  # span kinds in OTLP


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


def _values(attributes: Any) -> dict[str, Any]:
    values = {}
    for attribute in attributes:
        assert isinstance(attribute, KeyValue)
        kind = attribute.value.WhichOneof("value")
        values[attribute.key] = getattr(attribute.value, kind) if kind else None
    return values


class Collector(
    trace_service_pb2_grpc.TraceServiceServicer,
    metrics_service_pb2_grpc.MetricsServiceServicer,
):
    """An OTLP/gRPC collector that keeps spans and metric names in memory."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        # (service, metric name) -> the attributes and value of each point
        self.points: dict[tuple[str, str], list[tuple[dict[str, Any], float]]] = {}
        self._lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            self._keep_spans(request)
            return trace_service_pb2.ExportTraceServiceResponse()
        self._keep_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def _keep_spans(self, request: Any) -> None:
        with self._lock:
            for batch in request.resource_spans:
                service = _values(batch.resource.attributes)["service.name"]
                for scope in batch.scope_spans:
                    self.spans += [
                        Span(
                            service,
                            span.name,
                            span.kind,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            _values(span.attributes),
                        )
                        for span in scope.spans
                    ]

    def _keep_metrics(self, request: Any) -> None:
        with self._lock:
            for batch in request.resource_metrics:
                service = _values(batch.resource.attributes)["service.name"]
                for scope in batch.scope_metrics:
                    for metric in scope.metrics:
                        data = getattr(metric, metric.WhichOneof("data"))
                        points = self.points.setdefault((service, metric.name), [])
                        for point in data.data_points:
                            value = getattr(point, "as_int", 0) or getattr(
                                point, "as_double", 0
                            )
                            points.append((_values(point.attributes), value))

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def named(self, service: str, name: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if (s.service, s.name) == (service, name)]


def eventually(check: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come within {timeout} s")


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, str]]:
    kept = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(kept, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(kept, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield kept, f"http://127.0.0.1:{port}"
    finally:
        server.stop(None)


@pytest.fixture(scope="module")
def traced(
    servers: Servers, collector: tuple[Collector, str], api_key: str
) -> Iterator[Stack]:
    """ingest, metrics and contacts exporting to the collector."""
    _, endpoint = collector
    started = Stack(
        servers,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "METRICS_PROMETHEUS_PORT": str(free_port()),
            "CONTACTS_PROMETHEUS_PORT": str(free_port()),
        },
    )
    try:
        started.start("metrics", "contacts", "ingest")
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def delivery(traced: Stack, servers: Servers) -> str:
    """A campaign's send, then Meta's webhook saying it was delivered."""
    reset_data(servers)
    case = CASES["status_delivered_basic"]
    campaign_id = start_campaign(traced, *case_sends(case))

    reply = traced.post_webhook(case.posts()[0])

    assert reply.status_code == 200, reply.text
    return campaign_id


def webhook_trace(collector: Collector) -> str:
    (webhook,) = eventually(
        lambda: collector.named("xobito-ingest", WEBHOOK_SPAN), "the webhook span"
    )
    return webhook.trace_id


def test_one_webhook_makes_one_trace_across_ingest_metrics_and_contacts(
    collector: tuple[Collector, str], delivery: str
) -> None:
    kept, _ = collector
    trace_id = webhook_trace(kept)
    record_events = {
        "xobito-metrics": "/xobito.metrics.v1.MetricsService/RecordEvents",
        "xobito-contacts": "/xobito.contacts.v1.ContactsService/RecordEvents",
    }

    def whole_trace() -> list[Span] | None:
        spans = kept.trace(trace_id)
        served = {(s.service, s.name) for s in spans if s.kind == SERVER}
        stores = {s.attributes.get("db.system") for s in spans}
        whole = (
            set(record_events.items()) <= served
            and {
                "postgresql",
                "redis",
            }
            <= stores
        )
        return spans if whole else None

    spans = eventually(whole_trace, "every span of the webhook's trace")

    ids = {span.span_id for span in spans}
    (root,) = [span for span in spans if not span.parent_id]
    assert (root.service, root.name) == ("xobito-ingest", WEBHOOK_SPAN)
    assert all(span.parent_id in ids for span in spans if span is not root)
    assert {span.service for span in spans} == {
        "xobito-ingest",
        "xobito-metrics",
        "xobito-contacts",
    }
    for service, method in record_events.items():
        (served,) = [s for s in spans if (s.service, s.name) == (service, method)]
        (calling,) = [s for s in spans if s.span_id == served.parent_id]
        assert (calling.service, calling.kind) == ("xobito-ingest", CLIENT)
    stored = [s for s in spans if s.attributes.get("db.system") == "postgresql"]
    assert {s.service for s in stored} >= {"xobito-metrics", "xobito-contacts"}


def test_log_lines_carry_the_trace_id_of_their_request(
    traced: Stack, collector: tuple[Collector, str], delivery: str
) -> None:
    kept, _ = collector
    trace_id = webhook_trace(kept)

    def lines(service: str, event: str) -> list[dict[str, Any]]:
        # Every stack of the session appends to the same log files.
        text = traced.log_path(service).read_text()
        found = [json.loads(line) for line in text.splitlines() if line[:1] == "{"]
        return [
            line
            for line in found
            if line.get("trace_id") == trace_id and line["event"] == event
        ]

    (webhook,) = lines("ingest", "webhook")
    (recorded,) = [
        line
        for line in lines("metrics", "rpc")
        if line["method"].endswith("/RecordEvents")
    ]
    assert webhook["http_status"] == 200
    assert len(webhook["span_id"]) == 16
    assert recorded["span_id"] != webhook["span_id"]


def test_each_process_answers_a_prometheus_scrape(traced: Stack, delivery: str) -> None:
    ingest = httpx.get(f"{traced.ingest_url}/metrics").text
    metrics = httpx.get(
        f"http://127.0.0.1:{traced.env['METRICS_PROMETHEUS_PORT']}/metrics"
    ).text
    contacts = httpx.get(
        f"http://127.0.0.1:{traced.env['CONTACTS_PROMETHEUS_PORT']}/metrics"
    ).text

    assert _sample(ingest, "xobito_ingest_events_total", kind="status") == 1
    assert 'outcome="recorded"' in _line(ingest, "xobito_ingest_events_total")
    assert _sample(ingest, "xobito_ingest_batch_size_count") == 1
    assert _sample(
        ingest,
        "http_server_request_duration_seconds_count",
        http_request_method="POST",
        http_route="/webhooks/whatsapp",
        http_response_status_code="200",
    )
    assert _sample(
        metrics, "rpc_server_duration_milliseconds_count", rpc_method="RecordEvents"
    )
    assert _line(metrics, "xobito_statuses_parked")
    assert _sample(
        contacts, "rpc_server_duration_milliseconds_count", rpc_method="RecordEvents"
    )


def test_metrics_are_pushed_over_otlp_when_an_endpoint_is_set(
    collector: tuple[Collector, str], delivery: str
) -> None:
    kept, _ = collector

    points = eventually(
        lambda: kept.points.get(("xobito-ingest", "xobito.ingest.events")),
        "the ingest's event counter",
    )

    assert ({"kind": "status", "outcome": "recorded"}, 1) in points


def test_reconcile_exports_the_drift_it_repaired(
    traced: Stack, servers: Servers, collector: tuple[Collector, str], delivery: str
) -> None:
    kept, endpoint = collector
    counters = f"metrics:{{{delivery}}}:counters"
    redis.Redis.from_url(servers.valkey.url).hincrby(counters, "delivered", 2)

    done = subprocess.run(
        [sys.executable, "-m", "xobito", "reconcile", delivery],
        env={
            **traced.env,
            "XOBITO_DATA_DIR": "/nonexistent",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    points = kept.points.get(("xobito-reconcile", "xobito.counters.drift"))
    assert points == [({"field": "delivered"}, 2)]


def test_a_webhook_continues_its_callers_trace_when_no_trace_is_exported(
    stack: Stack,
) -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"

    reply = stack.post_webhook(b"{}", headers={"traceparent": traceparent})

    assert reply.status_code == 400
    text = stack.log_path("ingest").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line[:1] == "{"]
    (webhook,) = [line for line in lines if line.get("trace_id") == trace_id]
    assert webhook["event"] == "webhook"
    assert len(webhook["span_id"]) == 16


def _configured_span(**env: str) -> str:
    """Whether a span of a freshly configured process records, whether it
    has ids, and whether PostgreSQL statements make spans."""
    script = (
        "from opentelemetry import trace\n"
        "from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor\n"
        "from xobito import telemetry\n"
        "telemetry.configure('test')\n"
        "span = trace.get_tracer('test').start_span('span')\n"
        "print(span.is_recording(), span.get_span_context().is_valid,\n"
        "      PsycopgInstrumentor().is_instrumented_by_opentelemetry)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_spans_record_nothing_when_no_trace_is_exported() -> None:
    assert _configured_span() == "False True False"


def test_spans_record_when_traces_are_exported_or_a_sampler_is_set() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"

    assert _configured_span(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint) == "True True True"
    assert _configured_span(OTEL_TRACES_SAMPLER="always_on") == "True True True"


def test_the_gateway_answers_a_scrape_with_graphql_latency(
    stack: Stack, api_key: str
) -> None:
    stack.graphql("{ campaigns(first: 1) { edges { node { id } } } }", api_key)

    scraped = httpx.get(f"{stack.gateway_url}/metrics").text

    assert _sample(scraped, "xobito_graphql_duration_milliseconds_count")


def test_each_counters_push_is_a_span_and_subscribers_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = InMemorySpanExporter()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    monkeypatch.setattr(live, "tracer", tracers.get_tracer("test"))
    monkeypatch.setattr(
        live, "subscriptions", meter.create_up_down_counter("subscriptions")
    )

    async def watch(key: str) -> AsyncGenerator[int, None]:
        yield 1

    def subscribers() -> int:
        data = reader.get_metrics_data()
        assert data is not None
        (metric,) = data.resource_metrics[0].scope_metrics[0].metrics
        return sum(int(point.value) for point in metric.data.data_points)

    async def main() -> tuple[int, int]:
        hub: live.Hub[str, int] = live.Hub(watch, name="campaignCounters")
        subscription = hub.subscribe("c")
        await anext(subscription)
        during = subscribers()
        await subscription.aclose()
        return during, subscribers()

    during, after = asyncio.run(main())

    (push,) = spans.get_finished_spans()
    assert push.name == "campaignCounters push"
    assert push.attributes == {"xobito.subscribers": 1}
    assert (during, after) == (1, 0)


def _line(scraped: str, name: str) -> str:
    return next((line for line in scraped.splitlines() if line.startswith(name)), "")


def _sample(scraped: str, name: str, **labels: str) -> float:
    """The sum of the samples of name whose labels include labels."""
    total = 0.0
    for line in scraped.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{key}="{wanted}"' in head for key, wanted in labels.items()):
            total += float(value)
    return total


def test_no_span_keeps_a_query_string(
    traced: Stack, collector: tuple[Collector, str]
) -> None:
    kept, _ = collector
    secret = "verify-token-in-the-query"
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": secret,
        "hub.challenge": "15551234567",
    }

    answer = httpx.get(f"{traced.ingest_url}/webhooks/whatsapp", params=query)

    assert answer.status_code == 403
    (handshake,) = eventually(
        lambda: kept.named("xobito-ingest", "GET /webhooks/whatsapp"),
        "the handshake span",
    )
    assert handshake.attributes
    for value in handshake.attributes.values():
        assert secret not in str(value)
        assert "15551234567" not in str(value)


def test_no_span_carries_the_recipients_number(
    collector: tuple[Collector, str], delivery: str
) -> None:
    kept, _ = collector
    trace_id = webhook_trace(kept)
    eventually(lambda: len(kept.trace(trace_id)) > 3, "the webhook's spans")
    digits = {
        "".join(filter(str.isdigit, send.phone))
        for send in case_sends(CASES["status_delivered_basic"])
    }
    assert digits

    with kept._lock:
        spans = list(kept.spans)
    for span in spans:
        text = json.dumps(span.attributes, default=str) + span.name
        assert not any(number in text for number in digits), span.name


def test_a_request_without_trace_headers_starts_a_trace_of_its_own() -> None:
    tracer = TracerProvider().get_tracer("test")
    caller = tracer.start_span("caller")
    scope = {"headers": [(b"content-type", b"application/json")]}

    # Even inside another span: a request is never the child of the
    # server's own context.
    with trace.use_span(caller):
        started = trace.get_current_span(telemetry._caller(scope))

    assert started is trace.INVALID_SPAN


def test_a_request_with_a_traceparent_continues_that_trace() -> None:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{span_id}-01".encode()
    scope = {"headers": [(b"traceparent", traceparent)]}

    parent = trace.get_current_span(telemetry._caller(scope)).get_span_context()

    assert (parent.trace_id, parent.span_id) == (int(trace_id, 16), int(span_id, 16))
