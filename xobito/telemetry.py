"""Traces and metrics of every process, set up from the OTEL_* variables.

Each process calls configure() once, first thing. Spans are always made,
so that every log line carries its trace id, and leave the process over
OTLP/gRPC only when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-only
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Metrics are always kept for
a Prometheus scrape (ScrapeApp, serve_scrape()) and pushed over OTLP
under the same condition. psycopg and redis are instrumented, so every
PostgreSQL statement and Redis command is a span of the trace that made
it. The service name is OTEL_SERVICE_NAME, or `xobito-<process>`; the
other standard variables (OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES,
OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, ...) are read by the SDK.

No span keeps a URL's query string: it may carry a searched phone
number or the webhook's verify token.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import prometheus_client
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_NAMESPACE, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

_configured = False


def configure(process: str) -> None:
    """Install the tracer and meter providers of this process, once."""
    global _configured
    env = os.environ
    if _configured or _true(env.get("OTEL_SDK_DISABLED", "")):
        return
    _configured = True

    name = env.get("OTEL_SERVICE_NAME") or f"xobito-{process}"
    resource = Resource.create({SERVICE_NAME: name, SERVICE_NAMESPACE: "xobito"})

    tracer_provider = TracerProvider(resource=resource)
    if _exports(env, "TRACES"):
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)

    readers: list[MetricReader] = [PrometheusMetricReader()]
    if _exports(env, "METRICS"):
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))

    PsycopgInstrumentor().instrument()
    RedisInstrumentor().instrument()


def _exports(env: Mapping[str, str], signal: str) -> bool:
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def _true(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def http_middleware() -> Middleware:
    """A span per HTTP request or WebSocket, continuing a caller's trace.

    Each span is named after the route that matched (its template, not
    the path: `/campaigns/{campaign_id}/recipients.csv`). Health checks
    and scrapes make none; a path no route knows is named by its method
    alone, as the semantic conventions ask.
    """
    return Middleware(
        _TracedWithoutQuery,
        excluded_urls="/healthz$,/metrics$",
        default_span_details=_span_details,
        exclude_spans=["receive", "send"],
    )


class _TracedWithoutQuery:
    """OpenTelemetryMiddleware shown each request without its query string.

    The app behind it gets the query string back untouched.
    """

    _KEPT = "xobito.query_string"

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self._traced = OpenTelemetryMiddleware(self._restore(app), **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("query_string"):
            scope = {**scope, "query_string": b"", self._KEPT: scope["query_string"]}
        await self._traced(scope, receive, send)

    @classmethod
    def _restore(cls, app: ASGIApp) -> ASGIApp:
        async def restored(scope: Scope, receive: Receive, send: Send) -> None:
            if cls._KEPT in scope:
                scope = {**scope, "query_string": scope[cls._KEPT]}
            await app(scope, receive, send)

        return restored


def _span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # Starlette puts itself in the scope before its middleware runs.
    routes: Sequence[BaseRoute] = getattr(scope.get("app"), "routes", ())
    template = next(
        (
            getattr(route, "path", "")
            for route in routes
            if route.matches(scope)[0] is Match.FULL
        ),
        "",
    )
    method = scope.get("method", "")
    return " ".join(part for part in (method, template) if part), {}


class ScrapeApp:
    """An ASGI app answering a Prometheus scrape, for a `/metrics` route.

    A class rather than a function, so that Starlette's Route hands it
    the raw ASGI call.
    """

    def __init__(self) -> None:
        self._app = prometheus_client.make_asgi_app()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)


def serve_scrape(host: str, port: int) -> Callable[[], None]:
    """Answer Prometheus scrapes on host:port from a thread; return its stop.

    For the processes that serve gRPC only. Port 0 serves nothing.
    """
    if not port:
        return lambda: None
    server, thread = prometheus_client.start_http_server(port, addr=host)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop
