"""ContactsService/FilterSendable answering a sender's batch of 10,000."""

from __future__ import annotations

from typing import Any

from bench.timing import sample_ms, summary
from tests.stack import Stack
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.ingest.v1 import events_pb2

WORKSPACE = "bench"
NUMBER = "100000000000001"
KNOWN = 20_000
BATCH = 10_000


def _phone(index: int) -> str:
    return f"1666{index:07d}"


def _seed(stub: contacts_pb2_grpc.ContactsServiceStub) -> None:
    """KNOWN contacts, one in ten of them opted out by a STOP."""
    for start in range(0, KNOWN, 5_000):
        batch = events_pb2.EventBatch()
        for index in range(start, start + 5_000):
            message = batch.messages.add(
                phone_number_id=NUMBER,
                workspace_id=WORKSPACE,
                wamid=f"wamid.bench-in-{index}",
                sender=_phone(index),
                type="text",
                text="STOP" if index % 10 == 0 else "hello",
                opt_out=index % 10 == 0,
            )
            message.occurred_at.FromSeconds(1_767_000_000 + index)
        stub.RecordEvents(contacts_pb2.RecordEventsRequest(batch=batch), timeout=120)


def measure(stack: Stack, **_: Any) -> dict[str, Any]:
    with stack.channel("contacts") as channel:
        stub = contacts_pb2_grpc.ContactsServiceStub(channel)
        _seed(stub)
        # Half the batch is known contacts, half numbers never seen.
        phones = [_phone(i) for i in range(0, KNOWN, 4)] + [
            _phone(KNOWN + i) for i in range(BATCH // 2)
        ]
        request = contacts_pb2.FilterSendableRequest(
            workspace_id=WORKSPACE, phones=phones
        )

        answer = stub.FilterSendable(request, timeout=30)
        refused = sum(not result.sendable for result in answer.results)
        assert len(answer.results) == BATCH and refused == BATCH // 10

        samples = sample_ms(
            lambda _: stub.FilterSendable(request, timeout=30), count=100
        )
    stats = summary(samples)
    return {
        "filter_sendable_10k_p95_ms": stats["p95_ms"],
        "filter_sendable_10k": stats,
    }
