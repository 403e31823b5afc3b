"""A service whose PostgreSQL is still starting up waits, then migrates."""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import closing, suppress

import psycopg
import pytest
from structlog.testing import capture_logs

from tests.stack import Servers
from xobito.database import migrate, migration_files, open_pool, wait_until_ready

# The requests a client may send before its startup message.
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


def _error_response(message: str) -> bytes:
    fields = b"".join(
        code + text.encode() + b"\0"
        for code, text in (
            (b"S", "FATAL"),
            (b"V", "FATAL"),
            (b"C", "57P03"),
            (b"M", message),
        )
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    # Either side may close first, and the other thread's socket with it.
    with closing(source), closing(sink), suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)


class StartingServer:
    """Answers like a PostgreSQL starting up, then hands over to a real one.

    The first `refusals` connections get the FATAL 57P03 that a server
    recovering after an unclean stop sends; the later ones are piped to
    the real server.
    """

    def __init__(self, upstream_port: int, refusals: int) -> None:
        self.upstream_port = upstream_port
        self.refusals = refusals
        self.refused = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refused < self.refusals:
                self.refused += 1
                with suppress(OSError):
                    self._refuse(client)
            else:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
                threading.Thread(target=_pipe, args=(client, upstream)).start()
                threading.Thread(target=_pipe, args=(upstream, client)).start()

    def _refuse(self, client: socket.socket) -> None:
        with closing(client):
            while True:
                length, code = struct.unpack("!ii", _receive(client, 8))
                _receive(client, length - 8)
                if code not in (_SSL_REQUEST, _GSSENC_REQUEST):
                    break
                client.sendall(b"N")
            client.sendall(_error_response("the database system is starting up"))


@pytest.fixture
def empty_database(servers: Servers) -> Iterator[str]:
    name = f"startup_{secrets.token_hex(4)}"
    with psycopg.connect(servers.postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield name
    with psycopg.connect(servers.postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def starting(servers: Servers) -> Iterator[StartingServer]:
    server = StartingServer(servers.postgres.port, refusals=3)
    yield server
    server.close()


def test_the_fake_refuses_a_plain_connection_as_postgres_does(
    starting: StartingServer,
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{starting.port}/postgres"

    with pytest.raises(psycopg.OperationalError, match="starting up"):
        psycopg.connect(url, sslmode="disable")


def test_migrate_waits_for_a_server_starting_up_then_applies_every_file(
    starting: StartingServer, empty_database: str
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{starting.port}/{empty_database}"

    with capture_logs() as logs:
        applied = migrate(url)

    assert applied == len(migration_files())
    assert starting.refused == 3
    waits = [e for e in logs if e["event"].startswith("waiting for PostgreSQL")]
    assert len(waits) == 3
    assert all("starting up" in e["reason"] for e in waits)


def test_a_pool_opens_once_the_server_accepts_connections(
    starting: StartingServer,
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{starting.port}/postgres"

    async def select_one() -> object:
        pool = await open_pool(url, min_size=1, max_size=1)
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute("SELECT 1 AS one")
                return await cursor.fetchone()
        finally:
            await pool.close()

    row = asyncio.run(select_one())

    assert row == {"one": 1}
    assert starting.refused == 3


def test_a_refusal_that_is_not_about_readiness_is_not_waited_for(
    servers: Servers,
) -> None:
    url = servers.postgres.url.rsplit("/", 1)[0] + "/no_such_database"

    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        wait_until_ready(url)
