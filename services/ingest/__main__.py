"""python -m services.ingest: the webhook endpoint and IngestService."""

from __future__ import annotations

import asyncio
import sys

from services.ingest import server
from services.ingest.app import create_app
from services.ingest.erasure import IngestErasure
from services.ingest.forwarder import Forwarder
from services.ingest.servicer import IngestServicer
from services.ingest.store import IngestStore
from xobito import logs, telemetry
from xobito.database import migrate, open_pool
from xobito.settings import Settings, SettingsError


async def main(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM or SIGINT, or until stop is set when given."""
    if settings.migrate_on_start:
        await asyncio.to_thread(migrate, settings.database_url)
    # Ingest writes only the rare unroutable event or dead letter.
    pool = await open_pool(settings.database_url, min_size=1, max_size=4)
    forwarder = Forwarder.connect(settings)
    store = IngestStore(pool)

    async def close() -> None:
        await forwarder.close()
        await pool.close()

    await server.run(
        settings,
        create_app(settings, forwarder, store),
        IngestServicer(store, IngestErasure(pool, forwarder.resolve_routes)),
        on_shutdown=close,
        stop=stop,
    )


if __name__ == "__main__":
    settings = Settings.from_env()
    telemetry.configure("ingest")
    logs.configure(settings.log_level, settings.log_format, service="ingest")
    try:
        settings.require(
            "database_url",
            "whatsapp_app_secret",
            "whatsapp_verify_token",
        )
    except SettingsError as exc:
        sys.exit(f"ingest: {exc}")
    asyncio.run(main(settings))
