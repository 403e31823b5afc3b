"""The public HTTP endpoint Meta calls with WhatsApp webhooks.

A POST is answered 200 only once every event in it is recorded: handed
to metrics and contacts, or kept by ingest itself when it belongs to no
workspace or could not be read. Meta redelivers anything else for days,
so the answer chooses between "stop" (200), "never" (4xx: not a webhook
of ours) and "later" (503: a service or a store is down).

The webhooks in flight together share their hand-off (see batcher). A
webhook counts as in flight once its body is in and signed: a sender
without the app secret, however slow, holds no place that Meta's
webhooks need. Bodies still arriving share INGEST_RECEIVE_BUFFER_MB of
memory (see _Receiving), and a body that has not arrived within
INGEST_BODY_TIMEOUT_SECONDS is answered 408, closing its connection.
Past INGEST_MAX_IN_FLIGHT webhooks in flight, the next is answered 503:
Meta delivers it again later, and the backlog stays bounded.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import structlog
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest import keywords, signature, webhook_metrics
from services.ingest.batcher import Batcher
from services.ingest.forwarder import (
    OK,
    REJECTED,
    SKIPPED,
    UNAVAILABLE,
    CallResult,
    DownstreamError,
    Forwarder,
)
from services.ingest.parser import (
    BATCH_FIELDS,
    ParsedWebhook,
    RejectedEvent,
    WebhookFormatError,
    parse_webhook,
)
from services.ingest.routing import Router, Unroutable, route_keys, split
from services.ingest.store import DeadLetter, IngestStore
from xobito import telemetry
from xobito.ingest.v1 import events_pb2
from xobito.settings import Settings

PATH = "/webhooks/whatsapp"
MAX_BODY_BYTES = 1024 * 1024
_TRY_LATER = "not recorded; try again later"
_BUSY = "too many webhooks in flight; try again later"
_TOO_LARGE = "the body is larger than 1 MiB"
_SIGNATURE = signature.HEADER.lower().encode()
_RECORDED = orjson.dumps({"status": "recorded"})

# Failures of what ingest runs on, which pass: Meta should retry.
_INFRASTRUCTURE = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OSError,
)

log = structlog.get_logger(__name__)


class _Refusal(Exception):
    """Ends a request early with an error answer.

    close: the body was not read to its end, so the connection cannot
    carry another request.
    """

    def __init__(self, status_code: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.close = close


class _Arriving:
    """One body still arriving: its bytes held, and its deadline."""

    __slots__ = ("deadline", "evicted", "held")

    def __init__(self) -> None:
        self.held = 0
        self.evicted = False
        self.deadline: asyncio.Timeout | None = None


class _Receiving:
    """The bodies still arriving, none of them signed yet, within limit bytes.

    When a chunk would overflow the limit, the largest body still arriving
    makes room, if it is larger than the one the chunk belongs to: its
    sender is answered 503 and must send it all again. A body no smaller
    than every other is the one answered 503. Meta's bodies are small:
    to keep them out, a sender without the secret must hold the buffer
    in bodies no larger than theirs, as many connections as that takes.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._bodies: set[_Arriving] = set()

    def enter(self, body: _Arriving) -> None:
        self._bodies.add(body)

    def leave(self, body: _Arriving) -> None:
        self._bodies.discard(body)
        self.held -= body.held
        body.held = 0

    def admit(self, body: _Arriving, size: int) -> bool:
        """Hold size more bytes of body, making room if need be; False if
        there is no room for them."""
        while self.held + size > self.limit:
            largest = max(self._bodies, key=_held)
            if largest is body or largest.held <= body.held + size:
                return False
            self._evict(largest)
        self.held += size
        body.held += size
        return True

    def _evict(self, body: _Arriving) -> None:
        self.leave(body)
        body.evicted = True
        # Its read ends at once, as if its time were up; a deadline that
        # is passing already ends it anyway.
        if body.deadline is not None and not body.deadline.expired():
            body.deadline.reschedule(asyncio.get_running_loop().time())


def _held(body: _Arriving) -> int:
    return body.held


def create_app(settings: Settings, forwarder: Forwarder, store: IngestStore) -> ASGIApp:
    """Webhook POSTs straight to Webhooks; any other request through Starlette.

    A webhook is the request that comes a thousand times a second, and
    Starlette's router, middleware, Request and Response were a sixth of
    ingest's CPU for each (py-spy): it is answered as a bare ASGI call.
    """
    webhooks = Webhooks(settings, forwarder, store)
    routes = [
        Route(PATH, webhooks.verify_subscription, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", telemetry.ScrapeApp(), methods=["GET"]),
    ]
    others = Starlette(routes=routes, middleware=[telemetry.http_middleware()])
    # Meta calls the one address it was given: /webhooks/whatsapp/ is not
    # it, and a redirect built from the request's Host would be followed
    # by no one.
    others.router.redirect_slashes = False
    return _WebhooksFirst(telemetry.traced_route(webhooks, PATH), others)


class _WebhooksFirst:
    def __init__(self, webhooks: ASGIApp, others: ASGIApp) -> None:
        self._webhooks = webhooks
        self._others = others

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self._others(scope, receive, send)
        elif scope["method"] == "POST":
            await self._webhooks(scope, receive, send)
        elif scope["method"] in ("GET", "HEAD"):
            await self._others(scope, receive, send)
        else:
            # The router knows only the GET of this path.
            await _NOT_ALLOWED(scope, receive, send)


_NOT_ALLOWED = PlainTextResponse(
    "Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD, POST"}
)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


class Webhooks:
    """The two sides of /webhooks/whatsapp: handshake and delivery."""

    def __init__(
        self, settings: Settings, forwarder: Forwarder, store: IngestStore
    ) -> None:
        self._app_secret = settings.whatsapp_app_secret
        self._verify_token = settings.whatsapp_verify_token.encode()
        self._forwarder = forwarder
        self._store = store
        self._batcher = Batcher(
            forwarder.hand_off,
            _refused,
            max_events=settings.ingest_batch_max_events,
            wait_s=settings.ingest_batch_wait_ms / 1000,
        )
        self._max_in_flight = settings.ingest_max_in_flight
        self._body_timeout_s = settings.ingest_body_timeout_s
        self._receiving = _Receiving(settings.ingest_receive_buffer_mb * 2**20)
        self._in_flight = 0
        self._shed = 0
        self._shed_logged_at = 0.0
        ttl_seconds = settings.route_cache_seconds
        self._router = Router(forwarder.resolve_routes, ttl_seconds)
        self._keywords = keywords.KeywordCache(
            forwarder.get_keywords, settings.keyword_cache_seconds
        )

    async def verify_subscription(self, request: Request) -> Response:
        """Meta's GET handshake: echo the challenge if the token matches."""
        params = request.query_params
        token = params.get("hub.verify_token", "").encode()
        challenge = params.get("hub.challenge")
        if (
            params.get("hub.mode") != "subscribe"
            or challenge is None
            or not self._verify_token
            or not hmac.compare_digest(token, self._verify_token)
        ):
            log.info("subscription refused")
            return PlainTextResponse("forbidden", status_code=403)
        log.info("subscription verified")
        return PlainTextResponse(challenge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one POST of a webhook."""
        status, answer, close = await self._answer(scope, receive)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer)).encode()),
        ]
        if status == 503:
            headers.append(_RETRY_AFTER)
        if close:
            headers.append(_CLOSE)
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": answer})

    def _shed_one(self) -> tuple[int, bytes]:
        """503 for a webhook past the bound; one log line a second at most."""
        self._shed += 1
        now = time.monotonic()
        if now - self._shed_logged_at >= 1.0:
            log.warning("webhooks shed", count=self._shed, in_flight=self._in_flight)
            self._shed = 0
            self._shed_logged_at = now
        return _error(503, _BUSY)

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes, bool]:
        """The status and body of the answer, and whether to close after it."""
        started = time.perf_counter()
        received_at = datetime.now(UTC)
        summary: dict[str, Any] = {}
        close = False
        try:
            body = await self._signed_body(scope, receive)
            if self._in_flight >= self._max_in_flight:
                return *self._shed_one(), False
            self._in_flight += 1
            try:
                await self._record(body, received_at, summary)
            finally:
                self._in_flight -= 1
        except _Refusal as refusal:
            status, answer = _error(refusal.status_code, str(refusal))
            summary["error"] = str(refusal)
            close = refusal.close
        else:
            status, answer = 200, _RECORDED

        webhook_metrics.record(status, summary)
        # A webhook not recorded is one Meta must deliver again: worth a look.
        emit = log.warning if status >= 500 else log.info
        emit(
            "webhook",
            http_status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **summary,
        )
        return status, answer, close

    async def _signed_body(self, scope: Scope, receive: Receive) -> bytes:
        """The body, if it is small enough, signed and JSON."""
        headers = _headers(scope)
        declared = headers.get(b"content-length", b"")
        arriving = _Arriving()
        try:
            async with asyncio.timeout(self._body_timeout_s) as arriving.deadline:
                body = await _read_capped(receive, declared, self._receiving, arriving)
        except TimeoutError:
            if arriving.evicted:
                raise _Refusal(503, _BUSY, close=True) from None
            raise _Refusal(
                408,
                f"the body did not arrive within {self._body_timeout_s:g} s",
                close=True,
            ) from None
        try:
            signature.verify(body, _text(headers, _SIGNATURE), self._app_secret)
        except signature.SignatureError as exc:
            raise _Refusal(401, str(exc)) from None

        content_type = _text(headers, b"content-type") or ""
        if content_type.partition(";")[0].strip().lower() != "application/json":
            raise _Refusal(400, "Content-Type must be application/json")
        if b"content-encoding" in headers and _encoded(scope):
            raise _Refusal(415, "the body must be sent without a Content-Encoding")
        return body

    async def _record(
        self, body: bytes, received_at: datetime, summary: dict[str, Any]
    ) -> None:
        """Record every event of body, or raise _Refusal."""
        try:
            parsed = parse_webhook(body, int(received_at.timestamp()))
            await self._hand_off(parsed, body, received_at, summary)
        except _Refusal:
            raise
        except WebhookFormatError as exc:
            raise _Refusal(400, str(exc)) from None
        except DownstreamError as exc:
            summary["downstream"] = str(exc)
            raise _Refusal(503, _TRY_LATER) from None
        except _INFRASTRUCTURE as exc:
            log.warning("webhook not recorded", exc_info=exc)
            raise _Refusal(503, _TRY_LATER) from None
        except Exception as exc:  # noqa: BLE001 - no input may earn a 500
            # A bug of ours, met by this body. Meta's retries would meet it
            # again, so keep the body for a replay once it is fixed.
            _log_failure("webhook not handled", exc)
            reason = f"unexpected {type(exc).__name__}"
            await self._keep_body(body, "webhook", reason, received_at)
            summary["dead_lettered"] = True

    async def _hand_off(
        self,
        parsed: ParsedWebhook,
        body: bytes,
        received_at: datetime,
        summary: dict[str, Any],
    ) -> None:
        batch = parsed.batch
        summary["events"] = _event_counts(batch)
        summary["rejected"] = len(parsed.rejected)
        if parsed.redated:
            summary["redated"] = parsed.redated
        total = sum(summary["events"].values())

        routes = await self._router.resolve(*route_keys(batch))
        unroutable = split(batch, routes)
        summary["routed"] = total - len(unroutable)
        summary["unroutable"] = len(unroutable)
        await self._mark_own_keywords(batch, summary)

        dead_letters = _rejections(parsed.rejected, body)
        results = await self._submit_and_keep(
            batch, unroutable, dead_letters, received_at
        )
        for result in results:
            summary[result.service] = _outcome(result)
        if any(result.outcome == UNAVAILABLE for result in results):
            raise _Refusal(503, _TRY_LATER)
        refused = [r for r in results if r.outcome == REJECTED]
        for result in refused:
            log.warning(
                "batch refused",
                service=result.service,
                code=result.code,
            )
        if refused:
            await self._store.record((), _refusals(refused), received_at)

    async def _submit_and_keep(
        self,
        batch: events_pb2.EventBatch,
        unroutable: list[Unroutable],
        dead_letters: list[DeadLetter],
        received_at: datetime,
    ) -> Sequence[CallResult]:
        """Hand batch off while ingest keeps what is its own to keep."""
        if not unroutable and not dead_letters:
            # The usual webhook, which ingest keeps nothing of: no tasks.
            return await self._batcher.submit(batch)
        results, stored = await asyncio.gather(
            self._batcher.submit(batch),
            self._store.record(unroutable, dead_letters, received_at),
            return_exceptions=True,
        )
        if isinstance(results, BaseException):
            raise results
        if isinstance(stored, BaseException):
            raise stored
        return results

    async def _mark_own_keywords(
        self, batch: events_pb2.EventBatch, summary: dict[str, Any]
    ) -> None:
        """Mark the messages that are their workspace's own keywords."""
        workspace_ids = keywords.unmarked_workspaces(batch)
        if not workspace_ids:
            return
        own = await self._keywords.get(workspace_ids)
        marked = keywords.mark(batch, own)
        if marked:
            summary["own_keywords"] = marked

    async def _keep_body(
        self, body: bytes, kind: str, reason: str, received_at: datetime
    ) -> None:
        letter = DeadLetter(kind, reason, _body_element(body))
        try:
            await self._store.record((), [letter], received_at)
        except Exception as exc:  # noqa: BLE001 - answered 503 instead
            _log_failure("dead letter not kept", exc)
            raise _Refusal(503, _TRY_LATER) from None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by lowercase name; the first of repeated ones."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.lower(), value)
    return headers


def _encoded(scope: Scope) -> bool:
    """The body is sent in a Content-Encoding, of any of its headers."""
    return any(
        coding.strip() not in (b"", b"identity")
        for name, value in scope["headers"]
        if name.lower() == b"content-encoding"
        for coding in value.lower().split(b",")
    )


def _text(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


async def _read_capped(
    receive: Receive, declared: bytes, receiving: _Receiving, arriving: _Arriving
) -> bytes:
    """The body, read no further than MAX_BODY_BYTES, whatever it claims,
    and held among the bodies receiving holds."""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _Refusal(413, _TOO_LARGE, close=True)
    chunks: list[bytes] = []
    size = 0
    receiving.enter(arriving)
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refusal(400, "the client went away", close=True)
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Refusal(413, _TOO_LARGE, close=True)
            if not receiving.admit(arriving, len(chunk)):
                raise _Refusal(503, _BUSY, close=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        receiving.leave(arriving)


def _event_counts(batch: events_pb2.EventBatch) -> dict[str, int]:
    """How many events of each kind batch holds, leaving out the zeros."""
    # ListFields names the lists that hold any events, in the proto's order.
    return {_KINDS[field.name]: len(events) for field, events in batch.ListFields()}


_KINDS = {field: kind for kind, field in BATCH_FIELDS.items()}


def _rejections(
    rejected: Sequence[RejectedEvent],
    body: bytes,
) -> list[DeadLetter]:
    """One dead letter per kind and reason, holding the whole body.

    RejectedEvent does not carry its element, so the body stands in.
    """
    if not rejected:
        return []
    element = _body_element(body)
    counts = Counter((r.kind, r.reason) for r in rejected)
    return [
        DeadLetter(kind, reason if n == 1 else f"{reason} ({n} times)", element)
        for (kind, reason), n in counts.items()
    ]


def _refusals(results: Sequence[CallResult]) -> list[DeadLetter]:
    """The batches a service refused for good, to replay after a fix."""
    letters = []
    for result in results:
        assert result.batch is not None
        batch = json_format.MessageToDict(
            result.batch, preserving_proto_field_name=True
        )
        reason = f"{result.service} answered {result.code}: {result.details}"
        letters.append(
            DeadLetter(f"{result.service}_batch", reason, orjson.dumps(batch))
        )
    return letters


def _body_element(body: bytes) -> bytes:
    # The body as a JSON string rather than as JSON: PostgreSQL's jsonb
    # refuses some valid JSON (\u0000, lone surrogates) and a dead letter
    # must always be storable.
    return orjson.dumps({"body": body.decode("utf-8", errors="replace")})


def _refused(results: Sequence[CallResult]) -> bool:
    return any(result.outcome == REJECTED for result in results)


def _outcome(result: CallResult) -> str:
    if result.outcome in (OK, SKIPPED):
        return result.outcome
    return f"{result.outcome}:{result.code}"


def _log_failure(event: str, exc: Exception) -> None:
    """Log where exc was raised, leaving out its message.

    The message may quote the webhook (a phone number, a text); it goes to
    DEBUG only.
    """
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error(event, error=type(exc).__name__, traceback=stack)
    log.debug(event, exc_info=exc)


# Meta keeps its own schedule of retries; other senders, and the proxies
# in front of us, learn from this when to try again.
_RETRY_AFTER = (b"retry-after", b"1")
_CLOSE = (b"connection", b"close")


def _error(status_code: int, message: str) -> tuple[int, bytes]:
    return status_code, orjson.dumps({"error": message})
