"""The HTTP API: REST under ``/api/v1`` (and the short forms), WebSocket and SSE push.

:mod:`.app` builds the FastAPI application from a :class:`~smslocker.platform.Platform`;
:mod:`.auth` turns ``Authorization: Bearer <key>`` into a :class:`~.auth.Principal`;
:mod:`.problems` makes every error an RFC 9457 ``application/problem+json`` answer;
each file under :mod:`.routes` is one router.
"""
