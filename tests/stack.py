"""The whole system, started for tests: real servers, real processes.

A Stack runs throwaway PostgreSQL and Valkey servers from the pip
packages, then each service as its own process, exactly as `make run`
does, on free ports. Tests talk to it over HTTP and gRPC only.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from xobito.database import migrate
from xobito.devstack import LocalPostgres, LocalValkey, free_port
from xobito.simulate import Target
from xobito.webhooks import sign

SERVICES = ("metrics", "contacts", "ingest", "gateway")
SERVERS = ("postgres", "valkey")
APP_SECRET = "test-app-secret"
ERASURE_KEY = "test-erasure-key"
VERIFY_TOKEN = "test-verify-token"
API_KEY_PEPPER = "test-api-key-pepper"
STARTUP_SECONDS = 60.0


@cache
def _tls_context() -> ssl.SSLContext:
    # Built once: loading the CA certificates takes tens of milliseconds
    # of CPU, and the stack speaks plain HTTP anyway.
    return ssl.create_default_context()


def new_http_client() -> httpx.Client:
    """A client whose idle connections close before the servers' own
    keep-alive of 5 s can close them under a request."""
    return httpx.Client(
        timeout=30,
        limits=httpx.Limits(keepalive_expiry=1),
        verify=_tls_context(),
    )


def _wait(check: Any, what: str, timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready: {last!r}")


@dataclass
class Servers:
    """PostgreSQL and Valkey for one test session."""

    root: Path
    # Tests trade durability for speed; benchmarks measure the real thing.
    durable: bool = False
    postgres: LocalPostgres = field(init=False)
    valkey: LocalValkey = field(init=False)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        port = free_port()
        self.postgres = LocalPostgres(self.root / "pg", port, durable=self.durable)
        port = free_port()
        self.valkey = LocalValkey(self.root / "valkey", port, durable=self.durable)

    def start(self) -> None:
        self.postgres.prepare()
        self.valkey.prepare()
        for server in SERVERS:
            self._spawn(server)
        for server in SERVERS:
            self._wait_ready(server)
        migrate(self.postgres.url)

    def crash(self, server: str) -> None:
        """Stop "postgres" or "valkey" as a crash would, keeping its data dir.

        Valkey is killed (SIGKILL). PostgreSQL gets SIGQUIT, its immediate
        shutdown: no checkpoint, so the next start recovers from the WAL.
        A SIGKILL would leave its backends holding the shared memory, and
        no new server could start on the data dir until they went.
        """
        proc = self.procs.pop(server)
        proc.send_signal(signal.SIGQUIT if server == "postgres" else signal.SIGKILL)
        proc.wait()

    def restart(self, server: str) -> None:
        """Start a crashed server again, on the same port and data dir."""
        self._spawn(server)
        self._wait_ready(server)

    def _spawn(self, server: str) -> None:
        command = getattr(self, server).command()
        with (self.root / "servers.log").open("ab") as log:
            self.procs[server] = subprocess.Popen(command, stdout=log, stderr=log)

    def _wait_ready(self, server: str) -> None:
        if server == "postgres":
            url = self.postgres.url
            _wait(lambda: psycopg.connect(url).close() is None, server)
        else:
            _wait(lambda: redis.Redis.from_url(self.valkey.url).ping(), server)

    def stop(self) -> None:
        for proc in self.procs.values():
            # SIGINT is PostgreSQL's fast shutdown; Valkey takes it too.
            proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class Stack:
    """The four services, each in its own process, on free ports."""

    servers: Servers
    extra_env: Mapping[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # One client for every request of the tests: httpx.post() would build
    # a client, and its TLS context, for each one.
    http: httpx.Client = field(default_factory=new_http_client)

    def __post_init__(self) -> None:
        for name in ("gateway", "ingest_http", "ingest_grpc", "metrics", "contacts"):
            self.ports[name] = free_port()

    @property
    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("OTEL_", "DEV_API_KEY"))
        }
        env.update(
            DATABASE_URL=self.servers.postgres.url,
            REDIS_URL=self.servers.valkey.url,
            WHATSAPP_APP_SECRET=APP_SECRET,
            WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
            ERASURE_KEY=ERASURE_KEY,
            API_KEY_PEPPER=API_KEY_PEPPER,
            # The suite shares a few keys; the rate limit has tests of its own.
            API_RATE_LIMIT="100000/minute",
            GATEWAY_PORT=str(self.ports["gateway"]),
            INGEST_HTTP_PORT=str(self.ports["ingest_http"]),
            INGEST_GRPC_PORT=str(self.ports["ingest_grpc"]),
            METRICS_GRPC_PORT=str(self.ports["metrics"]),
            CONTACTS_GRPC_PORT=str(self.ports["contacts"]),
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
            MIGRATE_ON_START="false",
        )
        env.update(self.extra_env)
        return env

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ingest_http']}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def metrics_target(self) -> str:
        return f"127.0.0.1:{self.ports['metrics']}"

    @property
    def contacts_target(self) -> str:
        return f"127.0.0.1:{self.ports['contacts']}"

    def log_path(self, service: str) -> Path:
        return self.servers.root / f"{service}.log"

    def start(self, *services: str) -> None:
        """Start the services together, then wait until each answers.

        None needs another to start: calls between them wait for readiness.
        """
        for service in services or SERVICES:
            self.spawn(service)
        for service in services or SERVICES:
            self.wait_ready(service)

    def start_service(self, service: str) -> None:
        self.spawn(service)
        self.wait_ready(service)

    def spawn(self, service: str) -> None:
        module = "gateway" if service == "gateway" else f"services.{service}"
        with self.log_path(service).open("ab") as log:
            self.procs[service] = subprocess.Popen(
                [sys.executable, "-m", module],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, service: str) -> None:
        proc = self.procs[service]

        def ready() -> bool:
            if proc.poll() is not None:
                tail = self.log_path(service).read_text()[-3000:]
                raise RuntimeError(f"{service} exited:\n{tail}")
            if service in ("gateway", "ingest"):
                url = getattr(self, f"{service}_url")
                return self.http.get(f"{url}/healthz", timeout=1).status_code == 200
            target = getattr(self, f"{service}_target")
            with grpc.insecure_channel(target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        try:
            _wait(ready, service)
        except TimeoutError:
            tail = self.log_path(service).read_text()[-3000:]
            raise TimeoutError(f"{service} did not start:\n{tail}") from None

    def kill(self, service: str) -> None:
        """Stop a service the hard way, as a crash would (SIGKILL)."""
        proc = self.procs.pop(service)
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        self.http.close()

    # -- talking to it ---------------------------------------------------

    def channel(self, service: str) -> grpc.Channel:
        return grpc.insecure_channel(getattr(self, f"{service}_target"))

    def simulation_target(self, api_key: str, workspace: str = "test") -> Target:
        """Where `xobito simulate` plays a campaign against this stack."""
        return Target(
            metrics=self.metrics_target,
            contacts=self.contacts_target,
            ingest_url=self.ingest_url,
            gateway_url=self.gateway_url,
            app_secret=APP_SECRET,
            api_key=api_key,
            workspace=workspace,
        )

    def post_webhook(
        self,
        body: bytes,
        *,
        signature: str | None = None,
        secret: str = APP_SECRET,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        path: str = "/webhooks/whatsapp",
    ) -> httpx.Response:
        """Post body as Meta does, signed; headers add to Meta's or replace
        them, and a name given twice in a sequence is sent twice."""
        if signature is None:
            signature = sign(body, secret)
        added = list(headers.items() if isinstance(headers, Mapping) else headers)
        replaced = {name.lower() for name, _ in added}
        metas = [("Content-Type", "application/json")]
        if signature:
            metas.append(("X-Hub-Signature-256", signature))
        sent = [(n, v) for n, v in metas if n.lower() not in replaced] + added
        return self.http.post(
            f"{self.ingest_url}{path}", content=body, headers=sent, timeout=30
        )

    def graphql(self, query: str, api_key: str, **variables: Any) -> dict[str, Any]:
        reply = self.http.post(
            f"{self.gateway_url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )
        reply.raise_for_status()
        payload: dict[str, Any] = reply.json()
        assert "errors" not in payload, payload["errors"]
        return payload["data"]  # type: ignore[no-any-return]


# Tables that hold what the system learnt; emptied between tests that need
# a clean slate. Workspaces and API keys are kept.
_DATA_SCHEMAS = ("metrics", "contacts", "ingest")


def reset_data(servers: Servers) -> None:
    """Empty the data tables, restart their sequences, and empty Redis.

    DELETE rather than TRUNCATE: on a test's few rows it takes a fraction
    of the time, TRUNCATE making new files for every table and index.
    Foreign keys are not checked meanwhile (the replica role), as every
    reference to these tables comes from one of them.
    """
    with psycopg.connect(servers.postgres.url, autocommit=True) as conn:
        names = conn.execute(
            "SELECT 'DELETE FROM ' || format('%%I.%%I', schemaname, tablename)"
            " FROM pg_tables WHERE schemaname = ANY(%s)"
            " UNION ALL"
            " SELECT 'ALTER SEQUENCE '"
            " || format('%%I.%%I', schemaname, sequencename) || ' RESTART'"
            " FROM pg_sequences WHERE schemaname = ANY(%s)",
            [list(_DATA_SCHEMAS), list(_DATA_SCHEMAS)],
        ).fetchall()
        statements = [statement for (statement,) in names]
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("; ".join(statements))
    with redis.Redis.from_url(servers.valkey.url) as client:
        client.flushdb()


@contextmanager
def running_servers(root: Path, *, durable: bool = False) -> Iterator[Servers]:
    servers = Servers(root, durable=durable)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()
