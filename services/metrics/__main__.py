"""`python -m services.metrics`: run the metrics service."""

import asyncio
import sys

from services.metrics import server
from xobito import logs, telemetry
from xobito.settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
        settings.require("database_url", "redis_url")
    except SettingsError as exc:
        print(f"metrics: {exc}", file=sys.stderr)
        return 2
    telemetry.configure("metrics")
    logs.configure(settings.log_level, settings.log_format, service="metrics")
    asyncio.run(server.run(settings))
    return 0


sys.exit(main())
