"""Channels between the services (xobito.channels) and the server side of
them (xobito.grpcserver): retries, deadlines, balancing, limits, TLS and
the drain on SIGTERM, each against real gRPC servers on free ports.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from xobito import grpcserver
from xobito.channels import IDEMPOTENT, ChannelSettings, open_channel
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.devstack import free_port
from xobito.errors import UnavailableError
from xobito.ingest.v1 import ingest_pb2
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc
from xobito.settings import Settings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
METRICS = "xobito.metrics.v1.MetricsService"


class Metrics(metrics_pb2_grpc.MetricsServiceServicer):
    """A metrics service that fails, waits or names itself on demand."""

    def __init__(self, name: str = "metrics") -> None:
        self.name = name
        self.calls: list[str] = []
        self.unavailable_once: set[str] = set()
        self.remaining: list[float | None] = []
        self.hold: asyncio.Event | None = None
        self.held = asyncio.Event()
        self.downstream: grpc.aio.Channel | None = None

    def _called(self, method: str, context: Any) -> None:
        self.calls.append(method)
        self.remaining.append(context.time_remaining())
        if method in self.unavailable_once:
            self.unavailable_once.discard(method)
            raise UnavailableError("a store is unavailable")

    async def GetCampaign(self, request: Any, context: Any) -> mpb.Campaign:
        self._called("GetCampaign", context)
        if self.hold is not None:
            self.held.set()
            await self.hold.wait()
        if self.downstream is not None:
            stub = contacts_pb2_grpc.ContactsServiceStub(self.downstream)
            await stub.GetContact(contacts_pb2.GetContactRequest())
        return mpb.Campaign(id=request.campaign_id, name=self.name)

    async def CreateCampaign(self, request: Any, context: Any) -> mpb.Campaign:
        self._called("CreateCampaign", context)
        return mpb.Campaign(id="cmp_1", name=request.name)


class Contacts(contacts_pb2_grpc.ContactsServiceServicer):
    def __init__(self) -> None:
        self.remaining: list[float | None] = []

    async def GetContact(self, request: Any, context: Any) -> contacts_pb2.Contact:
        self.remaining.append(context.time_remaining())
        return contacts_pb2.Contact(phone=request.phone)


def metrics_service(servicer: Metrics) -> Callable[[grpc.aio.Server], list[str]]:
    def register(server: grpc.aio.Server) -> list[str]:
        metrics_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, server)
        return [METRICS]

    return register


def contacts_service(servicer: Contacts) -> Callable[[grpc.aio.Server], list[str]]:
    def register(server: grpc.aio.Server) -> list[str]:
        contacts_pb2_grpc.add_ContactsServiceServicer_to_server(servicer, server)
        return ["xobito.contacts.v1.ContactsService"]

    return register


@asynccontextmanager
async def serving(
    register: Callable[[grpc.aio.Server], Sequence[str]],
    settings: Settings | None = None,
    on_shutdown: Callable[[], Any] | None = None,
    port: int | None = None,
) -> AsyncIterator[str]:
    """grpcserver.serve() on a free port (or `port`) until the block ends;
    its target."""
    port = port or free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        grpcserver.serve(
            name="test",
            host="127.0.0.1",
            port=port,
            register=register,
            settings=settings or Settings(),
            on_shutdown=on_shutdown,
            stop=stop,
        )
    )
    await listening(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop.set()
        await task


async def listening(port: int) -> None:
    """Wait until something accepts connections on the port."""
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise TimeoutError(f"nothing listens on {port}")


def test_an_idempotent_call_is_retried_after_unavailable() -> None:
    servicer = Metrics()
    servicer.unavailable_once.add("GetCampaign")

    async def main() -> mpb.Campaign:
        async with (
            serving(metrics_service(servicer)) as target,
            open_channel(target, ChannelSettings()) as channel,
        ):
            stub = metrics_pb2_grpc.MetricsServiceStub(channel)
            return await stub.GetCampaign(mpb.GetCampaignRequest(campaign_id="c"))

    campaign = asyncio.run(main())

    assert campaign.id == "c"
    assert servicer.calls == ["GetCampaign", "GetCampaign"]


def test_a_call_that_is_not_idempotent_is_never_sent_twice() -> None:
    servicer = Metrics()
    servicer.unavailable_once.add("CreateCampaign")

    async def main() -> grpc.StatusCode:
        async with (
            serving(metrics_service(servicer)) as target,
            open_channel(target, ChannelSettings()) as channel,
        ):
            stub = metrics_pb2_grpc.MetricsServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.CreateCampaign(mpb.CreateCampaignRequest(name="n"))
            return failed.value.code()

    code = asyncio.run(main())

    assert code is grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == ["CreateCampaign"]


def test_every_method_listed_as_idempotent_exists() -> None:
    services = {
        **mpb.DESCRIPTOR.services_by_name,
        **contacts_pb2.DESCRIPTOR.services_by_name,
        **ingest_pb2.DESCRIPTOR.services_by_name,
        **health_pb2.DESCRIPTOR.services_by_name,
    }
    by_full_name = {service.full_name: service for service in services.values()}

    for service, methods in IDEMPOTENT.items():
        known = set(by_full_name[service].methods_by_name)
        assert set(methods) <= known, service


def test_a_call_without_a_timeout_gets_the_default_deadline() -> None:
    servicer = Metrics()

    async def main() -> None:
        async with (
            serving(metrics_service(servicer)) as target,
            open_channel(target, ChannelSettings(timeout_s=3)) as channel,
        ):
            stub = metrics_pb2_grpc.MetricsServiceStub(channel)
            await stub.GetCampaign(mpb.GetCampaignRequest())

    asyncio.run(main())

    (remaining,) = servicer.remaining
    assert remaining is not None
    assert 0 < remaining <= 3


def test_a_call_fails_at_once_while_its_service_is_down() -> None:
    target = f"127.0.0.1:{free_port()}"

    async def main() -> grpc.StatusCode:
        async with open_channel(target, ChannelSettings(timeout_s=5)) as channel:
            stub = metrics_pb2_grpc.MetricsServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetCampaign(mpb.GetCampaignRequest())
            return refused.value.code()

    assert asyncio.run(main()) == grpc.StatusCode.UNAVAILABLE


def test_a_call_that_waits_for_ready_is_served_once_its_service_is_back() -> None:
    port = free_port()
    servicer = Metrics()

    async def main() -> str:
        config = ChannelSettings(timeout_s=10, wait_for_ready=True)
        async with open_channel(f"127.0.0.1:{port}", config) as channel:
            stub = metrics_pb2_grpc.MetricsServiceStub(channel)
            # Refused connections first put the channel in backoff.
            call = asyncio.ensure_future(stub.GetCampaign(mpb.GetCampaignRequest()))
            await asyncio.sleep(1.5)
            assert not call.done()
            async with serving(metrics_service(servicer), port=port):
                campaign = await call
        return campaign.name

    assert asyncio.run(main()) == "metrics"


def test_a_served_call_passes_its_remaining_time_to_the_calls_it_makes() -> None:
    metrics, contacts = Metrics(), Contacts()

    async def main() -> None:
        async with (
            serving(contacts_service(contacts)) as contacts_target,
            open_channel(contacts_target, ChannelSettings(timeout_s=30)) as down,
            serving(metrics_service(metrics)) as metrics_target,
            open_channel(metrics_target, ChannelSettings()) as channel,
        ):
            metrics.downstream = down
            stub = metrics_pb2_grpc.MetricsServiceStub(channel)
            await stub.GetCampaign(mpb.GetCampaignRequest(), timeout=2)

    asyncio.run(main())

    (remaining,) = contacts.remaining
    assert remaining is not None
    assert 0 < remaining <= 2


def test_round_robin_spreads_calls_over_every_address_of_the_target() -> None:
    first, second = Metrics("first"), Metrics("second")

    async def main() -> set[str]:
        async with (
            serving(metrics_service(first)) as one,
            serving(metrics_service(second)) as two,
        ):
            target = f"ipv4:{one},{two}"
            async with open_channel(target, ChannelSettings()) as channel:
                stub = metrics_pb2_grpc.MetricsServiceStub(channel)
                await channel.channel_ready()
                replies = [
                    await stub.GetCampaign(mpb.GetCampaignRequest()) for _ in range(6)
                ]
        return {reply.name for reply in replies}

    answered_by = asyncio.run(main())

    assert answered_by == {"first", "second"}


def test_messages_larger_than_the_limit_are_refused_on_both_sides() -> None:
    servicer = Metrics()
    limit = 4096
    large = "x" * (2 * limit)

    async def main() -> tuple[grpc.StatusCode, grpc.StatusCode]:
        async with (
            serving(
                metrics_service(servicer), Settings(grpc_max_message_bytes=limit)
            ) as target,
            open_channel(target, ChannelSettings()) as roomy,
            open_channel(target, ChannelSettings(max_message_bytes=limit)) as small,
        ):
            with pytest.raises(grpc.aio.AioRpcError) as received:
                await metrics_pb2_grpc.MetricsServiceStub(roomy).GetCampaign(
                    mpb.GetCampaignRequest(campaign_id=large)
                )
            with pytest.raises(grpc.aio.AioRpcError) as sent:
                await metrics_pb2_grpc.MetricsServiceStub(small).GetCampaign(
                    mpb.GetCampaignRequest(campaign_id=large)
                )
        return received.value.code(), sent.value.code()

    by_server, by_client = asyncio.run(main())

    assert by_server is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert by_client is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert servicer.calls == []


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, str]:
    """A CA and a certificate it signed for 127.0.0.1, as files."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    paths = {
        "ca": tmp_path / "ca.pem",
        "cert": tmp_path / "cert.pem",
        "key": tmp_path / "key.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    issued.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    issued.private_key_pem.write_to_path(str(paths["key"]))
    return {name: str(path) for name, path in paths.items()}


def test_services_talk_over_mutual_tls_when_configured(
    certificates: dict[str, str],
) -> None:
    servicer = Metrics()
    settings = Settings(
        grpc_tls_cert=certificates["cert"],
        grpc_tls_key=certificates["key"],
        grpc_tls_ca=certificates["ca"],
    )
    trusted = ChannelSettings.of(settings)
    anonymous = ChannelSettings(tls_ca=certificates["ca"])
    request = mpb.GetCampaignRequest(campaign_id="c")

    async def main() -> tuple[str, grpc.StatusCode, grpc.StatusCode]:
        async with serving(metrics_service(servicer), settings) as target:
            async with open_channel(target, trusted) as channel:
                stub = metrics_pb2_grpc.MetricsServiceStub(channel)
                campaign = await stub.GetCampaign(request)
            refused = []
            for config in (ChannelSettings(), anonymous):
                async with open_channel(target, config) as channel:
                    stub = metrics_pb2_grpc.MetricsServiceStub(channel)
                    with pytest.raises(grpc.aio.AioRpcError) as failed:
                        await stub.GetCampaign(request, timeout=2)
                    refused.append(failed.value.code())
        return campaign.id, refused[0], refused[1]

    answered, plain_text, without_certificate = asyncio.run(main())

    assert answered == "c"
    assert plain_text is grpc.StatusCode.UNAVAILABLE
    assert without_certificate is grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == ["GetCampaign"]


def test_sigterm_drains_calls_in_flight_after_health_says_not_serving() -> None:
    servicer = Metrics()
    servicer.hold = asyncio.Event()
    events: list[str] = []

    async def closed() -> None:
        events.append("closed")

    def register(server: grpc.aio.Server) -> list[str]:
        return metrics_service(servicer)(server)

    async def main() -> None:
        port = free_port()
        target = f"127.0.0.1:{port}"
        served = asyncio.create_task(
            grpcserver.serve(
                name="test",
                host="127.0.0.1",
                port=port,
                register=register,
                settings=Settings(),
                on_shutdown=closed,
            )
        )
        await listening(port)
        async with (
            open_channel(target, ChannelSettings()) as channel,
            grpc.aio.insecure_channel(target) as plain,
        ):
            health = health_pb2_grpc.HealthStub(plain).Watch(
                health_pb2.HealthCheckRequest()
            )
            assert (await health.read()).status == SERVING
            stub = metrics_pb2_grpc.MetricsServiceStub(channel)
            in_flight = asyncio.ensure_future(
                stub.GetCampaign(mpb.GetCampaignRequest(campaign_id="c"))
            )
            await servicer.held.wait()

            os.kill(os.getpid(), signal.SIGTERM)
            assert (await health.read()).status == NOT_SERVING
            health.cancel()
            events.append("not serving")
            assert servicer.hold is not None
            servicer.hold.set()
            events.append(f"answered {(await in_flight).id}")
            await asyncio.wait_for(served, 30)

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetCampaign(mpb.GetCampaignRequest(), timeout=1)
            assert refused.value.code() in {
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            }

    # Should serve() not take SIGTERM, this keeps it from ending pytest.
    previous = signal.signal(signal.SIGTERM, lambda *_: events.append("missed"))
    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert events == ["not serving", "answered c", "closed"]
