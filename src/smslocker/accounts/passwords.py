"""Account passwords: scrypt hashes, with their salt and parameters, checked in constant time.

Unlike API keys (256 random bits, a plain SHA-256 suffices: see :mod:`.keys`), a
password is chosen by a person and can be guessed from a dictionary, so it is stored
as the output of a slow, memory-hard key derivation. ``hashlib.scrypt`` is in the
standard library (OpenSSL's implementation): no new dependency for the one thing it
does, where argon2-cffi would add a compiled package for a comparable defence.

A stored hash reads ``scrypt$n=16384,r=8,p=1$<salt>$<hash>`` (salt and hash in
unpadded base64): the parameters travel with the hash, so raising them later leaves the
old hashes checkable. ``n=2**14, r=8`` costs 16 MiB and some tens of milliseconds per
check, the interactive-login figures of the scrypt paper (and of OWASP's cheat sheet).
The text is NFKC-normalised first, so the same password typed on two keyboards (a
composed or a decomposed "é") is the same password.

Pure functions, no I/O: the caller runs them in a thread (:func:`asyncio.to_thread`) so
a check does not stall the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from functools import cache

SCHEME = "scrypt"
N = 2**14
R = 8
P = 1
SALT_BYTES = 16
HASH_BYTES = 32
#: Shorter is refused; the operator sets it, so no composition rules beyond length.
MIN_LENGTH = 12
#: A bound on the work one request can cause (the KDF reads the whole text).
MAX_LENGTH = 1024
#: scrypt needs 128 * r * n bytes; OpenSSL refuses above ``maxmem`` (default 32 MiB).
_MAXMEM = 64 * 1024 * 1024
#: Parameters a stored hash may name: anything else is not ours (or is an attack on
#: the memory of the process), and fails the check.
_MAX_N = 2**20


class WeakPassword(ValueError):
    """Too short or too long a password."""


def check_strength(password: str) -> None:
    """Raise :class:`WeakPassword` unless ``password`` has MIN_LENGTH to MAX_LENGTH
    characters."""
    length = len(_normal(password))
    if length < MIN_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_LENGTH} characters")
    if length > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """The string to store for ``password`` (a fresh random salt every time)."""
    salt = secrets.token_bytes(SALT_BYTES)
    derived = _derive(password, salt, n, r, p)
    return f"{SCHEME}$n={n},r={r},p={p}${_b64(salt)}${_b64(derived)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from; False for a malformed
    ``stored`` (never an exception: a bad row must not become a 500)."""
    try:
        scheme, parameters, salt_text, hash_text = stored.split("$")
        values = dict(item.split("=", 1) for item in parameters.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt, expected = _unb64(salt_text), _unb64(hash_text)
    except (ValueError, KeyError):
        return False
    if len(salt) < 8 or len(expected) < 16:
        return False
    if scheme != SCHEME or not (2 <= n <= _MAX_N and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    if len(_normal(password)) > MAX_LENGTH:
        return False
    try:
        derived = _derive(password, salt, n, r, p, length=len(expected))
    except ValueError:  # parameters OpenSSL refuses (n not a power of two, ...)
        return False
    return hmac.compare_digest(derived, expected)


def burn_a_check(password: str) -> None:
    """Do the work of one check and throw it away: a sign-in for an account that does
    not exist (or has no password) then takes as long as a wrong password."""
    verify_password(password, _dummy_hash())


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _derive(
    password: str, salt: bytes, n: int, r: int, p: int, *, length: int = HASH_BYTES
) -> bytes:
    return hashlib.scrypt(
        # surrogatepass: a lone surrogate (possible in a Python str) must not raise here.
        _normal(password).encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=_MAXMEM,
        dklen=length,
    )


def _normal(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "WeakPassword",
    "burn_a_check",
    "check_strength",
    "hash_password",
    "verify_password",
]
