"""The contacts service, as metrics calls it: send rejections only."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from services.metrics.rejections import Rejection
from xobito.channels import ChannelSettings, open_channel
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.errors import UnavailableError
from xobito.timestamps import to_timestamp


class ContactsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout_s: float) -> None:
        self._channel = channel
        self._stub = contacts_pb2_grpc.ContactsServiceStub(channel)
        self._timeout_s = timeout_s

    @classmethod
    def connect(cls, target: str, config: ChannelSettings) -> ContactsClient:
        """A client of target (xobito.channels); it connects on first use.

        Called while metrics serves RecordSends, it ends no later than
        that call's own deadline.
        """
        return cls(open_channel(target, config), config.timeout_s)

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
