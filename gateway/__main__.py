"""`python -m gateway`: serve GraphQL and the dashboard over HTTP."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from xobito import logs, telemetry
from xobito.settings import Settings

# Subscriptions never end by themselves: on shutdown, close them after
# this long instead of waiting for their clients.
SHUTDOWN_GRACE_SECONDS = 5


def main() -> None:
    settings = Settings.from_env()
    telemetry.configure("gateway")
    logs.configure(settings.log_level, settings.log_format, service="gateway")
    uvicorn.run(
        create_app(settings),
        host=settings.bind_host,
        port=settings.gateway_port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        # Updates are a hundred bytes; a compressor per open socket would
        # cost some 40 MB per 1,000 idle subscribers.
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
