"""Starting the contacts service: migrations, the pool, the gRPC server.

run() serves until SIGTERM or SIGINT, or until stop is set when given
(tests start the service in their own event loop that way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from services.contacts.erasure import ContactErasure
from services.contacts.keyword_store import KeywordStore
from services.contacts.servicer import SERVICE_NAME, ContactsServicer
from services.contacts.store import ContactStore
from xobito import telemetry
from xobito.contacts.v1 import contacts_pb2_grpc
from xobito.database import migrate, open_pool
from xobito.grpcserver import serve
from xobito.settings import Settings


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve ContactsService until SIGTERM or SIGINT, or until stop."""
    settings.require("database_url")
    if settings.migrate_on_start:
        await asyncio.to_thread(migrate, settings.database_url)
    pool = await open_pool(settings.database_url)
    erasure = ContactErasure(pool, settings.erasure_key)
    store = ContactStore(
        pool, inactive_after=settings.inactive_after_failures, erasure=erasure
    )

    def register(server: grpc.aio.Server) -> Sequence[str]:
        servicer = ContactsServicer(store, KeywordStore(pool), erasure)
        contacts_pb2_grpc.add_ContactsServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    stop_scrapes = telemetry.serve_scrape(
        settings.bind_host, settings.contacts_prometheus_port
    )

    async def shutdown() -> None:
        await pool.close()
        stop_scrapes()

    await serve(
        name="contacts",
        host=settings.bind_host,
        port=settings.contacts_grpc_port,
        register=register,
        settings=settings,
        on_shutdown=shutdown,
        stop=stop,
    )
