"""Accounts' API keys: created, shown once, stored hashed, checked, revoked."""

from .keys import (
    ApiKeyView,
    KeyError_,
    KeyNotFound,
    Principal,
    Role,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
)

__all__ = [
    "ApiKeyView",
    "KeyError_",
    "KeyNotFound",
    "Principal",
    "Role",
    "authenticate",
    "create_key",
    "list_keys",
    "revoke_key",
]
