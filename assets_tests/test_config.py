import re
from pathlib import Path

import pytest

from community_metrics.config import (
    CM_VARIABLES,
    PROJECT_ROOT,
    ConfigError,
    EmbedderSettings,
    SourceSettings,
    load_settings,
)


def test_defaults_are_local_files_in_the_project():
    s = load_settings({})
    assert s.storage_mode == "local"
    assert Path(s.db_uri) == PROJECT_ROOT / "data" / "community_metrics.lancedb"
    assert s.seed_dir == PROJECT_ROOT / "seed_data"
    assert s.dagster_home == PROJECT_ROOT / ".dagster_home"


def test_invalid_mode_names_the_variable():
    with pytest.raises(ConfigError, match="CM_STORAGE_MODE='cloud' is not valid"):
        load_settings({"CM_STORAGE_MODE": "cloud"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CM_STORAGE_MODE": "enterprise"}, "needs CM_LANCEDB_URI"),
        (
            {"CM_STORAGE_MODE": "enterprise", "CM_LANCEDB_URI": "db://x"},
            "needs CM_LANCEDB_API_KEY (the pipeline's write key) or, for the read-only API alone",
        ),
        (
            {
                "CM_STORAGE_MODE": "enterprise",
                "CM_LANCEDB_URI": "/tmp/x",
                "CM_LANCEDB_API_KEY": "k",
            },
            "must start with db://",
        ),
        ({"CM_LANCEDB_URI": "db://x"}, "CM_STORAGE_MODE is 'local'"),
        ({"CM_DB_PATH": "db://x"}, "needs CM_STORAGE_MODE=enterprise"),
        ({"CM_DB_PATH": "ftp://host/x"}, "unsupported scheme: ftp://"),
        ({"CM_SEED_DIR": "/nonexistent/seed"}, "CM_SEED_DIR points to /nonexistent/seed"),
    ],
)
def test_invalid_values_fail_with_the_fix(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(env)


def test_enterprise_never_falls_back_and_keeps_the_key_secret():
    secret = "sk-very-secret-123"
    s = load_settings(
        {
            "CM_STORAGE_MODE": "enterprise",
            "CM_LANCEDB_URI": "db://metrics",
            "CM_LANCEDB_API_KEY": secret,
            "CM_LANCEDB_REGION": "eu-west-1",
            "CM_DB_PATH": "/tmp/should-not-be-used",
        }
    )
    assert (s.storage_mode, s.db_uri, s.lancedb_region) == (
        "enterprise",
        "db://metrics",
        "eu-west-1",
    )
    assert secret not in repr(s)
    assert secret not in s.describe()


def test_s3_uri_takes_the_standard_aws_variables():
    s = load_settings(
        {
            "CM_DB_PATH": "s3://bucket/prefix",
            "AWS_ACCESS_KEY_ID": "AKIA",
            "AWS_SECRET_ACCESS_KEY": "shh",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_REGION": "us-east-1",
        }
    )
    assert s.db_uri == "s3://bucket/prefix"
    assert s.storage_options == {
        "aws_access_key_id": "AKIA",
        "aws_secret_access_key": "shh",
        "aws_endpoint": "http://127.0.0.1:9000",
        "aws_region": "us-east-1",
        "allow_http": "true",
    }
    assert "shh" not in repr(s)


def config_error(env) -> str:
    """The error load_settings raises for `env`, checked to be one line."""
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CM_HTTP_TIMEOUT": "fast"}, "CM_HTTP_TIMEOUT='fast' is not valid: use a number >= 0.1."),
        ({"CM_HTTP_TIMEOUT": "0"}, "CM_HTTP_TIMEOUT='0' is not valid: use a number >= 0.1."),
        (
            {"CM_RETRY_BUDGET_SECONDS": "-1"},
            "CM_RETRY_BUDGET_SECONDS='-1' is not valid: use a number >= 0.",
        ),
        (
            {"CM_EMBED_DIMENSIONS": "0"},
            "CM_EMBED_DIMENSIONS='0' is not valid: use a whole number >= 1.",
        ),
        (
            {"CM_REFRESH_LOOKBACK_WEEKS": "two"},
            "CM_REFRESH_LOOKBACK_WEEKS='two' is not valid: use a whole number >= 0.",
        ),
        (
            {"CM_NPM_URL": "api.npmjs.org"},
            "CM_NPM_URL='api.npmjs.org' is not valid: use an http(s) URL like https://host[:port].",
        ),
        (
            {"OPENAI_BASE_URL": "ftp://host/v1"},
            "OPENAI_BASE_URL='ftp://host/v1' is not valid: use an http(s) URL like "
            "https://host[:port].",
        ),
        ({"CM_EMBEDDER": "torch"}, "CM_EMBEDDER='torch' is not valid: use 'local'"),
        ({"CM_EMBEDDER": "openai"}, "CM_EMBEDDER=openai needs OPENAI_API_KEY"),
    ],
)
def test_wrong_values_name_the_variable_the_value_and_what_to_use(env, message):
    assert config_error(env).startswith(message)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "CM_DB_PAHT",
            "CM_DB_PAHT is not a community-metrics setting: did you mean CM_DB_PATH? "
            "(unset it or fix the name)",
        ),
        ("CM_HTTP_TIMEOUT_SECONDS", "did you mean CM_HTTP_TIMEOUT?"),
        ("CM_XYZZY", "CM_XYZZY is not a community-metrics setting: unset it or fix the name"),
    ],
)
def test_unknown_cm_variable_is_an_error_with_a_suggestion(name, message):
    assert message in config_error({name: "x"})


def test_unknown_cm_variable_in_the_process_environment_is_rejected(monkeypatch):
    monkeypatch.setenv("CM_EMBEDER", "openai")
    with pytest.raises(ConfigError, match="CM_EMBEDER .* did you mean CM_EMBEDDER\\?"):
        load_settings()


def test_an_explicit_env_is_the_only_source(tmp_path, monkeypatch):
    monkeypatch.setenv("CM_STORAGE_MODE", "enterprise")
    monkeypatch.setenv("CM_HTTP_TIMEOUT", "5")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CM_EMBEDDER=openai\nCM_DB_PATH=/tmp/from-dotenv\n")
    s = load_settings({})
    assert (s.storage_mode, s.sources.timeout_seconds, s.embedder.kind) == ("local", 30.0, "local")
    assert Path(s.db_uri) == PROJECT_ROOT / "data" / "community_metrics.lancedb"
    # Without a mapping the process environment is read (and still no .env file).
    monkeypatch.delenv("CM_STORAGE_MODE")
    s = load_settings()
    assert (s.sources.timeout_seconds, s.embedder.kind) == (5.0, "local")


def test_groups_built_directly_use_only_their_defaults(monkeypatch):
    monkeypatch.setenv("CM_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("CM_EMBEDDER", "openai")
    assert SourceSettings().timeout_seconds == 30.0
    assert SourceSettings().pypistats_url == "https://pypistats.org"
    assert EmbedderSettings() == EmbedderSettings(kind="local", model="text-embedding-3-small")
    assert load_settings({}).sources == SourceSettings()


def test_values_are_parsed_and_normalised():
    s = load_settings(
        {
            "CM_STORAGE_MODE": " Local ",
            "CM_DB_PATH": "",
            "CM_HTTP_TIMEOUT": "2.5",
            "CM_REFRESH_LOOKBACK_WEEKS": "4",
            "CM_EMBEDDER": "OpenAI",
            "OPENAI_API_KEY": "sk-x",
            "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1/",
            "CM_EMBED_DIMENSIONS": "256",
            "CM_GITHUB_API_URL": "https://ghe.example.com/api/v3/",
            "DAGSTER_HOME": "relative/home",
        }
    )
    assert s.storage_mode == "local"
    assert Path(s.db_uri) == PROJECT_ROOT / "data" / "community_metrics.lancedb"
    assert (s.sources.timeout_seconds, s.sources.refresh_lookback_weeks) == (2.5, 4)
    assert s.sources.github_api_url == "https://ghe.example.com/api/v3"
    assert (s.embedder.kind, s.embedder.dimensions) == ("openai", 256)
    assert s.embedder.openai_base_url == "http://127.0.0.1:11434/v1"
    assert s.dagster_home == PROJECT_ROOT / "relative" / "home"
    assert not s.is_object_store and s.storage_options == {}


def test_aws_region_wins_over_the_default_region():
    s = load_settings(
        {"CM_DB_PATH": "s3://b/p", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2"}
    )
    assert s.is_object_store
    assert s.storage_options == {"aws_region": "eu-west-1"}
    only_default = load_settings({"CM_DB_PATH": "s3://b/p", "AWS_DEFAULT_REGION": "us-east-2"})
    assert only_default.storage_options == {"aws_region": "us-east-2"}


def test_settings_are_immutable():
    s = load_settings({})
    with pytest.raises(ValueError, match="frozen"):
        s.storage_mode = "enterprise"
    with pytest.raises(ValueError, match="frozen"):
        s.sources.timeout_seconds = 1.0


SECRETS = {
    "CM_LANCEDB_API_KEY": "lancedb-secret-1",
    "GITHUB_TOKEN": "ghp-secret-2",
    "OPENAI_API_KEY": "sk-secret-3",
    "CM_ALERT_WEBHOOK_URL": "https://hooks.example.com/secret-4",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-5",
    "AWS_SESSION_TOKEN": "aws-secret-6",
    "CM_SLACK_BOT_TOKEN": "xoxb-secret-7",
}


def test_secrets_are_plain_strings_but_never_shown():
    s = load_settings(
        {
            **SECRETS,
            "CM_DB_PATH": "s3://bucket/prefix",
            "CM_EMBEDDER": "openai",
            "CM_SLACK_CHANNEL": "#metrics",
        }
    )
    assert s.sources.github_token == "ghp-secret-2"
    assert s.embedder.openai_api_key == "sk-secret-3"
    assert s.alerts.webhook_urls == ("https://hooks.example.com/secret-4",)
    assert s.alerts.slack_bot_token == "xoxb-secret-7"
    assert s.lancedb_api_key == "lancedb-secret-1"
    assert s.storage_options["aws_secret_access_key"] == "aws-secret-5"
    shown = " ".join(
        [repr(s), str(s), s.describe(), repr(s.sources), str(s.sources), repr(s.embedder)]
        + [repr(s.alerts), str(s.alerts)]
    )
    for secret in SECRETS.values():
        assert secret not in shown


@pytest.mark.parametrize(
    "env",
    [
        {"CM_ALERT_WEBHOOK_URL": "hooks.example.com/secret-4"},
        {"CM_ALERT_WEBHOOK_URL": "https://ok.example.com/a,hooks.example.com/secret-4"},
        {"CM_SLACK_BOT_TOKEN": "xoxb-secret-7"},
        {"CM_STORAGE_MODE": "enterprise", "CM_LANCEDB_API_KEY": "lancedb-secret-1"},
        {"CM_EMBEDDER": "nope", "OPENAI_API_KEY": "sk-secret-3", "GITHUB_TOKEN": "ghp-secret-2"},
    ],
)
def test_errors_never_show_secret_values(env):
    message = config_error(env)
    assert not any(secret in message for secret in SECRETS.values())
    assert "CM_" in message


def test_every_documented_variable_is_a_setting():
    table = (PROJECT_ROOT / "README.md").read_text().split("## Configuration")[1].split("\n## ")[0]
    documented = set(re.findall(r"`(CM_[A-Z_]+)`", table))
    assert documented == set(CM_VARIABLES)
