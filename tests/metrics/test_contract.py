"""Every RPC of MetricsService has an implementation."""

from __future__ import annotations

from services.metrics.servicer import MetricsServicer
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceServicer


def test_the_servicer_implements_every_rpc_of_the_proto() -> None:
    rpcs = pb.DESCRIPTOR.services_by_name["MetricsService"].methods_by_name

    missing = [
        name
        for name in rpcs
        if getattr(MetricsServicer, name) is getattr(MetricsServiceServicer, name)
    ]

    assert missing == []
