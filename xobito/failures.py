"""The failure catalogue: what each Meta error code means for a campaign.

CATALOGUE is the one table of the error codes a campaign meets. Each
entry says which failure category the code belongs to, what the user
should do about it, whether the same message can succeed later unchanged,
and what the failure says about the contact.

Titles: FailureInfo.title is ours, written for people; an event keeps
the title Meta sent with it and falls back to ours when Meta sent none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from enum import Enum, StrEnum
from types import MappingProxyType


class FailureCategory(StrEnum):
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    INVALID_NUMBER = "invalid_number"
    OPTED_OUT_OR_BLOCKED = "opted_out_or_blocked"
    TEMPLATE_UNAVAILABLE = "template_unavailable"
    TEMPLATE_PARAMS_MISMATCH = "template_params_mismatch"
    QUALITY_THROTTLED = "quality_throttled"
    TIER_LIMIT_REACHED = "tier_limit_reached"
    MARKETING_FREQUENCY_CAP = "marketing_frequency_cap"
    OUTSIDE_SERVICE_WINDOW = "outside_service_window"
    RATE_LIMITED = "rate_limited"
    EXPERIMENT = "experiment"
    ACCOUNT_PROBLEM = "account_problem"
    MESSAGE_INVALID = "message_invalid"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


class ContactEffect(Enum):
    """What a failure says about the contact it was sent to."""

    NONE = "none"
    COUNTS_TOWARD_INACTIVE = "counts_toward_inactive"
    OPT_OUT = "opt_out"


@dataclass(frozen=True, slots=True)
class FailureInfo:
    """One error code, explained.

    `retryable`: sending the same message later, unchanged, can succeed;
    `retry_after` is the least wait worth trying, when one is known.
    """

    code: int
    category: FailureCategory
    title: str
    action: str
    retryable: bool
    retry_after: timedelta | None
    contact_effect: ContactEffect


# Only a number that cannot receive at all says something lasting about
# the contact, and only their own stop opts them out; every other failure
# is about the business, the message or the moment (131049 in particular
# is Meta's cap, not a dead number).
_EFFECTS = {
    FailureCategory.NOT_ON_WHATSAPP: ContactEffect.COUNTS_TOWARD_INACTIVE,
    FailureCategory.INVALID_NUMBER: ContactEffect.COUNTS_TOWARD_INACTIVE,
    FailureCategory.OPTED_OUT_OR_BLOCKED: ContactEffect.OPT_OUT,
}

_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def _entry(
    code: int,
    category: FailureCategory,
    title: str,
    action: str,
    *,
    retry_after: timedelta | None = None,
    retryable: bool | None = None,
) -> FailureInfo:
    # A wait that is worth trying means the failure is retryable, unless
    # the entry says so explicitly (when Meta names no wait).
    if retryable is None:
        retryable = retry_after is not None
    return FailureInfo(
        code=code,
        category=category,
        title=title,
        action=action,
        retryable=retryable,
        retry_after=retry_after,
        contact_effect=_EFFECTS.get(category, ContactEffect.NONE),
    )


_C = FailureCategory
_ENTRIES = (
    # The recipient cannot receive.
    _entry(
        131026,
        _C.NOT_ON_WHATSAPP,
        "Recipient can't receive WhatsApp messages",
        "The number may not be on WhatsApp, or uses an old app version, "
        "or has not accepted WhatsApp's latest terms. Confirm the number "
        "with the contact another way; resending as is will fail again.",
    ),
    _entry(
        100,
        _C.INVALID_NUMBER,
        "Invalid parameter",
        "Meta rejected the send because a value, usually the phone number, "
        "is not valid. Check the number has its country code and digits "
        "only.",
    ),
    _entry(
        131009,
        _C.INVALID_NUMBER,
        "Invalid phone number",
        "The recipient's number is not a valid phone number. Correct it "
        "(country code, no leading zeros) before sending again.",
    ),
    _entry(
        131021,
        _C.INVALID_NUMBER,
        "Recipient is the sender",
        "The message was addressed to the business's own number. Remove "
        "that number from the recipients.",
    ),
    _entry(
        131050,
        _C.OPTED_OUT_OR_BLOCKED,
        "Recipient stopped marketing messages",
        "The recipient chose to stop marketing messages from your "
        "business. They are marked opted out; send them marketing again "
        "only after they opt back in.",
    ),
    # The template cannot be used.
    _entry(
        132001,
        _C.TEMPLATE_UNAVAILABLE,
        "Template does not exist",
        "No approved template has this name and language. Check both in "
        "WhatsApp Manager, or wait for the template's approval.",
    ),
    _entry(
        132007,
        _C.TEMPLATE_UNAVAILABLE,
        "Template breaks format policy",
        "The template's content breaks WhatsApp's format policy. Edit it "
        "and submit it for review again.",
    ),
    _entry(
        132015,
        _C.TEMPLATE_UNAVAILABLE,
        "Template paused",
        "Meta paused the template after low quality feedback, for 3 hours "
        "the first time and 6 the second. Resend after the pause or use "
        "another template.",
        retry_after=3 * _HOUR,
    ),
    _entry(
        132016,
        _C.TEMPLATE_UNAVAILABLE,
        "Template disabled",
        "Meta disabled the template after repeated low quality feedback. "
        "It cannot be sent again; create a new template.",
    ),
    _entry(
        132000,
        _C.TEMPLATE_PARAMS_MISMATCH,
        "Wrong number of template variables",
        "The number of values sent does not match the template's "
        "placeholders. Fix the campaign's variable mapping.",
    ),
    _entry(
        132005,
        _C.TEMPLATE_PARAMS_MISMATCH,
        "Template text too long",
        "With its variables filled in, the message is longer than "
        "WhatsApp allows. Shorten the values sent for the variables.",
    ),
    _entry(
        132008,
        _C.TEMPLATE_PARAMS_MISMATCH,
        "Template variables not valid",
        "A value sent for a template variable was refused. Check every "
        "variable against the template and fix the campaign's mapping.",
    ),
    _entry(
        132012,
        _C.TEMPLATE_PARAMS_MISMATCH,
        "Template variable in the wrong format",
        "A variable's value does not have the format the template "
        "expects (text, currency, date, media). Fix the value's type.",
    ),
    # The sending number is held back.
    _entry(
        131048,
        _C.QUALITY_THROTTLED,
        "Sending limited for low quality",
        "Too many recent messages from this number were blocked or "
        "reported, so Meta limits what it sends. Pause the campaign, "
        "improve targeting and content, and resume once quality recovers.",
        retryable=True,
    ),
    _entry(
        131064,
        _C.TIER_LIMIT_REACHED,
        "Messaging limit reached",
        "The number reached its limit of people it may message in a "
        "rolling 24 hours. Send the rest when the window rolls over; the "
        "limit grows with good quality and volume.",
        retry_after=_DAY,
    ),
    _entry(
        131049,
        _C.MARKETING_FREQUENCY_CAP,
        "Per-user marketing limit",
        "Meta held this marketing message back because the person has "
        "received many marketing messages lately, from any business. "
        "Nothing is wrong with the number; try again after a day, then "
        "at longer intervals.",
        retry_after=_DAY,
    ),
    _entry(
        131047,
        _C.OUTSIDE_SERVICE_WINDOW,
        "Outside the 24-hour window",
        "More than 24 hours have passed since the contact last wrote, so "
        "only an approved template may be sent. Resend it as a template.",
    ),
    _entry(
        470,
        _C.OUTSIDE_SERVICE_WINDOW,
        "Outside the 24-hour window",
        "More than 24 hours have passed since the contact last wrote, so "
        "only an approved template may be sent. Resend it as a template.",
    ),
    # Too fast.
    _entry(
        130429,
        _C.RATE_LIMITED,
        "Throughput limit reached",
        "Messages went out faster than the number's throughput allows. "
        "Slow the sending down and retry the failed ones shortly.",
        retry_after=_MINUTE,
    ),
    _entry(
        131056,
        _C.RATE_LIMITED,
        "Too many messages to one person",
        "Too many messages went to the same person in a short time. Wait "
        "before sending to them again.",
        retry_after=_MINUTE,
    ),
    _entry(
        4,
        _C.RATE_LIMITED,
        "App call limit reached",
        "The app made too many API calls. Sending can resume when Meta's "
        "limit resets, within the hour.",
        retry_after=_HOUR,
    ),
    _entry(
        80007,
        _C.RATE_LIMITED,
        "Account rate limit reached",
        "The WhatsApp Business Account reached its API rate limit. Retry "
        "later, more slowly.",
        retry_after=_HOUR,
    ),
    _entry(
        130472,
        _C.EXPERIMENT,
        "Recipient in a Meta experiment",
        "Meta did not deliver this marketing message because the person "
        "is part of a Meta experiment. Nothing needs fixing; it says "
        "nothing about the campaign or the contact.",
    ),
    # The business account itself.
    _entry(
        368,
        _C.ACCOUNT_PROBLEM,
        "Account blocked for policy violations",
        "The business account is temporarily blocked for breaking "
        "WhatsApp's policies. See Business Support Home; sending resumes "
        "when the block ends.",
        retryable=True,
    ),
    _entry(
        131031,
        _C.ACCOUNT_PROBLEM,
        "Account locked",
        "The business account is locked, for a policy violation or a "
        "failed verification. Resolve it in Business Support Home first.",
    ),
    _entry(
        131042,
        _C.ACCOUNT_PROBLEM,
        "Payment problem",
        "The account's payment method has a problem. Fix the payment "
        "settings in WhatsApp Manager, then send again.",
    ),
    _entry(
        131030,
        _C.ACCOUNT_PROBLEM,
        "Recipient not in the allowed list",
        "A test number may only message numbers on its allowed list. Add "
        "the recipient there, or send from a production number.",
    ),
    _entry(
        130497,
        _C.ACCOUNT_PROBLEM,
        "Country restricted",
        "The business account may not message people in the recipient's "
        "country. Remove those recipients or contact Meta support.",
    ),
    _entry(
        131037,
        _C.ACCOUNT_PROBLEM,
        "Display name not approved",
        "The sending number's display name needs Meta's approval before "
        "it can send. Wait for the approval in WhatsApp Manager.",
    ),
    _entry(
        133010,
        _C.ACCOUNT_PROBLEM,
        "Sending number not registered",
        "The sending number is not registered with the Cloud API. "
        "Register it, then send again.",
    ),
    _entry(
        190,
        _C.ACCOUNT_PROBLEM,
        "Access token expired",
        "The access token the sender uses has expired or was revoked. "
        "Reconnect the account to get a new one.",
    ),
    _entry(
        10,
        _C.ACCOUNT_PROBLEM,
        "Permission denied",
        "The app lacks a permission it needs, or it was removed. Check "
        "the app's permissions and reconnect the account.",
    ),
    # The message itself.
    _entry(
        131051,
        _C.MESSAGE_INVALID,
        "Unsupported message type",
        "WhatsApp does not support this kind of message. Send another kind.",
    ),
    _entry(
        131053,
        _C.MESSAGE_INVALID,
        "Media could not be uploaded",
        "The message's media could not be used: check its file type, "
        "size and link, then send again.",
    ),
    _entry(
        131008,
        _C.MESSAGE_INVALID,
        "Required parameter missing",
        "The send request lacked a required value. The sender must be "
        "fixed before these messages can go out.",
    ),
    # Meta's side, for now.
    _entry(
        131000,
        _C.TRANSIENT,
        "Something went wrong",
        "Meta could not send the message for an unknown reason. Retry; "
        "if it keeps failing, contact Meta support.",
        retry_after=5 * _MINUTE,
    ),
    _entry(
        131016,
        _C.TRANSIENT,
        "Service unavailable",
        "WhatsApp was unavailable for a moment. Retry in a few minutes.",
        retry_after=5 * _MINUTE,
    ),
    _entry(
        1,
        _C.TRANSIENT,
        "Unknown API error",
        "Meta's API failed for an unknown reason. Retry in a few minutes.",
        retry_after=5 * _MINUTE,
    ),
    _entry(
        2,
        _C.TRANSIENT,
        "Service temporarily unavailable",
        "Meta's API was down or overloaded. Check the WhatsApp Business "
        "Platform status page and retry in a few minutes.",
        retry_after=5 * _MINUTE,
    ),
    _entry(
        131057,
        _C.TRANSIENT,
        "Account in maintenance",
        "The business account is in maintenance mode, usually for a "
        "throughput upgrade. Retry when it ends, within the hour.",
        retry_after=_HOUR,
    ),
)

CATALOGUE = MappingProxyType({info.code: info for info in _ENTRIES})
"""Every error code we know, by code."""

_UNKNOWN = _entry(
    0,
    FailureCategory.UNKNOWN,
    "Unknown error",
    "Meta reported an error this catalogue does not know yet. Look the "
    "code up in Meta's error code reference.",
)


def lookup(code: int, meta_title: str = "") -> FailureInfo:
    """The catalogue entry for `code`; Meta's title for an unknown one."""
    known = CATALOGUE.get(code)
    if known is not None:
        return known

    title = meta_title or f"Unknown error {code}"
    return replace(_UNKNOWN, code=code, title=title)
