"""Starting the metrics service: stores, the outbox relay, the gRPC server.

run() serves until SIGTERM or SIGINT, or until stop is set when given
(tests start the service in their own event loop that way).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import cast

import grpc
from opentelemetry.instrumentation.utils import suppress_instrumentation

from services.metrics.backlog import Backlog
from services.metrics.campaigns import Campaigns
from services.metrics.contact_sends import ContactSends
from services.metrics.contacts_client import ContactsClient
from services.metrics.counters import Counters
from services.metrics.erasure import RecipientErasure
from services.metrics.ledger import Pool
from services.metrics.recipient_feed import RecipientFeed
from services.metrics.recipients import Recipients
from services.metrics.recording import Recorder
from services.metrics.retries import Retries
from services.metrics.servicer import SERVICE_NAME, MetricsServicer
from services.metrics.standing import Standing
from services.metrics.unmatched import Unmatched
from xobito import cache, telemetry
from xobito.channels import ChannelSettings
from xobito.database import migrate, open_pool
from xobito.grpcserver import serve
from xobito.metrics.v1 import metrics_pb2_grpc
from xobito.settings import Settings


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve MetricsService until SIGTERM or SIGINT, or until stop."""
    settings.require("database_url", "redis_url")
    if settings.migrate_on_start:
        await asyncio.to_thread(migrate, settings.database_url)
    pool = cast(Pool, await open_pool(settings.database_url))
    client = cache.connect(settings.redis_url)
    counters = Counters(pool, client)
    unmatched_after = timedelta(seconds=settings.unmatched_after_seconds)
    feed = RecipientFeed(pool, client)
    contacts = ContactsClient.connect(
        settings.contacts_target, ChannelSettings.of(settings)
    )
    servicer = MetricsServicer(
        Campaigns(pool, counters),
        Recorder(
            pool,
            counters,
            timedelta(hours=settings.reply_window_hours),
            feed,
            rejections=contacts.record_rejections,
        ),
        Recipients(pool, counters),
        counters,
        Standing(pool),
        Unmatched(pool, unmatched_after),
        Retries(pool, client),
        RecipientErasure(pool, settings.erasure_key),
        feed,
        ContactSends(pool),
    )
    # The loops in the background make no spans: a trace every few
    # seconds would bury the traces of requests.
    with suppress_instrumentation():
        relay = asyncio.create_task(counters.run_relay())
        backlog = asyncio.create_task(Backlog(pool, unmatched_after).run())

    def register(server: grpc.aio.Server) -> list[str]:
        metrics_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    stop_scrapes = telemetry.serve_scrape(
        settings.bind_host, settings.metrics_prometheus_port
    )

    async def shutdown() -> None:
        for task in (relay, backlog):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await contacts.close()
        await client.aclose()
        await pool.close()
        stop_scrapes()

    await serve(
        name="metrics",
        host=settings.bind_host,
        port=settings.metrics_grpc_port,
        register=register,
        settings=settings,
        on_shutdown=shutdown,
        stop=stop,
    )
