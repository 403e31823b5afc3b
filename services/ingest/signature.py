"""Meta's webhook signature: X-Hub-Signature-256 over the raw body.

The HMAC covers the exact bytes Meta sent. Parsing and re-serializing
the JSON first would change escapes, number formats and key order, and
a genuine webhook would no longer verify.
"""

from __future__ import annotations

import hashlib
import hmac
import string

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX_DIGEST_LENGTH = 64
_HEX_DIGITS = frozenset(string.hexdigits)


class SignatureError(Exception):
    """The signature header is missing, malformed, or does not match."""


def sign(body: bytes, secret: str) -> str:
    """The header value Meta sends with body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{_PREFIX}{digest}"


def verify(body: bytes, header: str | None, secret: str) -> None:
    """Raise SignatureError unless header signs body with secret."""
    if not header:
        raise SignatureError(f"{HEADER} is missing")

    scheme, _, digest = header.strip().partition("=")
    digest = digest.lower()
    if (
        scheme.lower() != "sha256"
        or len(digest) != _HEX_DIGEST_LENGTH
        or not set(digest) <= _HEX_DIGITS
    ):
        raise SignatureError(f"{HEADER} is not sha256=<hex digest>")

    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest):
        raise SignatureError(f"{HEADER} does not match the body")
