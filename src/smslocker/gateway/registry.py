"""The operator's connectors as stored rows: add, read, change, remove, enable, disable.

A connector is either an SMPP bind (``bind`` receiver, transceiver or transmitter), which
a gateway process runs (:mod:`.manager`), or an HTTP ingress (``bind`` "http"), which a
provider posts inbound SMS to (:mod:`.http_ingress`). The admin API and
``smslocker connectors ...`` both go through here, so a connector is validated the same
way wherever it comes from: an SMPP connector must make a valid
:class:`~.config.ConnectorConfig` (SMPP's field sizes: a password of at most 8
characters, a system_id of at most 15), or it is refused with the reason.

``options`` holds the optional :class:`~.config.ConnectorConfig` fields (``system_type``,
``address_range``, ``tls``, ``window``, ``enquire_link_interval``, ...) and, for HTTP
ingress, ``http_secret`` (a Twilio auth token, or a bearer / HMAC secret) and
``public_url`` (the URL the provider signs, when a proxy rewrites ours). The bind
password and ``http_secret`` are stored as given (the bind and the signature check need
them in clear) and never shown: :class:`ConnectorRecord` keeps them out of ``repr``
and :func:`public_options` out of answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from smslocker.store.db import Database
from smslocker.store.models import ConnectorRow

from .config import BindType, ConnectorConfig

HTTP = "http"
#: Every value ``bind`` may take: SMPP's three bind types and HTTP ingress.
BINDS = (*(bind.value for bind in BindType), HTTP)
#: Options that are ours, not :class:`ConnectorConfig`'s.
SECRET_OPTIONS = frozenset({"http_secret"})
HTTP_OPTIONS = frozenset({"http_secret", "public_url"})
#: Friendlier spellings the API and CLI accept for ConnectorConfig fields.
OPTION_ALIASES = {
    "enquire_link_s": "enquire_link_interval",
    "connect_timeout_s": "connect_timeout",
    "response_timeout_s": "response_timeout",
}
_CORE_FIELDS = frozenset({"name", "host", "port", "system_id", "password", "bind"})
_CONFIG_OPTIONS = frozenset(ConnectorConfig.model_fields) - _CORE_FIELDS
# Names go into URLs (/api/v1/ingest/{name}) and metric labels: keep them plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# PostgreSQL refuses NUL in text; no control character belongs in these fields anyway.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ConnectorError(Exception):
    """Base of this module's errors; ``str()`` is a message for the operator.

    ::

        ConnectorError
        ├── ConnectorNotFound
        ├── ConnectorExists
        └── InvalidConnector     a field or option that makes no valid connector
    """


class ConnectorNotFound(ConnectorError):
    pass


class ConnectorExists(ConnectorError):
    pass


class InvalidConnector(ConnectorError):
    pass


@dataclass(frozen=True, slots=True)
class ConnectorRecord:
    """A copy of one ``connectors`` row (with its secrets: never return it as it is)."""

    id: int
    name: str
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    bind: str
    options: dict[str, Any] = field(repr=False)
    enabled: bool
    lease_owner: str | None
    lease_until: datetime | None
    status: str
    status_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ConnectorRecord:
        values = dict(row._mapping)
        values["options"] = dict(values["options"] or {})
        return cls(**values)

    @property
    def is_http(self) -> bool:
        return self.bind == HTTP

    @property
    def http_secret(self) -> str | None:
        secret = self.options.get("http_secret")
        return str(secret) if secret else None

    def leased_at(self, now: datetime) -> bool:
        """Some gateway process holds the connector's lease at ``now``."""
        return (
            self.lease_owner is not None
            and self.lease_until is not None
            and (self.lease_until > now)
        )


_COLUMNS = [column for column in ConnectorRow.__table__.columns]


def public_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without the secrets (for answers and listings)."""
    return {key: value for key, value in options.items() if key not in SECRET_OPTIONS}


def normalise_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Aliases resolved; an option that is neither ours nor ConnectorConfig's is refused."""
    resolved: dict[str, Any] = {}
    for key, value in options.items():
        name = OPTION_ALIASES.get(key, key)
        if name not in _CONFIG_OPTIONS and name not in HTTP_OPTIONS:
            raise InvalidConnector(f"unknown option {key!r}")
        resolved[name] = value
    return resolved


def config_of(record: ConnectorRecord) -> ConnectorConfig:
    """The :class:`ConnectorConfig` a gateway binds with; raises :class:`InvalidConnector`."""
    if record.is_http:
        raise InvalidConnector(f"{record.name} is an HTTP ingress, not an SMPP bind")
    values = {key: getattr(record, key) for key in _CORE_FIELDS}
    return _config(values, record.options)


def _config(core: Mapping[str, Any], options: Mapping[str, Any]) -> ConnectorConfig:
    settings = {key: value for key, value in options.items() if key in _CONFIG_OPTIONS}
    try:
        return ConnectorConfig.model_validate({**core, **settings})
    except ValidationError as error:
        raise InvalidConnector(_first_error(error)) from None


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "connector"
    return f"{where}: {first.get('msg', 'invalid')}"


def validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """The row values of a connector (a whole one: name, host, port, ..., options).

    Raises :class:`InvalidConnector` with the reason. An HTTP ingress needs no host, port
    or credentials; an SMPP bind must make a valid :class:`ConnectorConfig`.
    """
    name = str(values.get("name") or "")
    if not _NAME.match(name):
        raise InvalidConnector(
            "name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    bind = str(values.get("bind") or BindType.RECEIVER.value)
    if bind not in BINDS:
        raise InvalidConnector(f"bind: one of {', '.join(BINDS)}")
    given = normalise_options(values.get("options") or {})
    options = {key: value for key, value in given.items() if value is not None}
    row: dict[str, Any] = {
        "name": name,
        "bind": bind,
        "host": str(values.get("host") or ""),
        "port": _port(values.get("port")),
        "system_id": str(values.get("system_id") or ""),
        "password": str(values.get("password") or ""),
        "options": options,
        "enabled": bool(values.get("enabled", True)),
    }
    if bind == HTTP:
        for key in ("public_url", "http_secret"):
            if key in options and options[key] is not None and not isinstance(options[key], str):
                raise InvalidConnector(f"{key} must be a string")
        stray = sorted(set(options) - HTTP_OPTIONS)
        if stray:
            raise InvalidConnector(f"options of an SMPP bind on an HTTP ingress: {stray}")
        return row
    if not row["host"]:
        raise InvalidConnector("host: required for an SMPP bind")
    for key, longest in (("host", 255), ("system_id", 16), ("password", 64)):
        if len(row[key]) > longest or _CONTROL.search(row[key]):
            raise InvalidConnector(f"{key}: at most {longest} printable characters")
    stray = sorted(set(options) & HTTP_OPTIONS)
    if stray:
        raise InvalidConnector(f"options of an HTTP ingress on an SMPP bind: {stray}")
    _config({key: row[key] for key in _CORE_FIELDS}, options)
    return row


def _port(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidConnector("port: a number from 1 to 65535")
    try:
        return int(value)
    except ValueError:
        raise InvalidConnector("port: a number from 1 to 65535") from None


# --------------------------------------------------------------------------- storage


async def create_connector(
    db: Database, values: Mapping[str, Any], now: datetime
) -> ConnectorRecord:
    """Store a new connector (see :func:`validate`); :class:`ConnectorExists` for a taken name."""
    row = validate(values)

    def create(connection: Connection) -> ConnectorRecord:
        created = connection.execute(
            insert(ConnectorRow)
            .values(**row, status="stopped", created_at=now, updated_at=now)
            .returning(*_COLUMNS)
        ).one()
        return ConnectorRecord.from_row(created)

    try:
        return await db.run_write(create)
    except IntegrityError:
        raise ConnectorExists(f"a connector named {row['name']!r} exists already") from None


async def list_connectors(db: Database) -> list[ConnectorRecord]:
    async with db.read() as connection:
        rows = (await connection.execute(select(*_COLUMNS).order_by(ConnectorRow.name))).all()
    return [ConnectorRecord.from_row(row) for row in rows]


async def get_connector(db: Database, name: str) -> ConnectorRecord:
    """The connector ``name``; raises :class:`ConnectorNotFound`."""
    async with db.read() as connection:
        row = (await connection.execute(select(*_COLUMNS).where(ConnectorRow.name == name))).first()
    if row is None:
        raise ConnectorNotFound(f"no connector named {name!r}")
    return ConnectorRecord.from_row(row)


async def update_connector(
    db: Database, name: str, changes: Mapping[str, Any], now: datetime
) -> ConnectorRecord:
    """Change some fields of ``name``; ``options`` are merged (an option set to None is
    removed). The result is validated as a whole. A gateway running the connector
    notices ``updated_at`` and binds again with the new settings."""
    allowed = {"host", "port", "system_id", "password", "bind", "options", "enabled"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidConnector(f"cannot change {', '.join(unknown)}")

    def change(connection: Connection) -> ConnectorRecord:
        record = _locked(connection, name)
        options = dict(record.options)
        for key, value in normalise_options(changes.get("options") or {}).items():
            if value is None:
                options.pop(key, None)
            else:
                options[key] = value
        merged = {
            "name": record.name,
            "host": changes.get("host", record.host),
            "port": changes.get("port", record.port),
            "system_id": changes.get("system_id", record.system_id),
            "password": changes.get("password", record.password),
            "bind": changes.get("bind", record.bind),
            "enabled": changes.get("enabled", record.enabled),
            "options": options,
        }
        row = validate(merged)
        return _store_update(connection, record, row, now)

    return await db.run_write(change)


def _locked(connection: Connection, name: str) -> ConnectorRecord:
    row = connection.execute(
        select(*_COLUMNS).where(ConnectorRow.name == name).with_for_update()
    ).first()
    if row is None:
        raise ConnectorNotFound(f"no connector named {name!r}")
    return ConnectorRecord.from_row(row)


def _store_update(
    connection: Connection, record: ConnectorRecord, values: Mapping[str, Any], now: datetime
) -> ConnectorRecord:
    # updated_at is how a gateway notices a change (it binds again): it must move even
    # when two changes come within one tick of the clock.
    updated_at = max(now, record.updated_at + timedelta(microseconds=1))
    row = connection.execute(
        update(ConnectorRow)
        .where(ConnectorRow.id == record.id)
        .values(**values, updated_at=updated_at)
        .returning(*_COLUMNS)
    ).one()
    return ConnectorRecord.from_row(row)


async def set_enabled(db: Database, name: str, enabled: bool, now: datetime) -> ConnectorRecord:
    """Start (``enabled``) or stop a connector: a gateway process follows within seconds."""

    def switch(connection: Connection) -> ConnectorRecord:
        return _store_update(connection, _locked(connection, name), {"enabled": enabled}, now)

    return await db.run_write(switch)


async def delete_connector(db: Database, name: str) -> None:
    """Remove ``name``; the gateway running it loses its lease and unbinds."""

    def remove(connection: Connection) -> int:
        return int(
            connection.execute(delete(ConnectorRow).where(ConnectorRow.name == name)).rowcount
        )

    if not await db.run_write(remove):
        raise ConnectorNotFound(f"no connector named {name!r}")


__all__ = [
    "BINDS",
    "HTTP",
    "ConnectorError",
    "ConnectorExists",
    "ConnectorNotFound",
    "ConnectorRecord",
    "InvalidConnector",
    "config_of",
    "create_connector",
    "delete_connector",
    "get_connector",
    "list_connectors",
    "normalise_options",
    "public_options",
    "set_enabled",
    "update_connector",
    "validate",
]
