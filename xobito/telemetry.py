"""Traces and metrics of every process, set up from the OTEL_* variables.

Each process calls configure() once, first thing. Spans are always made,
so that every log line carries its trace id, and leave the process over
OTLP/gRPC only when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-only
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Without it, and without an
OTEL_TRACES_SAMPLER, no span is recorded: each still has its ids, for
the log lines and the calls it makes, and keeps nothing else, since no
one would read it. Metrics are always kept for a Prometheus scrape
(ScrapeApp, serve_scrape()) and pushed over OTLP under the same
condition. When spans are recorded, psycopg and redis are instrumented,
so every PostgreSQL statement and Redis command is a span of the trace
that made it. The service name is OTEL_SERVICE_NAME, or `xobito-<process>`; the
other standard variables (OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES,
OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, ...) are read by the SDK.

No span keeps a URL's query string: it may carry a searched phone
number or the webhook's verify token.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import prometheus_client
from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware, asgi_getter
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_NAMESPACE, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_configured = False
# False once configure() has chosen to record no span.
_spans_recorded = True


def configure(process: str) -> None:
    """Install the tracer and meter providers of this process, once."""
    global _configured
    env = os.environ
    if _configured or _true(env.get("OTEL_SDK_DISABLED", "")):
        return
    _configured = True

    name = env.get("OTEL_SERVICE_NAME") or f"xobito-{process}"
    resource = Resource.create({SERVICE_NAME: name, SERVICE_NAMESPACE: "xobito"})

    global _spans_recorded
    exports_traces = _exports(env, "TRACES")
    sampler = None if exports_traces or env.get("OTEL_TRACES_SAMPLER") else ALWAYS_OFF
    _spans_recorded = sampler is not ALWAYS_OFF
    tracer_provider = TracerProvider(resource=resource, sampler=sampler)
    if exports_traces:
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)

    readers: list[MetricReader] = [PrometheusMetricReader()]
    if _exports(env, "METRICS"):
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))

    if _spans_recorded:
        # A statement's span that nobody records would be work for nothing:
        # nothing is logged or called within it.
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
    alone, as the semantic conventions ask. Each HTTP request is timed
    in `http.server.request.duration`, by method, route and status.
    """
    return Middleware(_TracedHTTP)


def traced_route(app: ASGIApp, route: str) -> ASGIApp:
    """app spanned and timed as http_middleware() does a route's handler,
    for an ASGI app that answers route alone, outside Starlette."""
    return _TracedHTTP(app, route)


_UNTRACED = ("/healthz", "/metrics")
_ROUTE = "xobito.route"
_KEPT_QUERY = "xobito.query_string"

_tracer = trace.get_tracer(__name__)
_http_duration = metrics.get_meter(__name__).create_histogram(
    "http.server.request.duration",
    unit="s",
    description="Duration of HTTP requests, by method, route and status.",
    explicit_bucket_boundaries_advisory=[
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1,
        2.5,
        5,
        7.5,
        10,
    ],
)


class _TracedHTTP:
    """OpenTelemetryMiddleware for the spans, and one histogram of our own.

    The middleware's own metrics (five measurements a request, of eight
    attributes each) cost ingest a tenth of its CPU per webhook; one
    histogram of three attributes keeps what we read of them. The span
    is shown each request without its query string; the app behind gets
    it back untouched.

    When no span is recorded, the middleware is skipped too: its span
    would only lend its ids to the log lines and the calls made under
    it, and a bare span of the caller's trace does that for a tenth of
    the middleware's CPU.
    """

    def __init__(self, app: ASGIApp, route: str | None = None) -> None:
        self._app = app
        self._fixed_route = route
        self._traced = OpenTelemetryMiddleware(
            self._restore(app),
            default_span_details=_span_details,
            exclude_spans=["receive", "send"],
            meter_provider=metrics.NoOpMeterProvider(),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        route = self._fixed_route
        if route is None:
            route = _route(scope)
        if route in _UNTRACED:
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self._spanned(scope, route, receive, send)
            return

        started = time.perf_counter()
        status = 500  # what the server answers when the app raises first

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._spanned(scope, route, receive, send_status)
        finally:
            attributes = {
                "http.request.method": scope["method"],
                "http.response.status_code": status,
            }
            if route:
                attributes["http.route"] = route
            _http_duration.record(time.perf_counter() - started, attributes)

    async def _spanned(
        self, scope: Scope, route: str, receive: Receive, send: Send
    ) -> None:
        """The app behind, in a span of the request continuing its trace."""
        if not _spans_recorded:
            caller = _caller(scope)
            name = _span_name(scope, route)
            kind = trace.SpanKind.SERVER
            with _tracer.start_as_current_span(name, context=caller, kind=kind):
                await self._app(scope, receive, send)
            return

        scope = {**scope, _ROUTE: route}
        if scope.get("query_string"):
            scope = {**scope, "query_string": b"", _KEPT_QUERY: scope["query_string"]}
        await self._traced(scope, receive, send)

    @staticmethod
    def _restore(app: ASGIApp) -> ASGIApp:
        async def restored(scope: Scope, receive: Receive, send: Send) -> None:
            if _KEPT_QUERY in scope:
                scope = {**scope, "query_string": scope[_KEPT_QUERY]}
            await app(scope, receive, send)

        return restored


def _caller(scope: Scope) -> Context:
    """The context of the caller's trace; empty if the request carries none.

    Most requests carry none (Meta's never do), and looking for each
    propagator's headers one by one cost ingest 4% of its CPU.
    """
    textmap = propagate.get_global_textmap()
    fields = _propagated_headers(textmap)
    if not any(name in fields for name, _ in scope["headers"]):
        return Context()
    return propagate.extract(cast(dict[str, Any], scope), getter=asgi_getter)


@functools.cache
def _propagated_headers(textmap: TextMapPropagator) -> frozenset[bytes]:
    return frozenset(field.lower().encode("latin-1") for field in textmap.fields)


def _route(scope: Scope) -> str:
    """The template of the route scope matches, or ""."""
    # Starlette puts itself in the scope before its middleware runs.
    routes: Sequence[BaseRoute] = getattr(scope.get("app"), "routes", ())
    return next(
        (
            getattr(route, "path", "")
            for route in routes
            if route.matches(scope)[0] is Match.FULL
        ),
        "",
    )


def _span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return _span_name(scope, scope.get(_ROUTE, "")), {}


def _span_name(scope: Scope, route: str) -> str:
    return " ".join(part for part in (scope.get("method", ""), route) if part)


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
