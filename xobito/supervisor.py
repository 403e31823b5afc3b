"""`xobito run`: every process of the system under one supervisor.

honcho starts the local PostgreSQL and Valkey (unless DATABASE_URL and
REDIS_URL name servers to use) and the four services, prefixes each line
of their output with its name, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from pathlib import Path

import httpx
from honcho.manager import Manager

from xobito import devenv
from xobito.devstack import LocalPostgres, LocalValkey
from xobito.settings import Settings

SERVICE_MODULES = {
    "metrics": "services.metrics",
    "contacts": "services.contacts",
    "ingest": "services.ingest",
    "gateway": "gateway",
}


def run() -> int:
    directory = devenv.data_dir().resolve()
    remembered = devenv.read(directory)
    env = dict(os.environ)
    manager = Manager()

    if not env.get("DATABASE_URL"):
        port = int(env.get("XOBITO_POSTGRES_PORT", "15432"))
        postgres = LocalPostgres(directory / "postgres", port)
        postgres.prepare()
        manager.add_process("postgres", _exec(postgres.command()))
        env["DATABASE_URL"] = remembered["DATABASE_URL"] = postgres.url
    if not env.get("REDIS_URL"):
        port = int(env.get("XOBITO_VALKEY_PORT", "16379"))
        valkey = LocalValkey(directory / "valkey", port)
        valkey.prepare()
        manager.add_process("valkey", _exec(valkey.command()))
        env["REDIS_URL"] = remembered["REDIS_URL"] = valkey.url

    for name in devenv.GENERATED_SECRETS:
        if not env.get(name):
            env[name] = remembered.get(name) or devenv.generate_secret(name)
            remembered[name] = env[name]
    devenv.write(directory, remembered)
    for name, value in devenv.DEVELOPMENT_DEFAULTS.items():
        env.setdefault(name, value)

    if sys.stdout.isatty():
        env.setdefault("LOG_FORMAT", "console")
    for name, module in SERVICE_MODULES.items():
        manager.add_process(name, _exec([sys.executable, "-m", module]), env=env)

    settings = Settings.from_env(env)
    threading.Thread(
        target=_announce_when_ready, args=(settings, directory), daemon=True
    ).start()
    manager.loop()
    return int(manager.returncode or 0)


def _exec(command: list[str]) -> str:
    """A shell line that becomes the command, so that signals reach it."""
    return "exec " + shlex.join(command)


def _announce_when_ready(settings: Settings, directory: Path) -> None:
    gateway = f"http://127.0.0.1:{settings.gateway_port}"
    ingest = f"http://127.0.0.1:{settings.ingest_http_port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if all(
                httpx.get(f"{url}/healthz", timeout=1).status_code == 200
                for url in (gateway, ingest)
            ):
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        return
    print(
        "\n"
        "  Xobito is running.\n"
        f"    Dashboard        {gateway}/\n"
        f"    GraphQL          {gateway}/graphql\n"
        f"    Webhook          {ingest}/webhooks/whatsapp\n"
        f"    Dev API key      {settings.dev_api_key}\n"
        f"    Settings         {directory / devenv.DEV_ENV_FILE}\n"
        "  Play a campaign from another terminal: .venv/bin/xobito simulate\n",
        flush=True,
    )
