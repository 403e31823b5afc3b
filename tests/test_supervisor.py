"""`xobito run` stops its PostgreSQL cleanly, idle clients or not."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from xobito.devstack import LocalPostgres, free_port
from xobito.supervisor import Supervisor, _exec


def _hold_idle_connection_then_stop(
    url: str, held: list[psycopg.Connection[tuple[object, ...]]]
) -> None:
    """Connect as a forgotten psql would, then press Ctrl-C on the supervisor."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            held.append(psycopg.connect(url))
            break
        except psycopg.OperationalError:
            time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def restored_signals() -> Iterator[None]:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in handlers.items():
        signal.signal(number, handler)


@pytest.mark.usefixtures("restored_signals")
def test_postgres_with_an_idle_client_stops_cleanly_on_ctrl_c(
    tmp_path: Path,
) -> None:
    postgres = LocalPostgres(tmp_path / "postgres", free_port(), durable=False)
    postgres.prepare()
    supervisor = Supervisor()
    supervisor.add_process("postgres", _exec(postgres.command()))
    held: list[psycopg.Connection[tuple[object, ...]]] = []
    client = threading.Thread(
        target=_hold_idle_connection_then_stop, args=(postgres.url, held)
    )

    client.start()
    try:
        supervisor.loop()
    finally:
        client.join()
        for conn in held:
            conn.close()

    assert held, "the client never connected"
    assert supervisor._processes["postgres"]["returncode"] == 0
