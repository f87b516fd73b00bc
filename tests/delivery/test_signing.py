"""Standard Webhooks signatures: the spec's own test vector, rotation, tolerance, tampering.

The test vector is the one of the Standard Webhooks reference libraries: secret, message
id, timestamp, payload and expected signature from ``test_sign_function`` in
https://github.com/standard-webhooks/standard-webhooks/blob/main/libraries/python/tests/test_webhooks.py
(commit 33d368b20c5543357f4f27fd13bed0703b8c5204), with the deliberately wrong signature
and the mixed signature list of its ``test_invalid_signature_raises_error`` and
``test_multi_sig_payload_is_valid``. The scheme is that of the spec,
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
("Signature scheme", "Webhook headers", "Verifying signatures").
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from smslocker.delivery.signing import (
    DEFAULT_TOLERANCE_S,
    WebhookHeaderError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
    generate_secret,
    sign,
    verify,
    webhook_headers,
)

# The reference libraries' test vector (see the module docstring).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
VECTOR_WRONG_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
VECTOR_OTHER_SIGNATURE = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="


def vector_headers(signature: str = VECTOR_SIGNATURE) -> dict[str, str]:
    return {
        "webhook-id": VECTOR_MSG_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": signature,
    }


# --------------------------------------------------------------------------- the spec's vector


def test_signing_reproduces_the_reference_signature() -> None:
    assert sign(VECTOR_SECRET, VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_reference_delivery_verifies() -> None:
    verify(VECTOR_SECRET, vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP)
    # The reference libraries also take the secret without its prefix.
    verify(VECTOR_SECRET.removeprefix("whsec_"), vector_headers(), VECTOR_BODY, VECTOR_TIMESTAMP)


def test_the_reference_wrong_signature_is_refused() -> None:
    with pytest.raises(WebhookSignatureError):
        verify(VECTOR_SECRET, vector_headers(VECTOR_WRONG_SIGNATURE), VECTOR_BODY, VECTOR_TIMESTAMP)


def test_any_matching_signature_in_the_list_is_enough() -> None:
    """Rotation: the list mixes wrong v1 signatures, another version, and the good one."""
    signatures = " ".join(
        [
            VECTOR_OTHER_SIGNATURE,
            VECTOR_OTHER_SIGNATURE.replace("v1,", "v2,"),
            VECTOR_SIGNATURE,
            VECTOR_OTHER_SIGNATURE,
        ]
    )
    verify(VECTOR_SECRET, vector_headers(signatures), VECTOR_BODY, VECTOR_TIMESTAMP)


def test_the_right_digest_under_another_version_is_refused() -> None:
    for entry in ("v1a," + VECTOR_SIGNATURE[3:], VECTOR_SIGNATURE[3:], "v2" + VECTOR_SIGNATURE[2:]):
        with pytest.raises(WebhookSignatureError):
            verify(VECTOR_SECRET, vector_headers(entry), VECTOR_BODY, VECTOR_TIMESTAMP)


# --------------------------------------------------------------------------- rotation, headers


def test_a_delivery_signed_with_old_and_new_secrets_verifies_with_either() -> None:
    old, new = generate_secret(), generate_secret()
    headers = webhook_headers([old, new], "msg_1", 1_700_000_000, b"{}")
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        verify(secret, headers, b"{}", now=1_700_000_000)
    with pytest.raises(WebhookSignatureError):
        verify(generate_secret(), headers, b"{}", now=1_700_000_000)
    with pytest.raises(ValueError, match="at least one secret"):
        webhook_headers([], "msg_1", 1_700_000_000, b"{}")


def test_header_names_match_ignoring_case() -> None:
    headers = {name.title(): value for name, value in vector_headers().items()}
    assert "Webhook-Signature" in headers
    verify(VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TIMESTAMP)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing: str) -> None:
    headers = vector_headers()
    del headers[missing]
    with pytest.raises(WebhookHeaderError, match=missing):
        verify(VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TIMESTAMP)


@pytest.mark.parametrize(
    "timestamp", ["hello", "", " 1614265330", "+1614265330", "1614_265330", "1614265330.0", "-1"]
)
def test_a_timestamp_that_is_not_integer_seconds_is_refused(timestamp: str) -> None:
    headers = vector_headers() | {"webhook-timestamp": timestamp}
    with pytest.raises(WebhookHeaderError, match="integer"):
        verify(VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TIMESTAMP)


def test_a_message_id_with_a_dot_is_refused() -> None:
    """("a.1", 2, body) and ("a", 1, "2." + body) would sign the same bytes."""
    with pytest.raises(ValueError, match=r"no '\.'"):
        sign(VECTOR_SECRET, "msg.1", VECTOR_TIMESTAMP, VECTOR_BODY)
    with pytest.raises(ValueError, match="non-empty"):
        sign(VECTOR_SECRET, "", VECTOR_TIMESTAMP, VECTOR_BODY)
    headers = vector_headers() | {"webhook-id": "msg.1"}
    with pytest.raises(WebhookHeaderError):
        verify(VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TIMESTAMP)


def test_every_refusal_is_a_verification_error() -> None:
    for error in (WebhookHeaderError, WebhookTimestampError, WebhookSignatureError):
        assert issubclass(error, WebhookVerificationError)


# --------------------------------------------------------------------------- tolerance


def test_timestamps_within_the_tolerance_are_accepted_at_both_edges() -> None:
    for now in (
        VECTOR_TIMESTAMP - DEFAULT_TOLERANCE_S,
        VECTOR_TIMESTAMP,
        VECTOR_TIMESTAMP + DEFAULT_TOLERANCE_S,
    ):
        verify(VECTOR_SECRET, vector_headers(), VECTOR_BODY, now=now)


def test_a_stale_delivery_is_refused() -> None:
    with pytest.raises(WebhookTimestampError, match="old"):
        verify(VECTOR_SECRET, vector_headers(), VECTOR_BODY, VECTOR_TIMESTAMP + 301)
    with pytest.raises(WebhookTimestampError, match="old"):
        verify(VECTOR_SECRET, vector_headers(), VECTOR_BODY, VECTOR_TIMESTAMP + 61, tolerance_s=60)


def test_a_delivery_from_the_future_is_refused() -> None:
    with pytest.raises(WebhookTimestampError, match="future"):
        verify(VECTOR_SECRET, vector_headers(), VECTOR_BODY, VECTOR_TIMESTAMP - 301)


def test_the_timestamp_is_checked_before_the_signature() -> None:
    """A delivery outside the tolerance is refused as such whatever its signature: a
    replay is told apart from a forgery without computing anything."""
    with pytest.raises(WebhookTimestampError):
        verify(VECTOR_SECRET, vector_headers(VECTOR_WRONG_SIGNATURE), VECTOR_BODY, 2_000_000_000)


# --------------------------------------------------------------------------- secrets


def test_generated_secrets_are_prefixed_random_and_sized() -> None:
    secrets = {generate_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert len(base64.b64decode(generate_secret(24)[6:])) == 24
    assert len(base64.b64decode(generate_secret(64)[6:])) == 64
    for nbytes in (23, 65):
        with pytest.raises(ValueError, match="24 to 64"):
            generate_secret(nbytes)


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"x" * 16).decode(),  # too short a key
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # too long
        "whsec_",
    ],
)
def test_a_malformed_secret_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        sign(secret, VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    with pytest.raises(ValueError, match="webhook secret"):
        verify(secret, vector_headers(), VECTOR_BODY, VECTOR_TIMESTAMP)


# --------------------------------------------------------------------------- properties

secret_keys = st.binary(min_size=24, max_size=64).map(
    lambda key: "whsec_" + base64.b64encode(key).decode()
)
msg_ids = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="."), min_size=1, max_size=40
)
timestamps = st.integers(min_value=0, max_value=4_102_444_800)
bodies = st.binary(max_size=512)


def signed(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


@given(secret=secret_keys, msg_id=msg_ids, timestamp=timestamps, body=bodies)
def test_what_is_signed_verifies(secret: str, msg_id: str, timestamp: int, body: bytes) -> None:
    verify(secret, signed(secret, msg_id, timestamp, body), body, now=timestamp)


@given(
    secret=secret_keys,
    msg_id=msg_ids,
    timestamp=timestamps,
    body=bodies.filter(bool),
    data=st.data(),
)
def test_tampering_any_byte_of_the_body_fails(
    secret: str, msg_id: str, timestamp: int, body: bytes, data: st.DataObject
) -> None:
    headers = signed(secret, msg_id, timestamp, body)
    position = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="position")
    flip = data.draw(st.integers(min_value=1, max_value=255), label="xor")
    tampered = bytearray(body)
    tampered[position] ^= flip
    with pytest.raises(WebhookSignatureError):
        verify(secret, headers, bytes(tampered), now=timestamp)


@given(secret=secret_keys, msg_id=msg_ids, timestamp=timestamps, body=bodies, extra=bodies)
def test_adding_or_removing_bytes_fails(
    secret: str, msg_id: str, timestamp: int, body: bytes, extra: bytes
) -> None:
    assume(extra)
    headers = signed(secret, msg_id, timestamp, body)
    for tampered in (body + extra, extra + body, body[:-1] if body else extra):
        with pytest.raises(WebhookSignatureError):
            verify(secret, headers, tampered, now=timestamp)


@given(secret=secret_keys, msg_id=msg_ids, timestamp=timestamps, body=bodies, data=st.data())
def test_tampering_any_character_of_the_signature_fails(
    secret: str, msg_id: str, timestamp: int, body: bytes, data: st.DataObject
) -> None:
    headers = signed(secret, msg_id, timestamp, body)
    signature = headers["webhook-signature"]
    position = data.draw(st.integers(min_value=3, max_value=len(signature) - 1), label="position")
    replacement = data.draw(st.characters(codec="utf-8"), label="replacement")
    assume(replacement != signature[position])
    headers["webhook-signature"] = signature[:position] + replacement + signature[position + 1 :]
    with pytest.raises(WebhookSignatureError):
        verify(secret, headers, body, now=timestamp)


@given(
    secret=secret_keys,
    msg_id=msg_ids,
    other_id=msg_ids,
    timestamp=timestamps,
    shift=st.integers(min_value=-300, max_value=300).filter(bool),
    body=bodies,
)
def test_changing_the_id_or_the_timestamp_fails(
    secret: str, msg_id: str, other_id: str, timestamp: int, shift: int, body: bytes
) -> None:
    headers = signed(secret, msg_id, timestamp, body)
    assume(other_id != msg_id)
    with pytest.raises(WebhookSignatureError):
        verify(secret, headers | {"webhook-id": other_id}, body, now=timestamp)
    assume(timestamp + shift >= 0)
    moved = headers | {"webhook-timestamp": str(timestamp + shift)}
    with pytest.raises(WebhookSignatureError):
        verify(secret, moved, body, now=timestamp)


@given(secret=secret_keys, other=secret_keys, body=bodies)
def test_another_secret_fails(secret: str, other: str, body: bytes) -> None:
    assume(other != secret)
    with pytest.raises(WebhookSignatureError):
        verify(other, signed(secret, "msg_1", 1_700_000_000, body), body, now=1_700_000_000)
