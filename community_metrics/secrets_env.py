"""An env file from AWS Secrets Manager, for a single host: at boot, before the services start
(deploy/systemd/community-metrics-secrets.service), so no secret lives on disk but in a file
only the service user can read. On ECS the task definitions inject the same secrets instead.

The secret is one JSON object of variable names to values (Secrets Manager's key/value form).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from community_metrics.config import CM_VARIABLES, ENV_PREFIX, ConfigError

NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def fetch_secret(secret_id: str) -> dict[str, str]:
    """The secret's variables (boto3, from the production extra; endpoint and credentials
    from the standard AWS variables)."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise ConfigError(
            "reading AWS Secrets Manager needs boto3: install with `--extra production`"
        ) from None
    try:
        answer = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ConfigError(f"secret {secret_id!r}: AWS Secrets Manager answered {code}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"secret {secret_id!r}: {type(exc).__name__}") from None
    try:
        values = json.loads(answer.get("SecretString") or "")
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        raise ConfigError(
            f"secret {secret_id!r} is not a JSON object of NAME: value pairs (store it in "
            "Secrets Manager's key/value form)"
        )
    return values


def env_lines(secret_id: str, values: dict) -> list[str]:
    """`NAME=value` lines, each name checked: a typo would otherwise be ignored at start."""
    lines = []
    for name, value in sorted(values.items()):
        if not NAME.fullmatch(name):
            raise ConfigError(f"secret {secret_id!r}: key {name!r} is not a variable name")
        if name.startswith(ENV_PREFIX) and name not in CM_VARIABLES:
            raise ConfigError(
                f"secret {secret_id!r}: key {name} is not a community-metrics setting (the "
                "README's configuration table lists them)"
            )
        if not isinstance(value, str) or "\n" in value:
            raise ConfigError(f"secret {secret_id!r}: the value of {name} must be one line")
        lines.append(f"{name}={value}")
    return lines


def write_env_file(secret_id: str, out: Path) -> list[str]:
    """Write the secret's variables to `out` (mode 0600, replaced atomically); the names."""
    values = fetch_secret(secret_id)
    lines = env_lines(secret_id, values)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sorted(values)
