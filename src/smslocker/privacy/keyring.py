"""Encryption keys for data at rest, and sealing with AES-GCM (``cryptography``).

Theory of operation: a key ring is a JSON file ``{"primary": id, "keys": {id: base64}}``
of 256-bit keys, readable by the service's user only (mode 0600; the embedded default
creates it under the data folder on first start, :meth:`KeyRing.load_or_create`).
:meth:`KeyRing.seal` encrypts with the *primary* key; :meth:`KeyRing.open` decrypts
with whichever key the blob names, so old rows stay readable after a rotation.

A sealed blob is ``b"\\x01" | len(id) | id | nonce (12) | ciphertext+tag``: the version
byte and the key id in clear, the nonce random per blob (AES-GCM with random 96-bit
nonces is safe for far more blobs than one key will ever seal: the rotation command
exists for operators' schedules, not for nonce exhaustion). The caller's ``context``
is authenticated data: a blob sealed for one purpose does not open for another.

Rotation without downtime (``smslocker privacy rotate-key``) writes a new key into the
file as primary, atomically (a temporary file renamed over the old one). Processes
already running keep sealing with the key they loaded, which every process can still
open; a process that meets a key id it does not know re-reads the file once before
giving up, and each process re-reads it when its modification time changes (checked
at most every :data:`RELOAD_CHECK_S` seconds), so the new key becomes primary
everywhere within that time. ``smslocker privacy reencrypt`` then moves old rows to
the primary key, after which an old key can be dropped from the file.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smslocker.log import get_logger

log = get_logger(__name__)

VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
#: How often (seconds) a process looks whether the key file changed.
RELOAD_CHECK_S = 10.0


class SealError(Exception):
    """A blob that does not open: damaged, sealed for another purpose, or foreign."""


class UnknownKeyError(SealError):
    """A blob sealed with a key this ring does not hold (not even after a reload)."""


@dataclass(frozen=True)
class _Keys:
    primary: str
    ciphers: dict[str, AESGCM]


class KeyRing:
    """Keys and sealing. See the module docstring."""

    def __init__(self, keys: dict[str, bytes], primary: str, *, path: Path | None = None) -> None:
        if primary not in keys:
            raise ValueError(f"the primary key {primary!r} is not in the ring")
        self.path = path
        self._keys = _keys_of(keys, primary)
        self._mtime = _mtime(path) if path is not None else None
        self._checked = time.monotonic()

    # ------------------------------------------------------------------ making one

    @classmethod
    def generate(cls) -> KeyRing:
        """A ring of one fresh key, in memory (tests, benchmarks)."""
        key_id = _new_id()
        return cls({key_id: AESGCM.generate_key(bit_length=KEY_BYTES * 8)}, key_id)

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        keys, primary = _read(path)
        return cls(keys, primary, path=path)

    @classmethod
    def load_or_create(cls, path: Path) -> KeyRing:
        """The ring in ``path``; on first start a new file with one key, mode 0600."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            _warn_if_readable_by_others(path)
            return cls.load(path)
        key_id = _new_id()
        document = _document({key_id: AESGCM.generate_key(bit_length=KEY_BYTES * 8)}, key_id)
        # Written whole to a file of our own, then linked into place: a process killed
        # half-way leaves no empty key file behind, and of two first starts racing, the
        # first link wins and the other loads its key.
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(document)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                return cls.load(path)
        finally:
            temporary.unlink(missing_ok=True)
        log.info("privacy.key_file_created", path=str(path), key_id=key_id)
        return cls.load(path)

    # ------------------------------------------------------------------ using it

    @property
    def primary(self) -> str:
        return self._keys.primary

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys.ciphers)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """``plaintext`` encrypted with the primary key, ``context`` authenticated."""
        self._maybe_reload()
        keys = self._keys
        key_id = keys.primary.encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = keys.ciphers[keys.primary].encrypt(nonce, plaintext, context)
        return bytes((VERSION, len(key_id))) + key_id + nonce + sealed

    def open(self, blob: bytes, context: bytes) -> bytes:
        """The plaintext of ``blob``; :class:`SealError` if it does not open."""
        key_id, nonce, sealed = _parse(blob)
        cipher = self._keys.ciphers.get(key_id)
        if cipher is None and self._reload():
            cipher = self._keys.ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(f"no key {key_id!r} in the key ring")
        try:
            return cipher.decrypt(nonce, sealed, context)
        except InvalidTag:
            raise SealError("the blob does not open: damaged, or sealed for another use") from None

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The id of the key ``blob`` was sealed with."""
        return _parse(blob)[0]

    # ------------------------------------------------------------------ the file

    def _maybe_reload(self) -> None:
        if self.path is None or time.monotonic() - self._checked < RELOAD_CHECK_S:
            return
        self._checked = time.monotonic()
        if _mtime(self.path) != self._mtime:
            self._reload()

    def _reload(self) -> bool:
        """Re-read the file; whether it could (a ring made in memory cannot)."""
        if self.path is None:
            return False
        try:
            keys, primary = _read(self.path)
        except (OSError, ValueError) as error:
            log.error("privacy.key_file_unreadable", path=str(self.path), error=repr(error))
            return False
        self._keys = _keys_of(keys, primary)
        self._mtime = _mtime(self.path)
        log.info("privacy.key_file_reloaded", primary=primary, keys=len(keys))
        return True


def rotate_key_file(path: Path) -> str:
    """Add a new key to the file at ``path`` as its primary; return its id."""
    keys, _primary = _read(path)
    key_id = _new_id()
    keys[key_id] = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    _write_atomically(path, _document(keys, key_id))
    return key_id


def drop_key(path: Path, key_id: str) -> None:
    """Remove ``key_id`` (not the primary) from the file: only once no row uses it."""
    keys, primary = _read(path)
    if key_id == primary:
        raise ValueError("the primary key cannot be dropped; rotate first")
    if key_id not in keys:
        raise ValueError(f"no key {key_id!r} in {path}")
    del keys[key_id]
    _write_atomically(path, _document(keys, primary))


# ---------------------------------------------------------------------- helpers


def _keys_of(keys: dict[str, bytes], primary: str) -> _Keys:
    for key_id, key in keys.items():
        if len(key) != KEY_BYTES:
            raise ValueError(f"key {key_id!r} is not {KEY_BYTES} bytes")
    return _Keys(primary, {key_id: AESGCM(key) for key_id, key in keys.items()})


def _parse(blob: bytes) -> tuple[str, bytes, bytes]:
    if len(blob) < 2 or blob[0] != VERSION:
        raise SealError("not a sealed blob (unknown version)")
    id_length = blob[1]
    nonce_at = 2 + id_length
    if len(blob) < nonce_at + NONCE_BYTES + 16:
        raise SealError("not a sealed blob (too short)")
    try:
        key_id = blob[2:nonce_at].decode("ascii")
    except UnicodeDecodeError:
        raise SealError("not a sealed blob (bad key id)") from None
    return key_id, blob[nonce_at : nonce_at + NONCE_BYTES], blob[nonce_at + NONCE_BYTES :]


def _new_id() -> str:
    return "k" + time.strftime("%Y%m%d", time.gmtime()) + secrets.token_hex(3)


def _document(keys: dict[str, bytes], primary: str) -> str:
    encoded = {key_id: base64.b64encode(key).decode() for key_id, key in keys.items()}
    return json.dumps({"primary": primary, "keys": encoded}, indent=2) + "\n"


def _read(path: Path) -> tuple[dict[str, bytes], str]:
    try:
        document = json.loads(path.read_text())
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in document["keys"].items()}
        primary = str(document["primary"])
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError, ValueError) as error:
        raise ValueError(f"{path} is not a key ring file: {error}") from None
    if primary not in keys:
        raise ValueError(f"{path}: the primary key {primary!r} is not in the file")
    return keys, primary


def _write_atomically(path: Path, document: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(document)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _warn_if_readable_by_others(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("privacy.key_file_too_open", path=str(path), mode=oct(mode))


__all__ = [
    "RELOAD_CHECK_S",
    "KeyRing",
    "SealError",
    "UnknownKeyError",
    "drop_key",
    "rotate_key_file",
]
