"""gRPC channels between the services, all opened one way.

Every client of a service (the gateway, ingest, the simulator) opens its
channels with open_channel(), which gives each channel:

- client-side load balancing: `round_robin` over every address the
  target resolves to, so `dns:///xobito-metrics:50052` (a headless
  Kubernetes Service) spreads calls over every replica, skipping one
  whose health service says NOT_SERVING;
- retries with backoff, by gRPC's service config, of the methods listed
  in IDEMPOTENT only, and only when a call answers UNAVAILABLE;
- a deadline on every unary call, never later than the deadline of the
  call being served (see xobito.grpcserver), so a caller's budget is
  passed down;
- with `wait_for_ready`, calls that wait, within their deadline, for a
  service that is restarting or reconnecting instead of failing at once
  (the gateway's, whose users would rather wait a second than retry;
  ingest answers Meta 503 at once instead, and Meta retries);
- message size limits, tracing (the trace context travels in the call's
  metadata) and a latency histogram per method;
- TLS when settings name a CA: the server is verified against it, and
  the client presents its own certificate for mutual TLS.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from opentelemetry import metrics
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from xobito.settings import Settings

# Methods that leave the same state however often they are called, whose
# calls gRPC may send again when a replica answers UNAVAILABLE. Anything
# that creates, queues, flags or erases is left out: a lost answer would
# otherwise become a second campaign, flag or retry.
IDEMPOTENT: Mapping[str, tuple[str, ...]] = {
    "xobito.metrics.v1.MetricsService": (
        # A status or message recorded twice is recognised as a duplicate.
        "RecordEvents",
        "ResolveRoutes",
        "GetCampaign",
        "ListCampaigns",
        "ListRecipients",
        "ListFailureReasons",
        "ListCampaignWarnings",
        "GetBusinessNumber",
        "GetCampaignCost",
        "ListUnmatchedStatuses",
        "GetCampaignSeries",
        "ListRetryCandidates",
        "ListContactSends",
        "WatchCounters",
        "WatchRecipients",
    ),
    "xobito.contacts.v1.ContactsService": (
        "RecordEvents",
        # Recorded once per recipient attempt, however often told.
        "RecordSendRejections",
        "FilterSendable",
        "GetContact",
        "GetContacts",
        "ListHistory",
        "ListFlagHistory",
        "GetKeywords",
    ),
    "xobito.ingest.v1.IngestService": ("ListUnroutableEvents",),
    "grpc.health.v1.Health": ("Check",),
}

RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}

# Reconnect within seconds once a restarted service is back, rather than
# after gRPC's default backoff of up to two minutes.
_RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "grpc_deadline", default=None
)

_meter = metrics.get_meter(__name__)
_latency = _meter.create_histogram(
    "rpc.client.duration",
    unit="ms",
    description="Duration of outgoing gRPC calls, retries included.",
)


def service_config() -> str:
    """The JSON service config of every channel: balancing and retries."""
    names = [
        {"service": service, "method": method}
        for service, methods in IDEMPOTENT.items()
        for method in methods
    ]
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "healthCheckConfig": {"serviceName": ""},
            "methodConfig": [{"name": names, "retryPolicy": RETRY_POLICY}],
            # Retries stop while more than half of recent calls failed.
            "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
        }
    )


@dataclass(frozen=True)
class ChannelSettings:
    """What every channel of a process shares, read from Settings."""

    timeout_s: float = 10.0
    max_message_bytes: int = 32 * 1024 * 1024
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    wait_for_ready: bool = False

    @classmethod
    def of(cls, settings: Settings, *, wait_for_ready: bool = False) -> ChannelSettings:
        return cls(
            timeout_s=settings.grpc_timeout_s,
            max_message_bytes=settings.grpc_max_message_bytes,
            tls_ca=settings.grpc_tls_ca,
            tls_cert=settings.grpc_tls_cert,
            tls_key=settings.grpc_tls_key,
            wait_for_ready=wait_for_ready,
        )


def open_channel(target: str, config: ChannelSettings) -> grpc.aio.Channel:
    """A channel to target; it connects on its first call.

    A bare `host:port` is resolved by DNS like `dns:///host:port`.
    """
    options: list[tuple[str, Any]] = [
        ("grpc.service_config", service_config()),
        ("grpc.enable_retries", 1),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.max_receive_message_length", config.max_message_bytes),
        *_RECONNECT_OPTIONS,
    ]
    interceptors: list[Any] = [
        _UnaryDeadline(config.timeout_s, config.wait_for_ready),
        _StreamDeadline(config.wait_for_ready),
        _Latency(),
        # Injects the trace context into each call's metadata.
        *aio_client_interceptors(),  # type: ignore[no-untyped-call]
    ]
    if not config.tls_ca:
        return grpc.aio.insecure_channel(
            target, options=options, interceptors=interceptors
        )
    return grpc.aio.secure_channel(
        target, _credentials(config), options=options, interceptors=interceptors
    )


def _credentials(config: ChannelSettings) -> grpc.ChannelCredentials:
    key = Path(config.tls_key).read_bytes() if config.tls_key else None
    cert = Path(config.tls_cert).read_bytes() if config.tls_cert else None
    return grpc.ssl_channel_credentials(
        root_certificates=Path(config.tls_ca).read_bytes(),
        private_key=key,
        certificate_chain=cert,
    )


def serve_within(time_remaining: float | None) -> None:
    """Let calls made from here on end no later than the call being served.

    xobito.grpcserver calls it with the served call's time_remaining().
    gRPC serves each call in a task of its own, whose context this sets.
    """
    deadline = None if time_remaining is None else time.monotonic() + time_remaining
    _deadline.set(deadline)


def _timeout(asked: float | None) -> float | None:
    """asked, shortened to what is left of the served call's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return asked
    left = max(deadline - time.monotonic(), 0.001)
    return left if asked is None else min(asked, left)


def _with_timeout(details: Any, timeout: float | None, wait_for_ready: bool) -> Any:
    return grpc.aio.ClientCallDetails(
        details.method,
        timeout,
        details.metadata,
        details.credentials,
        wait_for_ready if details.wait_for_ready is None else details.wait_for_ready,
    )


class _UnaryDeadline(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Every unary call gets a deadline, never later than the served one."""

    def __init__(self, timeout_s: float, wait_for_ready: bool) -> None:
        self._timeout_s = timeout_s
        self._wait_for_ready = wait_for_ready

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        asked = self._timeout_s if details.timeout is None else details.timeout
        details = _with_timeout(details, _timeout(asked), self._wait_for_ready)
        return await continuation(details, request)


class _StreamDeadline(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    """A stream lives as long as its reader wants, or the served call."""

    def __init__(self, wait_for_ready: bool) -> None:
        self._wait_for_ready = wait_for_ready

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        timeout = _timeout(details.timeout)
        details = _with_timeout(details, timeout, self._wait_for_ready)
        return await continuation(details, request)


class _Latency(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Records how long each unary call took, and how it ended."""

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        started = time.perf_counter()
        call = await continuation(details, request)
        code = await call.code()
        _latency.record(
            (time.perf_counter() - started) * 1000,
            {**method_attributes(details.method), "rpc.grpc.status_code": code.name},
        )
        return call


def method_attributes(method: str | bytes) -> dict[str, str]:
    """rpc.service and rpc.method of a full method name, for metrics."""
    if isinstance(method, bytes):
        method = method.decode()
    service, _, name = method.lstrip("/").partition("/")
    return {"rpc.service": service, "rpc.method": name}
