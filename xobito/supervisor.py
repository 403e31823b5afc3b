"""`xobito run`: every process of the system under one supervisor.

honcho starts the local PostgreSQL and Valkey (unless DATABASE_URL and
REDIS_URL name servers to use) and the four services, prefixes each line
of their output with its name, and stops them all on Ctrl-C.

PostgreSQL is stopped with a fast shutdown, which disconnects its clients
and writes a clean checkpoint, and killed only after a generous wait: a
killed server makes the next start recover before it accepts anyone.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
from honcho.manager import KILL_WAIT, Manager

from xobito import devenv
from xobito.devstack import LocalPostgres, LocalValkey
from xobito.settings import Settings

SERVICE_MODULES = {
    "metrics": "services.metrics",
    "contacts": "services.contacts",
    "ingest": "services.ingest",
    "gateway": "gateway",
}


# How each process is asked to stop when it is not SIGTERM, and how long
# it has before it is killed when it is not honcho's KILL_WAIT.
STOP_SIGNALS = {"postgres": signal.SIGINT}
KILL_AFTER_SECONDS = {"postgres": 120.0}


class Supervisor(Manager):  # type: ignore[misc]
    """honcho's Manager, with a stop signal and a kill delay per process."""

    def __init__(self) -> None:
        super().__init__()
        self._stopping_since: float | None = None

    def terminate(self) -> None:
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
        super().terminate()

    def _killall(self, force: bool = False) -> None:
        stopping = time.monotonic() - (self._stopping_since or time.monotonic())
        for name, process in self._processes.items():
            if "returncode" in process or "pid" not in process:
                continue
            if force:
                if stopping < KILL_AFTER_SECONDS.get(name, KILL_WAIT):
                    continue
                stop = signal.SIGKILL
            else:
                stop = STOP_SIGNALS.get(name, signal.SIGTERM)
            self._system_print(
                f"sending {stop.name} to {name} (pid {process['pid']})\n"
            )
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process["pid"], stop)


def run() -> int:
    directory = devenv.data_dir().resolve()
    remembered = devenv.read(directory)
    env = dict(os.environ)
    manager = Supervisor()

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
