"""Typed settings, read once from the environment.

Every variable is documented in the README's configuration table. A missing or invalid value
raises ConfigError naming the variable and the fix, so a bad deployment fails at start-up
instead of writing somewhere unexpected. pydantic-settings maps variables to fields (CM_ + the
field name, or the field's alias for standard names such as GITHUB_TOKEN); its errors are
rewritten here as one line that never echoes a secret.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = "data/community_metrics.lancedb"
DEFAULT_SEED_DIR = "seed_data"
DEFAULT_DAGSTER_HOME = ".dagster_home"
ENV_PREFIX = "CM_"
StorageMode = Literal["local", "enterprise"]
STORAGE_MODES = get_args(StorageMode)
EmbedderKind = Literal["local", "openai"]
EMBEDDERS = get_args(EmbedderKind)
OBJECT_STORE_SCHEMES = ("s3://", "gs://", "az://", "abfs://")
# Settings fields named as LanceDB's object-store options, read from the standard AWS variables.
AWS_OPTIONS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region",
    "aws_endpoint",
)


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable and the fix."""


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return value.rstrip("/")


def _project_path(path: Path) -> Path:
    """Relative folders are relative to the project, not to wherever the command was started."""
    path = path.expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _database_path(raw: str) -> str:
    return raw if "://" in raw else str(_project_path(Path(raw)))


_URL_HINT = "an http(s) URL like https://host[:port]"
_Url = Annotated[str, AfterValidator(_http_url), Field(description=_URL_HINT)]
_OptionalUrl = Annotated[str | None, AfterValidator(_http_url), Field(description=_URL_HINT)]
_ProjectPath = Annotated[Path, AfterValidator(_project_path)]
# Set but empty means off (the third-party archives, the canaries); unset means the default.
_Off = BeforeValidator(lambda v: None if isinstance(v, str) and not v.strip() else v)
_OffOrUrl = Annotated[
    str | None,
    _Off,
    AfterValidator(_http_url),
    Field(description=f"{_URL_HINT}, or empty to turn it off"),
]
_Canary = Annotated[str | None, _Off, Field(description="a package name, or empty for none")]


class _Group(BaseSettings):
    """A group of settings, one environment variable per field; secrets are the repr=False ones.

    Constructed with keywords (`SourceSettings()`) it uses those and the defaults only; the
    environment is read by `_from_env`, so a test's mapping is the whole input and no .env file
    or secrets folder is ever consulted. Every validation error becomes a one-line ConfigError.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, validate_by_name=True, validate_default=True
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(type(self), exc) from None

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings,)

    @classmethod
    def _from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(**_MappingSource(cls, env)())


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[_Group], env: Mapping[str, str]):
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str]:
        # A blank value counts as unset, as `export CM_X=` means in a shell.
        off = {
            f"{ENV_PREFIX}{name}".lower()
            for name, info in self.settings_cls.model_fields.items()
            if _Off in info.metadata
        }
        return {
            name.lower(): value.strip()
            for name, value in self._env.items()
            if value.strip() or name.lower() in off
        }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # A nested group (Settings.embedder) is read on its own, not from CM_EMBEDDER.
        if _is_group(field.annotation):
            return None, field_name, False
        return super().get_field_value(field, field_name)


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, _Group)


class SourceSettings(_Group):
    """Where the source clients call and how they identify themselves."""

    pypistats_url: _Url = "https://pypistats.org"
    npm_url: _Url = "https://api.npmjs.org"
    crates_url: _Url = "https://crates.io"
    github_api_url: _Url = "https://api.github.com"
    hn_url: _Url = "https://hn.algolia.com"
    github_token: str | None = Field(None, validation_alias="GITHUB_TOKEN", repr=False)
    contact: str | None = None
    timeout_seconds: float = Field(
        30.0, ge=0.1, validation_alias="CM_HTTP_TIMEOUT", description="a number >= 0.1"
    )
    retry_budget_seconds: float = Field(300.0, ge=0, description="a number >= 0")
    refresh_lookback_weeks: int = Field(2, ge=0, description="a whole number >= 0")
    # The public archives (sources/clickhouse.py): an empty URL turns one off.
    clickpy_url: _OffOrUrl = "https://clickpy-clickhouse.clickhouse.com"
    clickpy_user: str = "play"
    gharchive_url: _OffOrUrl = "https://play.clickhouse.com"
    gharchive_user: str = "play"
    gharchive_table: str = Field(
        "github_events", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="a table name"
    )
    archive_timeout_seconds: float = Field(
        120.0,
        ge=1,
        validation_alias="CM_ARCHIVE_TIMEOUT",
        description="a number of seconds >= 1",
    )
    # Coverage canaries: a package (repository) with data every day, asked beside the catalog
    # so a day without a row reads as 0 only where the source has data (empty: no canary).
    pypi_canary: _Canary = "pip"
    npm_canary: _Canary = "react"
    crates_canary: _Canary = "serde"
    gharchive_canary: _Canary = "torvalds/linux"
    source_diff_threshold: float = Field(
        0.05, ge=0, description="a relative difference >= 0, such as 0.05"
    )


class EmbedderSettings(_Group):
    """Which embedder turns mentions into vectors; switching it re-embeds every mention."""

    kind: Annotated[EmbedderKind, BeforeValidator(_lower)] = Field(
        "local",
        validation_alias="CM_EMBEDDER",
        description="'local' (offline MiniLM, the default) or 'openai' (OpenAI or a compatible "
        "server, needs OPENAI_API_KEY)",
    )
    model: str = Field("text-embedding-3-small", validation_alias="CM_EMBED_MODEL")
    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY", repr=False)
    openai_base_url: _OptionalUrl = Field(None, validation_alias="OPENAI_BASE_URL")
    dimensions: int | None = Field(
        None, ge=1, validation_alias="CM_EMBED_DIMENSIONS", description="a whole number >= 1"
    )

    @model_validator(mode="after")
    def _openai_needs_a_key(self) -> Self:
        if self.kind == "openai" and not self.openai_api_key:
            raise ConfigError(
                "CM_EMBEDDER=openai needs OPENAI_API_KEY: set it (and OPENAI_BASE_URL for a "
                "compatible server), or use CM_EMBEDDER=local."
            )
        return self


def _comma_list(value: Any) -> Any:
    """A comma-separated variable (several origins, several webhooks) as a tuple."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _check_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    """CM_API_CORS_ORIGINS: `*` only when written literally; a trailing / is dropped."""
    origins = tuple(o.rstrip("/") for o in origins)
    for origin in origins:
        if origin != "*" and _http_url(origin) != origin:
            raise ValueError(f"{origin!r} is not an origin")
    return origins


def _check_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    for url in urls:
        _http_url(url)  # its error never echoes the URL: webhook URLs hold their secret
    return urls


class AlertSettings(_Group):
    """Where alerts go and when data counts as suspicious (the sensors and `alerts test`)."""

    webhook_urls: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_comma_list), AfterValidator(_check_urls)
    ] = Field(
        (),
        validation_alias="CM_ALERT_WEBHOOK_URL",
        repr=False,
        description="comma-separated http(s) URLs",
    )
    slack_bot_token: str | None = Field(None, validation_alias="CM_SLACK_BOT_TOKEN", repr=False)
    slack_channel: str | None = Field(None, validation_alias="CM_SLACK_CHANNEL")
    slack_api_url: _Url = Field("https://slack.com/api", validation_alias="CM_SLACK_API_URL")
    dagster_ui_url: _Url = Field("http://127.0.0.1:3000", validation_alias="CM_DAGSTER_UI_URL")
    interval_seconds: int = Field(
        30,
        ge=1,
        le=3600,
        validation_alias="CM_ALERT_INTERVAL_SECONDS",
        description="a whole number of seconds, 1 to 3600",
    )
    anomaly_k: float = Field(5.0, gt=0, validation_alias="CM_ANOMALY_K", description="a number > 0")
    repeated_failures: int = Field(
        3, ge=2, validation_alias="CM_ALERT_REPEATED_FAILURES", description="a whole number >= 2"
    )

    @model_validator(mode="after")
    def _slack_needs_both(self) -> Self:
        if bool(self.slack_bot_token) != bool(self.slack_channel):
            raise ConfigError(
                "Slack alerts need both CM_SLACK_BOT_TOKEN (a bot token, xoxb-...) and "
                "CM_SLACK_CHANNEL (a channel id or #name): set both, or neither."
            )
        return self


class ApiSettings(_Group):
    """The read-only HTTP API (`community-metrics serve`)."""

    cors_origins: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_comma_list), AfterValidator(_check_origins)
    ] = Field(
        (),
        validation_alias="CM_API_CORS_ORIGINS",
        description="comma-separated origins like https://example.org (or * for any)",
    )
    rate_limit_per_minute: int = Field(
        600,
        ge=0,
        validation_alias="CM_API_RATE_LIMIT",
        description="a whole number of requests per minute per client >= 0 (0: no limit)",
    )
    refresh_seconds: float = Field(
        1.0,
        ge=0,
        le=3600,
        validation_alias="CM_API_REFRESH_SECONDS",
        description="seconds between checks for new table versions, 0 to 3600 (0: every request)",
    )


class Settings(_Group):
    """Where data lives, plus the source and embedder groups; `load_settings` builds it."""

    storage_mode: Annotated[StorageMode, BeforeValidator(_lower)] = Field(
        "local",
        description="'local' (LanceDB files or an s3:// URI in CM_DB_PATH) or 'enterprise' "
        "(LanceDB Enterprise via CM_LANCEDB_URI)",
    )
    seed_dir: _ProjectPath = Path(DEFAULT_SEED_DIR)
    dagster_home: _ProjectPath = Field(Path(DEFAULT_DAGSTER_HOME), validation_alias="DAGSTER_HOME")
    db_path: Annotated[str, AfterValidator(_database_path)] = DEFAULT_DB_PATH
    lancedb_uri: str | None = None
    lancedb_api_key: str | None = Field(None, repr=False)
    lancedb_read_api_key: str | None = Field(None, repr=False)
    lancedb_region: str = "us-east-1"
    lancedb_host_override: str | None = None
    aws_access_key_id: str | None = Field(None, validation_alias="AWS_ACCESS_KEY_ID", repr=False)
    aws_secret_access_key: str | None = Field(
        None, validation_alias="AWS_SECRET_ACCESS_KEY", repr=False
    )
    aws_session_token: str | None = Field(None, validation_alias="AWS_SESSION_TOKEN", repr=False)
    aws_region: str | None = Field(
        None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    aws_endpoint: str | None = Field(None, validation_alias="AWS_ENDPOINT_URL")
    sources: SourceSettings = Field(default_factory=SourceSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @field_validator("seed_dir")
    @classmethod
    def _seed_dir_exists(cls, path: Path) -> Path:
        if not path.is_dir():
            raise ConfigError(
                f"CM_SEED_DIR points to {path}, which is not a directory: set CM_SEED_DIR to the "
                "folder holding catalog.toml and the seed CSV files (default: seed_data/)."
            )
        return path

    @model_validator(mode="after")
    def _mode_has_its_variables(self) -> Self:
        """Each mode takes its own variables: enterprise never falls back to local files."""
        if self.storage_mode == "enterprise":
            _check_enterprise(self)
        else:
            _check_local(self)
        return self

    @property
    def db_uri(self) -> str:
        """What LanceDB connects to: CM_LANCEDB_URI in enterprise mode, else CM_DB_PATH."""
        return self.lancedb_uri if self.storage_mode == "enterprise" else self.db_path

    @property
    def is_object_store(self) -> bool:
        return self.db_uri.startswith(OBJECT_STORE_SCHEMES)

    @property
    def storage_options(self) -> dict[str, str]:
        """LanceDB's object-store options for an s3:// (or other object-store) CM_DB_PATH."""
        if not self.is_object_store:
            return {}
        options = {name: value for name in AWS_OPTIONS if (value := getattr(self, name))}
        if options.get("aws_endpoint", "").startswith("http://"):
            options["allow_http"] = "true"  # e.g. MinIO or moto on localhost
        return options

    def describe(self) -> str:
        """Where data goes, safe to log: never includes keys or secrets."""
        if self.storage_mode == "enterprise":
            return f"LanceDB Enterprise {self.db_uri} (region {self.lancedb_region})"
        return f"LanceDB at {self.db_uri}"


def _check_local(settings: Settings) -> None:
    if settings.lancedb_uri:
        raise ConfigError(
            "CM_LANCEDB_URI is set but CM_STORAGE_MODE is 'local': set CM_STORAGE_MODE=enterprise "
            "to use LanceDB Enterprise, or unset CM_LANCEDB_URI and use CM_DB_PATH."
        )
    path = settings.db_path
    if path.startswith("db://"):
        raise ConfigError(
            "CM_DB_PATH is a db:// URI: LanceDB Enterprise needs CM_STORAGE_MODE=enterprise and "
            "CM_LANCEDB_URI; CM_DB_PATH takes a local folder or an s3:// URI."
        )
    if "://" in path and not path.startswith(OBJECT_STORE_SCHEMES):
        raise ConfigError(
            f"CM_DB_PATH has an unsupported scheme: {path.split('://')[0]}://. Use a local "
            f"folder or one of {', '.join(OBJECT_STORE_SCHEMES)}."
        )


def _check_enterprise(settings: Settings) -> None:
    if not settings.lancedb_uri:
        raise ConfigError(
            "CM_STORAGE_MODE=enterprise needs CM_LANCEDB_URI (db://your-database): set it, or use "
            "CM_STORAGE_MODE=local for local files."
        )
    if not settings.lancedb_uri.startswith("db://"):
        raise ConfigError(
            "CM_LANCEDB_URI must start with db:// (for example db://community-metrics); for local "
            "or s3:// storage use CM_STORAGE_MODE=local and CM_DB_PATH."
        )
    if not (settings.lancedb_api_key or settings.lancedb_read_api_key):
        raise ConfigError(
            "CM_STORAGE_MODE=enterprise needs CM_LANCEDB_API_KEY (the pipeline's write key) or, "
            "for the read-only API alone, CM_LANCEDB_READ_API_KEY: set one, or use "
            "CM_STORAGE_MODE=local."
        )


def _aliases(field: FieldInfo) -> tuple[str, ...]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return (alias,) if isinstance(alias, str) else ()


def _variable(name: str, field: FieldInfo) -> str:
    """The environment variable behind a field: its (first) alias, or CM_ + its name."""
    return next(iter(_aliases(field)), ENV_PREFIX + name.upper())


# Every CM_ variable, derived from the fields so that a new setting is declared once.
CM_VARIABLES = tuple(
    variable
    for group in (Settings, SourceSettings, EmbedderSettings, ApiSettings, AlertSettings)
    for name, field in group.model_fields.items()
    if not _is_group(field.annotation)
    and (variable := _variable(name, field)).startswith(ENV_PREFIX)
)


def _config_error(group: type[_Group], exc: ValidationError) -> ConfigError:
    """pydantic's first error as one line naming the variable and the fix, without secrets."""
    error = exc.errors(include_url=False)[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):  # our own checks already name the variable and the fix
        return ConfigError(str(cause))
    key = error["loc"][0]
    name, field = next(
        ((name, f) for name, f in group.model_fields.items() if key in (name, *_aliases(f))),
        (str(key), None),
    )
    if field is None:
        return ConfigError(f"{key} is not a {group.__name__} setting: remove it or fix the name.")
    variable = _variable(name, field)
    shown = variable if field.repr is False else f"{variable}={error['input']!r}"
    fix = f"use {field.description}" if field.description else error["msg"]
    return ConfigError(f"{shown} is not valid: {fix}.")


def _reject_unknown(env: Mapping[str, str]) -> None:
    """A mistyped CM_ name would otherwise be ignored silently and its default used instead."""
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in CM_VARIABLES:
            close = difflib.get_close_matches(name, CM_VARIABLES, n=1)
            fix = (
                f"did you mean {close[0]}? (unset it or fix the name)"
                if close
                else "unset it or fix the name (the README's configuration table lists them)"
            )
            raise ConfigError(f"{name} is not a community-metrics setting: {fix}")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate settings from `env` alone (default: the process environment)."""
    env = os.environ if env is None else env
    _reject_unknown(env)
    settings = Settings._from_env(env)
    groups = {
        "sources": SourceSettings._from_env(env),
        "embedder": EmbedderSettings._from_env(env),
        "api": ApiSettings._from_env(env),
        "alerts": AlertSettings._from_env(env),
    }
    return settings.model_copy(update=groups)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, parsed on first use."""
    return load_settings()
