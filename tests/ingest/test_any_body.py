"""Whatever a signed body holds, ingest answers 200 or 400, never 5xx.

A 5xx makes Meta redeliver the same body for days; only a service or a
store being down may earn one. The bodies are webhook-shaped, mostly
with values Meta could send, so that they reach deep into the parser,
routing and the store.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.examples import examples
from tests.stack import Stack

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
digits = st.from_regex(r"\A[0-9]{1,20}\Z")
epoch = st.integers(1_500_000_000, 1_900_000_000)
plausible = st.one_of(
    digits,
    epoch,
    epoch.map(str),
    st.sampled_from(["sent", "delivered", "read", "failed", "text", "stop"]),
    st.text(min_size=1, max_size=8),
    anything,
)


def mostly(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """strategy seven times in eight, anything at all otherwise."""
    return st.integers(0, 7).flatmap(lambda n: strategy if n else anything)


def element(
    keys: tuple[str, ...], optional: tuple[str, ...] = ()
) -> st.SearchStrategy[Any]:
    """An object with keys and some of optional, holding plausible values."""
    return mostly(
        st.fixed_dictionaries(
            dict.fromkeys(keys, plausible),
            optional=dict.fromkeys(optional, plausible),
        )
    )


status = element(
    ("id", "status", "timestamp"),
    ("recipient_id", "errors", "pricing"),
)
message = element(("from", "id", "timestamp", "type"), ("text", "context"))
error = element(("code",), ("title", "message", "error_data"))
preference = element(("wa_id", "value", "timestamp"), ("category",))
value = st.fixed_dictionaries(
    {},
    optional={
        "metadata": element(("phone_number_id",)),
        "statuses": mostly(st.lists(status, max_size=3)),
        "messages": mostly(st.lists(message, max_size=3)),
        "errors": mostly(st.lists(error, max_size=2)),
        "user_preferences": mostly(st.lists(preference, max_size=2)),
        "contacts": st.lists(element(("wa_id", "profile")), max_size=2),
        "event": plausible,
        "message_template_id": plausible,
    },
)
field = st.sampled_from(
    [
        "messages",
        "messages",
        "user_preferences",
        "message_template_status_update",
        "phone_number_quality_update",
        "account_update",
        "something_else",
    ]
)
change = mostly(
    st.fixed_dictionaries(
        {"field": mostly(field), "value": mostly(value)},
    )
)
entry = mostly(
    st.fixed_dictionaries(
        {"id": plausible, "changes": mostly(st.lists(change, max_size=3))},
        optional={"time": plausible},
    )
)
webhook = st.fixed_dictionaries(
    {
        "object": mostly(st.just("whatsapp_business_account")),
        "entry": mostly(st.lists(entry, max_size=3)),
    }
)


@settings(
    max_examples=examples(4),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(document=webhook)
def test_a_signed_body_is_answered_200_or_400(
    stack: Stack,
    document: Any,
) -> None:
    # The standard library writes integers of any size, and escapes lone
    # surrogates, both of which a JSON body may hold.
    body = json.dumps(document).encode()

    reply = stack.post_webhook(body)

    assert reply.status_code in (200, 400), reply.text
