"""The key ring: sealing, key files, rotation without downtime."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.privacy import keyring as keyring_module
from smslocker.privacy.bodies import open_body, seal_body, seal_parts
from smslocker.privacy.keyring import (
    KeyRing,
    SealError,
    UnknownKeyError,
    drop_key,
    rotate_key_file,
)

RING = KeyRing.generate()


@given(st.binary(max_size=2000), st.binary(max_size=40))
def test_seal_then_open_gives_the_plaintext_back(plaintext: bytes, context: bytes) -> None:
    blob = RING.seal(plaintext, context)
    assert RING.open(blob, context) == plaintext


def test_a_blob_does_not_open_for_another_context_or_when_damaged() -> None:
    blob = RING.seal(b"Your code is 123456", b"body")
    with pytest.raises(SealError):
        RING.open(blob, b"other")
    damaged = bytearray(blob)
    damaged[-1] ^= 1
    with pytest.raises(SealError):
        RING.open(bytes(damaged), b"body")
    with pytest.raises(SealError):
        RING.open(b"\x02garbage", b"body")
    with pytest.raises(SealError):
        RING.open(b"", b"body")
    with pytest.raises(UnknownKeyError):
        KeyRing.generate().open(blob, b"body")


def test_the_same_plaintext_seals_differently_each_time() -> None:
    assert RING.seal(b"123456", b"x") != RING.seal(b"123456", b"x")


def test_the_key_file_is_created_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "message-keys.json"
    first = KeyRing.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = KeyRing.load_or_create(path)
    assert second.primary == first.primary
    assert second.open(first.seal(b"hello", b"c"), b"c") == b"hello"


def test_a_broken_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"primary": "k1", "keys": {}}')
    with pytest.raises(ValueError, match="primary key 'k1' is not in the file"):
        KeyRing.load(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a key ring file"):
        KeyRing.load(path)


def test_rotation_without_downtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.json"
    old_process = KeyRing.load_or_create(path)
    other_process = KeyRing.load(path)
    before = old_process.seal(b"old message", b"c")

    new_id = rotate_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    new_process = KeyRing.load(path)
    assert new_process.primary == new_id
    after = new_process.seal(b"new message", b"c")
    # A process started before the rotation opens the new key's blobs (it re-reads the
    # file when it meets an unknown key), and the new one opens the old blobs.
    assert other_process.open(after, b"c") == b"new message"
    assert new_process.open(before, b"c") == b"old message"
    # Running processes take the new key as primary once they notice the file changed.
    monkeypatch.setattr(keyring_module, "RELOAD_CHECK_S", 0.0)
    assert KeyRing.key_id_of(old_process.seal(b"x", b"c")) == new_id

    drop_key(path, KeyRing.key_id_of(before))
    with pytest.raises(UnknownKeyError):
        KeyRing.load(path).open(before, b"c")
    with pytest.raises(ValueError, match="primary"):
        drop_key(path, new_id)


def test_bodies_round_trip_and_hide_the_text() -> None:
    codes = [{"value": "123456", "score": 0.9}]
    blob = seal_body(RING, "Your code is 123456 🔐", b"\x00\xff", codes)
    assert b"123456" not in blob
    body = open_body(RING, blob)
    assert (body.text, body.binary, body.codes) == ("Your code is 123456 🔐", b"\x00\xff", codes)
    empty = open_body(RING, seal_body(RING, None, None, None))
    assert (empty.text, empty.binary, empty.codes) == (None, None, None)


@given(
    st.one_of(st.none(), st.text(max_size=200)),
    st.one_of(st.none(), st.binary(max_size=50)),
    st.one_of(st.none(), st.lists(st.fixed_dictionaries({"value": st.text(max_size=8)}))),
)
def test_seal_parts_is_seal_body_with_codes_already_json(
    text: str | None, binary: bytes | None, codes: list[dict[str, str]] | None
) -> None:
    import json

    codes_json = None if codes is None else json.dumps(codes)
    body = open_body(RING, seal_parts(RING, text, binary, codes_json))
    assert (body.text, body.binary, body.codes) == (text, binary, codes)
