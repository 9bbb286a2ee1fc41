from pathlib import Path

import pytest

from community_metrics.config import PROJECT_ROOT, ConfigError, load_settings


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
            "needs CM_LANCEDB_API_KEY: set it, or use CM_STORAGE_MODE=local",
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
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
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
