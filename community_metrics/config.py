"""Typed settings, read once from the environment.

Every variable is documented in the README's configuration table. A missing or invalid value
raises ConfigError naming the variable and the fix, so a bad deployment fails at start-up
instead of writing somewhere unexpected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = "data/community_metrics.lancedb"
DEFAULT_SEED_DIR = "seed_data"
DEFAULT_DAGSTER_HOME = ".dagster_home"
STORAGE_MODES = ("local", "enterprise")
OBJECT_STORE_SCHEMES = ("s3://", "gs://", "az://", "abfs://")
# Standard AWS variables passed to LanceDB's object store when CM_DB_PATH is an s3:// URI.
AWS_VARIABLES = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_REGION": "aws_region",
    "AWS_DEFAULT_REGION": "aws_region",
    "AWS_ENDPOINT_URL": "aws_endpoint",
}


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable and the fix."""


@dataclass(frozen=True)
class SourceSettings:
    """Where the source clients call and how they identify themselves."""

    pypistats_url: str = "https://pypistats.org"
    npm_url: str = "https://api.npmjs.org"
    crates_url: str = "https://crates.io"
    github_api_url: str = "https://api.github.com"
    hn_url: str = "https://hn.algolia.com"
    github_token: str | None = field(default=None, repr=False)
    contact: str | None = None
    timeout_seconds: float = 30.0
    retry_budget_seconds: float = 300.0
    refresh_lookback_weeks: int = 2
    alert_webhook_url: str | None = field(default=None, repr=False)


EMBEDDERS = ("local", "openai")


@dataclass(frozen=True)
class EmbedderSettings:
    """Which embedder turns mentions into vectors; switching it re-embeds every mention."""

    kind: str = "local"
    model: str = "text-embedding-3-small"
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    dimensions: int | None = None


@dataclass(frozen=True)
class Settings:
    storage_mode: str
    db_uri: str
    seed_dir: Path
    dagster_home: Path
    lancedb_api_key: str | None = field(default=None, repr=False)
    lancedb_region: str | None = None
    lancedb_host_override: str | None = None
    storage_options: Mapping[str, str] = field(default_factory=dict, repr=False)
    sources: SourceSettings = field(default_factory=lambda: SourceSettings())
    embedder: EmbedderSettings = field(default_factory=lambda: EmbedderSettings())

    @property
    def is_object_store(self) -> bool:
        return self.db_uri.startswith(OBJECT_STORE_SCHEMES)

    def describe(self) -> str:
        """Where data goes, safe to log: never includes keys or secrets."""
        if self.storage_mode == "enterprise":
            return f"LanceDB Enterprise {self.db_uri} (region {self.lancedb_region})"
        return f"LanceDB at {self.db_uri}"


def _clean(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _resolve_path(raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    mode = (_clean(env, "CM_STORAGE_MODE") or "local").lower()
    if mode not in STORAGE_MODES:
        raise ConfigError(
            f"CM_STORAGE_MODE={mode!r} is not valid: use 'local' (LanceDB files or an s3:// URI "
            "in CM_DB_PATH) or 'enterprise' (LanceDB Enterprise via CM_LANCEDB_URI)."
        )

    seed_dir = _resolve_path(_clean(env, "CM_SEED_DIR") or DEFAULT_SEED_DIR)
    if not seed_dir.is_dir():
        raise ConfigError(
            f"CM_SEED_DIR points to {seed_dir}, which is not a directory: set CM_SEED_DIR to the "
            "folder holding catalog.toml and the seed CSV files (default: seed_data/)."
        )
    dagster_home = _resolve_path(_clean(env, "DAGSTER_HOME") or DEFAULT_DAGSTER_HOME)

    settings = _storage_settings(env, mode, seed_dir, dagster_home)
    return replace(settings, sources=_source_settings(env), embedder=_embedder_settings(env))


def _embedder_settings(env: Mapping[str, str]) -> EmbedderSettings:
    kind = (_clean(env, "CM_EMBEDDER") or "local").lower()
    if kind not in EMBEDDERS:
        raise ConfigError(
            f"CM_EMBEDDER={kind!r} is not valid: use 'local' (offline MiniLM, the default) or "
            "'openai' (OpenAI or a compatible server, needs OPENAI_API_KEY)."
        )
    key = _clean(env, "OPENAI_API_KEY")
    if kind == "openai" and not key:
        raise ConfigError(
            "CM_EMBEDDER=openai needs OPENAI_API_KEY: set it (and OPENAI_BASE_URL for a "
            "compatible server), or use CM_EMBEDDER=local."
        )
    return EmbedderSettings(
        kind=kind,
        model=_clean(env, "CM_EMBED_MODEL") or EmbedderSettings.model,
        openai_api_key=key,
        openai_base_url=_url(env, "OPENAI_BASE_URL", None),
        dimensions=_number(env, "CM_EMBED_DIMENSIONS", None, int, 1),
    )


def _number(env: Mapping[str, str], name: str, default, kind, minimum):
    raw = _clean(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigError(f"{name}={raw!r} is not valid: use a {kind.__name__} >= {minimum}.")
    return value


def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = _clean(env, name) or default
    if value is not None and not value.startswith(("http://", "https://")):
        raise ConfigError(
            f"{name}={value!r} is not an http(s) URL: set it like https://host[:port]."
        )
    return value.rstrip("/") if value else None


def _source_settings(env: Mapping[str, str]) -> SourceSettings:
    defaults = SourceSettings()
    return SourceSettings(
        pypistats_url=_url(env, "CM_PYPISTATS_URL", defaults.pypistats_url),
        npm_url=_url(env, "CM_NPM_URL", defaults.npm_url),
        crates_url=_url(env, "CM_CRATES_URL", defaults.crates_url),
        github_api_url=_url(env, "CM_GITHUB_API_URL", defaults.github_api_url),
        hn_url=_url(env, "CM_HN_URL", defaults.hn_url),
        github_token=_clean(env, "GITHUB_TOKEN"),
        contact=_clean(env, "CM_CONTACT"),
        timeout_seconds=_number(env, "CM_HTTP_TIMEOUT", defaults.timeout_seconds, float, 0.1),
        retry_budget_seconds=_number(
            env, "CM_RETRY_BUDGET_SECONDS", defaults.retry_budget_seconds, float, 0
        ),
        refresh_lookback_weeks=_number(
            env, "CM_REFRESH_LOOKBACK_WEEKS", defaults.refresh_lookback_weeks, int, 0
        ),
        alert_webhook_url=_url(env, "CM_ALERT_WEBHOOK_URL", None),
    )


def _storage_settings(
    env: Mapping[str, str], mode: str, seed_dir: Path, dagster_home: Path
) -> Settings:
    if mode == "enterprise":
        return _enterprise_settings(env, seed_dir, dagster_home)

    if _clean(env, "CM_LANCEDB_URI"):
        raise ConfigError(
            "CM_LANCEDB_URI is set but CM_STORAGE_MODE is 'local': set CM_STORAGE_MODE=enterprise "
            "to use LanceDB Enterprise, or unset CM_LANCEDB_URI and use CM_DB_PATH."
        )
    raw_path = _clean(env, "CM_DB_PATH") or DEFAULT_DB_PATH
    if raw_path.startswith("db://"):
        raise ConfigError(
            "CM_DB_PATH is a db:// URI: LanceDB Enterprise needs CM_STORAGE_MODE=enterprise and "
            "CM_LANCEDB_URI; CM_DB_PATH takes a local folder or an s3:// URI."
        )
    if "://" in raw_path:
        if not raw_path.startswith(OBJECT_STORE_SCHEMES):
            raise ConfigError(
                f"CM_DB_PATH has an unsupported scheme: {raw_path.split('://')[0]}://. Use a local "
                f"folder or one of {', '.join(OBJECT_STORE_SCHEMES)}."
            )
        options = {opt: env[var] for var, opt in AWS_VARIABLES.items() if _clean(env, var)}
        if "aws_endpoint" in options and options["aws_endpoint"].startswith("http://"):
            options["allow_http"] = "true"
        return Settings(mode, raw_path, seed_dir, dagster_home, storage_options=options)
    return Settings(mode, str(_resolve_path(raw_path)), seed_dir, dagster_home)


def _enterprise_settings(env: Mapping[str, str], seed_dir: Path, dagster_home: Path) -> Settings:
    uri = _clean(env, "CM_LANCEDB_URI")
    if not uri:
        raise ConfigError(
            "CM_STORAGE_MODE=enterprise needs CM_LANCEDB_URI (db://your-database): set it, or use "
            "CM_STORAGE_MODE=local for local files."
        )
    if not uri.startswith("db://"):
        raise ConfigError(
            "CM_LANCEDB_URI must start with db:// (for example db://community-metrics); for local "
            "or s3:// storage use CM_STORAGE_MODE=local and CM_DB_PATH."
        )
    api_key = _clean(env, "CM_LANCEDB_API_KEY")
    if not api_key:
        raise ConfigError(
            "CM_STORAGE_MODE=enterprise needs CM_LANCEDB_API_KEY: set it, or use "
            "CM_STORAGE_MODE=local."
        )
    region = _clean(env, "CM_LANCEDB_REGION") or "us-east-1"
    return Settings(
        "enterprise",
        uri,
        seed_dir,
        dagster_home,
        lancedb_api_key=api_key,
        lancedb_region=region,
        lancedb_host_override=_clean(env, "CM_LANCEDB_HOST_OVERRIDE"),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, parsed on first use."""
    return load_settings()
