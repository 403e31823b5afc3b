"""The contacts service, as metrics calls it: send rejections only."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from services.metrics.rejections import Rejection
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.errors import UnavailableError
from xobito.timestamps import to_timestamp

# Reconnect within seconds once contacts is back, rather than after
# gRPC's default backoff of up to two minutes.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class ContactsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout_s: float) -> None:
        self._channel = channel
        self._stub = contacts_pb2_grpc.ContactsServiceStub(channel)
        self._timeout_s = timeout_s

    @classmethod
    def connect(cls, target: str, timeout_s: float) -> ContactsClient:
        """A client of target; the channel connects on first use."""
        channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        return cls(channel, timeout_s)

    async def close(self) -> None:
        await self._channel.close(grace=None)

    async def record_rejections(self, rejections: Sequence[Rejection]) -> None:
        """Have contacts record the rejections, or raise UnavailableError.

        Contacts records a rejection once however often it is told, so
        the sender may record the sends again until this succeeds.
        """
        if not rejections:
            return
        request = contacts_pb2.RecordSendRejectionsRequest(
            rejections=[
                contacts_pb2.SendRejection(
                    workspace_id=r.workspace_id,
                    phone=r.phone,
                    send_id=r.send_id,
                    error_code=r.error_code,
                    error_title=r.error_title,
                    rejected_at=to_timestamp(r.at),
                )
                for r in rejections
            ]
        )
        try:
            await self._stub.RecordSendRejections(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise UnavailableError(
                f"contacts did not record the send rejections ({exc.code().name});"
                " record the sends again"
            ) from exc
