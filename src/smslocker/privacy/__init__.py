"""Privacy of what users receive: message bodies and codes encrypted at rest.

:mod:`.keyring` holds the keys (a file the embedded default creates on first start)
and seals bytes with AES-GCM; :mod:`.bodies` turns a message's body (text, binary,
codes) into one sealed blob and back.
"""

from .keyring import KeyRing, SealError, UnknownKeyError

__all__ = ["KeyRing", "SealError", "UnknownKeyError"]
