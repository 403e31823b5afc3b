"""`python -m services.contacts`: run the contacts service."""

from __future__ import annotations

import asyncio

from services.contacts.server import run
from xobito import telemetry
from xobito.logs import configure
from xobito.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    telemetry.configure("contacts")
    configure(settings.log_level, settings.log_format, service="contacts")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
