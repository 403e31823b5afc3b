"""Subscription sockets go uncompressed.

Counter updates are a hundred bytes, and per-message deflate would keep
a compressor and a decompressor for every open socket: some 40 MB per
1,000 idle dashboards (make bench, "subscriptions").
"""

from __future__ import annotations

from tests.gateway.wsclient import socket
from tests.stack import Stack


def test_a_socket_offered_per_message_deflate_opens_without_it(
    gateway: Stack,
) -> None:
    # The websockets client offers permessage-deflate, as browsers do.
    with socket(gateway.gateway_url) as ws:
        offered = ws.connection.request.headers["Sec-WebSocket-Extensions"]
        accepted = ws.connection.response.headers.get("Sec-WebSocket-Extensions")

    assert "permessage-deflate" in offered
    assert accepted is None
