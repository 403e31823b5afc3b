"""Percentages, rates and the warnings a campaign page shows.

Pure arithmetic on counts; every figure is a percentage with one decimal,
rounded half up on the exact fraction rather than on a float.
"""

from __future__ import annotations

# Below this many messages a rate says more about chance than about the
# list, so no warning is drawn from it.
MIN_TO_JUDGE = 20
LOW_DELIVERY_RATE = 90.0
LOW_READ_RATE = 30.0
HIGH_OPT_OUT_RATE = 2.0
# Replies per delivered message that marketing broadcasts usually see;
# below, the message asks for nothing; far above, check it is not a
# complaint.
USUAL_REPLY_MIN = 5.0
USUAL_REPLY_MAX = 15.0

READ_FLOOR_NOTE = (
    "Read counts are a floor: many people turn off read receipts, and"
    " their reads never reach us."
)


def percent(part: int, whole: int) -> float:
    """part of whole, 0-100 with one decimal; 0 when whole is 0."""
    if whole <= 0:
        return 0.0
    tenths = (part * 2000 + whole) // (2 * whole)
    return tenths / 10


def rate(part: int, whole: int) -> float | None:
    """Like percent, but None when there is nothing to divide by."""
    return percent(part, whole) if whole > 0 else None


def warnings(*, sent: int, delivered: int, read: int, opted_out: int) -> list[str]:
    """Plain advice for the rates that fall outside the usual range."""
    found = []
    delivery = percent(delivered, sent)
    if sent >= MIN_TO_JUDGE and delivery < LOW_DELIVERY_RATE:
        found.append(
            f"Only {delivery}% of sent messages were delivered: clean the"
            " list of numbers that are invalid or not on WhatsApp."
        )

    if delivered < MIN_TO_JUDGE:
        return found
    reads = percent(read, delivered)
    if reads < LOW_READ_RATE:
        found.append(
            f"Only {reads}% of delivered messages were read: try another"
            " send time or a better-matched audience."
        )
    opt_outs = percent(opted_out, delivered)
    if opt_outs >= HIGH_OPT_OUT_RATE:
        found.append(
            f"{opt_outs}% of recipients opted out: review the message and"
            " how often this audience hears from you."
        )
    return found
