"""Process-wide settings.

Sources, strongest first:

1. keyword arguments to :class:`Settings` (tests, embedding code);
2. environment variables ``SMSLOCKER_<FIELD>``; a nested model's fields are reached with
   ``__``, e.g. ``SMSLOCKER_GATEWAY__WINDOW=10`` for ``gateway.window``;
3. a TOML file: the path in ``SMSLOCKER_CONFIG`` (which must then exist), else
   ``smslocker.toml`` in the working directory if there is one;
4. the defaults below.

To add a setting, add a typed field with a default to :class:`Settings` (or a nested
``BaseModel`` field for a group of them, as a ``[table]`` in the TOML file). Unknown keys in
the TOML file are rejected, so a typo there fails loudly instead of being ignored.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from smslocker.gateway.config import ConnectorConfig

ENV_PREFIX = "SMSLOCKER_"
CONFIG_ENV_VAR = "SMSLOCKER_CONFIG"
DEFAULT_CONFIG_FILE = Path("smslocker.toml")


class ConfigFileNotFoundError(FileNotFoundError):
    """``SMSLOCKER_CONFIG`` names a file that does not exist."""


def config_file_path() -> Path | None:
    """The TOML file to read, or ``None`` when there is none.

    An explicit ``SMSLOCKER_CONFIG`` that points nowhere is an error: silently running on
    defaults would hide the mistake. The default ``smslocker.toml`` is optional.
    """
    explicit = os.environ.get(CONFIG_ENV_VAR)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigFileNotFoundError(f"{CONFIG_ENV_VAR}={explicit}: no such file")
        return path
    if DEFAULT_CONFIG_FILE.is_file():
        return DEFAULT_CONFIG_FILE
    return None


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicySettings(_Group):
    """How numbers and rentals behave (``[policy]`` in TOML, ``SMSLOCKER_POLICY__*``)."""

    rental_ttl_s: int = Field(600, gt=0)
    """A rental's length when the renter does not ask for one."""
    max_rental_s: int = Field(86_400, gt=0)
    """No rental (after extensions) lasts longer than this."""
    grace_s: int = Field(60, ge=0)
    """A message up to this long after a rental ended still belongs to it (late delivery)."""
    cooldown_s: int = Field(1800, ge=0)
    """A released number rests this long before it can be rented again."""
    quarantine_s: int = Field(86_400, gt=0)
    """A quarantined number is freed by the sweeper after this long (or by an admin)."""
    service_rotation_s: int = Field(30 * 86_400, ge=0)
    """A number used for service S is not rented for S again within this long."""
    rotation_limit: int | None = Field(None, gt=0)
    """Retire a number after this many rentals (``None``: never)."""
    default_price: int = Field(100, ge=0)
    """Price of a rental in credits when the price table has no row for it."""
    probe_deadline_s: int = Field(60, gt=0)
    """A health probe's SMS must come back within this long."""
    probe_failures_to_quarantine: int = Field(3, gt=0)
    """Consecutive failed probes that send a number to QUARANTINE."""
    probe_interval_s: int = Field(3600, ge=0)
    """``serve`` probes each connector's numbers this often (0: never; see
    ``smslocker.pool.prober``)."""
    probe_batch: int = Field(20, gt=0)
    """Numbers probed per connector per round (those probed longest ago first)."""


class IngestSettings(_Group):
    """The durable inbox's write path (``[ingest]``, ``SMSLOCKER_INGEST__*``)."""

    batch_max: int = Field(1000, gt=0)
    """Group commit: at most this many messages per transaction..."""
    batch_ms: float = Field(2.0, ge=0)
    """...or whatever arrived within this many milliseconds of the first, whichever first."""
    dedup_window_s: int = Field(3600, gt=0)
    """A message identical to one stored this recently is an SMSC redelivery, not a new one."""
    timestamp_max_skew_s: int = Field(300, ge=0)
    """An SMSC timestamp later than our clock by more than this is not trusted."""
    timestamp_max_age_s: int = Field(7 * 86_400, gt=0)
    """An SMSC timestamp older than this (relative to our clock) is not trusted."""


class RetentionSettings(_Group):
    """How long things are kept (``[retention]``, ``SMSLOCKER_RETENTION__*``)."""

    body_s: int = Field(86_400, gt=0)
    """Message bodies (text and codes) are purged after this long."""
    metadata_s: int = Field(30 * 86_400, gt=0)
    """Message rows (who, when, which rental) are deleted after this long."""


class SqliteSettings(_Group):
    """The embedded database (``[sqlite]``, ``SMSLOCKER_SQLITE__*``)."""

    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """FULL survives power loss; NORMAL (WAL) survives a killed process but may lose the
    last commits on power loss."""
    writes_on_loop: bool = True
    """Run write transactions on the event loop's thread (faster: no GIL hand-offs),
    or, when off, all in a writer thread (:mod:`smslocker.store.sqlite`)."""


class RuleSettings(_Group):
    """One sliding-window abuse rule: more than ``count`` events within ``window_s``."""

    enabled: bool = True
    count: int = Field(gt=0)
    window_s: int = Field(gt=0)


def _default_quotas() -> dict[str, int]:
    return {"unverified": 5, "verified": 50, "trusted": 500}


class GuardSettings(_Group):
    """Rate limits, rental quotas and abuse rules (``[guard]``, ``SMSLOCKER_GUARD__*``).

    Counters live in this process, or in Redis when ``redis_url`` is set, so several API
    processes share them. The audit trail is not switchable: it is always written.
    """

    limits_enabled: bool = True
    """Token buckets on API calls and rental quotas."""
    key_rate_per_s: float = Field(10.0, gt=0)
    """API calls per second per API key (refill rate of its bucket)..."""
    key_burst: int = Field(20, gt=0)
    """...and how many can come at once."""
    ip_rate_per_s: float = Field(10.0, gt=0)
    """API calls per second per client IP (authenticated or not)..."""
    ip_burst: int = Field(20, gt=0)
    trust_forwarded_for: bool = False
    """Take the client IP from ``X-Forwarded-For`` (only behind a proxy that sets it)."""
    rental_quota_per_hour: dict[str, int] = Field(default_factory=_default_quotas)
    """Rentals per rolling hour by account tier; a tier not listed gets ``unverified``'s."""
    redis_prefix: str = "smslocker:guard:"
    """Prefix of the counters' keys in Redis."""

    rules_enabled: bool = True
    rent_burst: RuleSettings = RuleSettings(count=50, window_s=300)
    """One account or one IP renting many numbers in a short time."""
    empty_endings: RuleSettings = RuleSettings(count=20, window_s=3600)
    """Many rentals of one account ending (cancelled, released, expired) with no SMS."""
    accounts_per_ip: RuleSettings = RuleSettings(count=5, window_s=3600)
    """Many accounts renting from one IP."""
    action_cooldown_s: int = Field(300, ge=0)
    """After an action on an account, rules do not act on it again for this long..."""
    escalation_window_s: int = Field(86_400, gt=0)
    """...and an action within this long of the previous one is the next, harsher step."""
    slow_down_s: int = Field(3600, gt=0)
    """How long a slowed-down account stays slowed down..."""
    slow_down_interval_s: int = Field(60, gt=0)
    """...renting at most once per this many seconds."""

    reports_per_hour: int = Field(10, gt=0)
    """Renter reports (``POST /rentals/{id}/report``) per account per hour."""
    failures_to_quarantine: int = Field(3, gt=0)
    """Accounts that reported one number (any service) before it goes to QUARANTINE."""

    @field_validator("rent_burst", "empty_endings", "accounts_per_ip", mode="before")
    @classmethod
    def _rule_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        """``SMSLOCKER_GUARD__RENT_BURST__COUNT=10`` changes the count, keeps the window."""
        if isinstance(value, dict) and info.field_name is not None:
            default = cls.model_fields[info.field_name].default
            return {**default.model_dump(), **value}
        return value


class SessionSettings(_Group):
    """Password sign-in (``POST /api/v1/session``, ``[sessions]``,
    ``SMSLOCKER_SESSIONS__*``): how long its tokens live and how fast names and
    passwords can be tried."""

    ttl_s: int = Field(12 * 3600, gt=0)
    """A session token stops working this long after the sign-in."""
    attempts_burst: int = Field(10, gt=0)
    """Sign-in attempts that can come at once, per client IP and per account name..."""
    attempts_per_minute: float = Field(1.0, gt=0)
    """...and how fast they come back after that (whether they succeeded or not)."""


class PrivacySettings(_Group):
    """Message bodies at rest (``[privacy]``, ``SMSLOCKER_PRIVACY__*``)."""

    encrypt_bodies: bool = True
    """Seal every message's text, binary payload and codes with AES-GCM before storing."""
    key_file: Path | None = None
    """The key ring (``smslocker.privacy.keyring``); default ``<data_dir>/keys/
    message-keys.json``, created on first start, mode 0600. Every process of a
    deployment must read the same file."""


class WebhookSettings(_Group):
    """Outgoing webhooks."""

    allow_private_targets: bool = False
    """Deliver to loopback, private and link-local addresses too (an operator's own
    network on purpose); off by default, so a user's webhook URL cannot reach the
    server's private network (``smslocker.delivery.egress``)."""


class Settings(BaseSettings):
    """Everything the process is configured with. See the module docstring for sources."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Path("./data")
    """Everything the embedded default writes lives here: database, keys, logs."""

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "console"

    database_url: str | None = None
    """SQLAlchemy URL; ``None`` means SQLite inside ``data_dir``."""

    redis_url: str | None = None
    """Bus and rate-limit counters; ``None`` means the in-process bus."""

    policy: PolicySettings = PolicySettings()
    ingest: IngestSettings = IngestSettings()
    retention: RetentionSettings = RetentionSettings()
    sqlite: SqliteSettings = SqliteSettings()
    guard: GuardSettings = GuardSettings()
    webhooks: WebhookSettings = WebhookSettings()
    privacy: PrivacySettings = PrivacySettings()
    sessions: SessionSettings = SessionSettings()

    connectors: list[dict[str, Any]] = []
    """The carrier binds a gateway keeps: ``[[connectors]]`` tables in TOML, a JSON list in
    ``SMSLOCKER_CONNECTORS``; each has the fields of
    :class:`smslocker.gateway.ConnectorConfig` (``name``, ``host``, ``port``,
    ``system_id``, ...). Validated on load; :meth:`connector_configs` gives the models."""

    def resolved_database_url(self) -> str:
        """``database_url``, or the embedded SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'smslocker.db'}"

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            known = ", ".join(sorted(logging.getLevelNamesMapping()))
            raise ValueError(f"unknown log level {value!r}; one of {known}")
        return level

    @field_validator("connectors")
    @classmethod
    def _valid_connectors(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        configs = _connector_configs(value)
        names = [config.name for config in configs]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"connector names must be unique: {', '.join(duplicated)}")
        return value

    def connector_configs(self) -> list[ConnectorConfig]:
        """``connectors`` as :class:`~smslocker.gateway.ConnectorConfig` models."""
        return _connector_configs(self.connectors)

    def resolved_key_file(self) -> Path:
        """``privacy.key_file``, or the key ring inside ``data_dir``."""
        return self.privacy.key_file or self.data_dir / "keys" / "message-keys.json"

    def ensure_data_dir(self) -> Path:
        """Create ``data_dir`` (and its parents) if needed; return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = config_file_path()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _connector_configs(items: list[dict[str, Any]]) -> list[ConnectorConfig]:
    # Imported here, not at the top: smslocker.gateway imports smslocker.log, which imports
    # this module.
    from smslocker.gateway.config import ConnectorConfig

    return [ConnectorConfig.model_validate(item) for item in items]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. ``get_settings.cache_clear()`` forgets them."""
    return Settings()
