from __future__ import annotations

import json

import pytest

from services.ingest.signature import SignatureError, sign, verify

SECRET = "app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_a_signature_made_with_the_secret_verifies() -> None:
    verify(BODY, sign(BODY, SECRET), SECRET)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, sign(BODY, "another-secret"), SECRET)


def test_a_signature_of_another_body_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY + b" ", sign(BODY, SECRET), SECRET)


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_signature_is_refused(header: str | None) -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify(BODY, header, SECRET)


@pytest.mark.parametrize(
    "header",
    [
        "sha1=" + "0" * 64,
        "sha256",
        "sha256=",
        "sha256=" + "0" * 63,
        "sha256=" + "g" * 64,
        "sha256=" + "0" * 65,
        "0" * 64,
    ],
)
def test_a_malformed_signature_is_refused(header: str) -> None:
    with pytest.raises(SignatureError, match="not sha256="):
        verify(BODY, header, SECRET)


def test_an_upper_case_hex_digest_verifies() -> None:
    scheme, _, digest = sign(BODY, SECRET).partition("=")

    verify(BODY, f"{scheme}={digest.upper()}", SECRET)


def test_the_raw_bytes_are_verified_not_their_json() -> None:
    # Meta escapes "/" and non-ASCII, and keeps 1.50 as written; Python's
    # json would write the same document differently.
    raw = b'{"text":"M\\u00e4rz 2\\/3","price":1.50,"emoji":"\\ud83d\\ude00"}'
    reencoded = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    assert reencoded != raw

    verify(raw, sign(raw, SECRET), SECRET)
    with pytest.raises(SignatureError):
        verify(reencoded, sign(raw, SECRET), SECRET)
