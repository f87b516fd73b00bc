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
from typing import Literal

from pydantic import field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

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

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            known = ", ".join(sorted(logging.getLevelNamesMapping()))
            raise ValueError(f"unknown log level {value!r}; one of {known}")
        return level

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. ``get_settings.cache_clear()`` forgets them."""
    return Settings()
