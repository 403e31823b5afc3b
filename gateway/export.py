"""GET /campaigns/{id}/recipients.csv: the recipient table as a CSV file.

The rows are streamed one page of ListRecipients at a time, so memory
stays the same whatever the campaign's size; the next page is asked for
while the current one is written. The query parameters are the GraphQL
filters': status, search, failureCategory. A text cell that a
spreadsheet would run as a formula starts with an apostrophe.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterable
from functools import lru_cache

import structlog
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.clients import Clients, MetricsClient
from gateway.errors import (
    BadRequestError,
    GatewayError,
    NotFoundError,
    UnavailableError,
)
from gateway.types.recipients import RecipientStatus
from gateway.types.scalars import from_timestamp, serialize
from xobito.metrics.v1 import metrics_pb2 as mpb

log = structlog.get_logger(__name__)

PAGE_SIZE = 500

COLUMNS = (
    "phone", "name", "status", "wamid",
    "sent_at", "delivered_at", "read_at", "failed_at", "replied_at",
    "opted_out_at",
    "failure_code", "failure_category", "failure_title", "failure_action",
    "failure_retryable", "timeline",
)  # fmt: skip

_TIMES = (
    "sent_at", "delivered_at", "read_at", "failed_at", "replied_at",
    "opted_out_at",
)  # fmt: skip


async def export_recipients(request: Request) -> Response:
    """The campaign's recipients as CSV; 404 unless it is the key's."""
    workspace: str = request.state.workspace_id
    clients: Clients = request.state.clients
    campaign_id = request.path_params["campaign_id"]
    try:
        query = _query(request, workspace, campaign_id)
        # The first page is read before answering, so that an unknown
        # campaign or a bad filter gets its status: once streaming, the
        # status has been sent.
        first = await clients.metrics.list_recipients(query)
    except NotFoundError:
        return _error("campaign not found", 404)
    except BadRequestError as error:
        return _error(str(error), 400)
    except UnavailableError as error:
        return _error(str(error), 503)

    filename = f"campaign-{_safe(campaign_id)}-recipients.csv"
    return StreamingResponse(
        _lines(clients.metrics, query, first),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _query(
    request: Request, workspace: str, campaign_id: str
) -> mpb.ListRecipientsRequest:
    params = request.query_params
    status = mpb.RECIPIENT_STATUS_UNSPECIFIED
    if params.get("status"):
        try:
            status = RecipientStatus[params["status"].upper()].value
        except KeyError:
            raise BadRequestError(f"unknown status {params['status']!r}") from None
    return mpb.ListRecipientsRequest(
        workspace_id=workspace,
        campaign_id=campaign_id,
        status=status,
        search=params.get("search", ""),
        failure_category=params.get("failureCategory", ""),
        page_size=PAGE_SIZE,
    )


async def _lines(
    metrics: MetricsClient,
    query: mpb.ListRecipientsRequest,
    page: mpb.ListRecipientsResponse,
) -> AsyncIterator[str]:
    """The header, then one chunk of CSV per page of recipients."""
    yield _csv([COLUMNS])
    rows = 0
    following: asyncio.Task[mpb.ListRecipientsResponse] | None = None
    try:
        while True:
            if page.next_page_token:
                following = asyncio.create_task(
                    metrics.list_recipients(_after(query, page.next_page_token))
                )
            yield _csv(_row(recipient) for recipient in page.recipients)
            rows += len(page.recipients)
            if following is None:
                break
            page = await following
            following = None
    except GatewayError:
        # Too late for an error status: the file ends short, and says so
        # in the log.
        log.warning("export cut short", rows=rows, exc_info=True)
        raise
    finally:
        if following is not None:
            _drop(following)
    log.info("export done", rows=rows)


def _drop(task: asyncio.Task[mpb.ListRecipientsResponse]) -> None:
    """Forget the next page: the client went away while it was coming."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()  # seen, so asyncio does not report it


def _after(
    query: mpb.ListRecipientsRequest, page_token: str
) -> mpb.ListRecipientsRequest:
    following = mpb.ListRecipientsRequest()
    following.CopyFrom(query)
    following.page_token = page_token
    return following


def _csv(rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _row(recipient: mpb.RecipientRow) -> list[object]:
    failure = recipient.failure if recipient.HasField("failure") else None
    status = RecipientStatus(recipient.status or mpb.RECIPIENT_STATUS_PENDING)
    return [
        recipient.phone,
        _text(recipient.name),
        status.name,
        _text(recipient.wamid),
        *(_time(recipient, field) for field in _TIMES),
        failure.code if failure else "",
        failure.category if failure else "",
        _text(failure.title) if failure else "",
        failure.action if failure else "",
        str(failure.retryable).lower() if failure else "",
        " ".join(
            f"{entry.status}@{_text_of(entry.at.seconds, entry.at.nanos)}"
            for entry in recipient.timeline
        ),
    ]


# A spreadsheet runs a cell that starts like a formula. A name is the
# contact's own WhatsApp profile name, and a title or wamid comes from
# outside too: such a cell is written as text, behind an apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _time(recipient: mpb.RecipientRow, field: str) -> str:
    if not recipient.HasField(field):  # type: ignore[arg-type]
        return ""
    stamp = getattr(recipient, field)
    return _text_of(stamp.seconds, stamp.nanos)


# A campaign's times repeat (Meta's are whole seconds, sends go out in
# bursts): each is formatted once, which is most of a row's work.
@lru_cache(maxsize=4096)
def _text_of(seconds: int, nanos: int) -> str:
    return serialize(from_timestamp(Timestamp(seconds=seconds, nanos=nanos)))


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _error(message: str, status_code: int) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status_code)
