"""The deployment files, checked offline: the image by hadolint, the systemd units by
systemd-analyze, the CloudFormation template by cfn-lint, plus what each must promise (no
secret baked in, a non-root user, a read-only API)."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from community_metrics.config import PROJECT_ROOT, load_settings

from .conftest import run_cli

DEPLOY = PROJECT_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SECRET_NAMES = (
    "OPENAI_API_KEY",
    "CM_LANCEDB_API_KEY",
    "CM_LANCEDB_READ_API_KEY",
    "CM_SLACK_BOT_TOKEN",
    "GITHUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "DAGSTER_PG_PASSWORD",
)
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)


def test_the_image_passes_hadolint_and_bakes_in_no_secret():
    linted = _run(str(BIN / "hadolint"), "Dockerfile")
    assert linted.returncode == 0 and linted.stdout == "", linted.stdout + linted.stderr
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # build stage, runtime stage
    (user,) = re.findall(r"^USER (\S+)", text, re.M)
    assert user.split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK ", text, re.M)
    assert "uv sync --locked" in text
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert not [name for name in SECRET_NAMES if name in code]
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", ".dagster_home", ".git"} <= set(ignored)


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(path)
    return parser


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_the_systemd_units_verify(tmp_path):
    assert {p.name for p in UNITS} == {
        "community-metrics-webserver.service",
        "community-metrics-daemon.service",
        "community-metrics-api.service",
        "community-metrics-secrets.service",
    }
    for unit in UNITS:  # pointed at this checkout, so their ExecStart binaries exist
        text = unit.read_text().replace("/opt/community-metrics", str(PROJECT_ROOT))
        (tmp_path / unit.name).write_text(text)
    checked = _run("systemd-analyze", "verify", *map(str, sorted(tmp_path.glob("*.service"))))
    # unknown keys are only warnings: any output is a failure here
    assert checked.returncode == 0 and checked.stderr.strip() == "", checked.stderr


def test_the_units_restart_run_unprivileged_and_keep_the_api_read_only():
    services = {p.name: _unit(p)["Service"] for p in UNITS if "secrets" not in p.name}
    for name, service in services.items():
        assert service["Restart"] == "on-failure", name
        assert service["User"] not in ("root", ""), name
        assert service["EnvironmentFile"].startswith("/etc/community-metrics/"), name
        assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "true"
    api = services["community-metrics-api.service"]
    assert api["EnvironmentFile"] == "/etc/community-metrics/api.env"  # read keys only
    assert api["User"] != services["community-metrics-daemon.service"]["User"]
    assert "ReadWritePaths" not in api
    assert "127.0.0.1" in api["ExecStart"]  # only the reverse proxy is exposed
    for name in services:  # the env files exist before any service starts
        unit = _unit(DEPLOY / "systemd" / name)["Unit"]
        assert "community-metrics-secrets.service" in unit["Requires"]
        assert "community-metrics-secrets.service" in unit["After"]


@pytest.fixture
def secrets_manager(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    import boto3

    yield aws, boto3.client("secretsmanager")
    server.stop()


def test_every_dagster_process_writes_asset_events_in_batches():
    """The batched event log storages need Dagster to hand them batches: the image and the
    units of the processes that create runs set the size `up` and the CLI set."""
    from community_metrics.runner import EVENT_BATCH_ENV, EVENT_BATCH_SIZE

    wanted = f"{EVENT_BATCH_ENV}={EVENT_BATCH_SIZE}"
    assert wanted in (PROJECT_ROOT / "Dockerfile").read_text()
    for role in ("daemon", "webserver"):
        unit = (DEPLOY / "systemd" / f"community-metrics-{role}.service").read_text()
        assert f"Environment={wanted}" in unit, role
    for name in ("dagster.yaml", "deploy/dagster.yaml", "deploy/dagster-single-host.yaml"):
        assert "class: Batched" in (PROJECT_ROOT / name).read_text(), name


def test_the_env_file_comes_from_secrets_manager(env, secrets_manager, tmp_path):
    aws, client = secrets_manager
    values = {
        "CM_LANCEDB_API_KEY": "sk-write-secret-1",
        "OPENAI_API_KEY": "sk-openai-secret-2",
        "CM_SLACK_BOT_TOKEN": "xoxb-secret-3",
        "CM_SLACK_CHANNEL": "#metrics",
        "DAGSTER_PG_PASSWORD": "pg-secret-4",
    }
    client.create_secret(Name="community-metrics/writer", SecretString=json.dumps(values))
    out = tmp_path / "etc" / "env"
    done = run_cli(
        ["secrets", "env-file", "community-metrics/writer", "--out", str(out)], {**env, **aws}
    )
    assert done.returncode == 0, done.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    read = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert read == values
    assert not [v for v in values.values() if v in done.stdout + done.stderr]
    assert "CM_SLACK_BOT_TOKEN" in done.stdout  # the names are reported
    settings = load_settings({**env, **read, "CM_EMBEDDER": "openai"})
    assert settings.alerts.slack_bot_token == "xoxb-secret-3"

    client.create_secret(Name="typo", SecretString=json.dumps({"CM_SLAK_CHANNEL": "#x"}))
    bad = run_cli(["secrets", "env-file", "typo", "--out", str(out)], {**env, **aws})
    assert bad.returncode == 1 and "CM_SLAK_CHANNEL" in bad.stderr
    assert dict(line.split("=", 1) for line in out.read_text().splitlines()) == values  # kept
    missing = run_cli(["secrets", "env-file", "nope", "--out", str(out)], {**env, **aws})
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr


def _template() -> dict:
    from cfnlint.decode import decode

    template, matches = decode(str(DEPLOY / "cloudformation.yaml"))
    assert not matches, matches
    return template


def test_the_cloudformation_template_passes_cfn_lint():
    linted = _run(str(BIN / "cfn-lint"), "deploy/cloudformation.yaml")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def _statements(resource: dict) -> list[dict]:
    return [
        statement
        for policy in resource["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def test_the_template_keeps_the_api_read_only_and_the_bucket_private():
    resources = _template()["Resources"]
    roles = {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}
    tasks = {k: v for k, v in resources.items() if v["Type"] == "AWS::ECS::TaskDefinition"}
    api_task = next(
        t
        for t in tasks.values()
        if any("serve" in c.get("Command", []) for c in t["Properties"]["ContainerDefinitions"])
    )
    api_role = roles[api_task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]]
    actions = set()
    for statement in _statements(api_role):
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions |= set([listed] if isinstance(listed, str) else listed)
    assert actions == {"s3:GetObject", "s3:ListBucket"}
    assert not api_role["Properties"].get("ManagedPolicyArns")
    (container,) = api_task["Properties"]["ContainerDefinitions"]
    injected = {s["Name"] for s in container.get("Secrets", [])}
    assert "CM_LANCEDB_API_KEY" not in injected and "CM_LANCEDB_READ_API_KEY" in injected

    (bucket,) = [r for r in resources.values() if r["Type"] == "AWS::S3::Bucket"]
    block = bucket["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block[k] is True or block[k] == "true" for k in block) and len(block) == 4
    assert bucket["Properties"]["BucketEncryption"]
    assert bucket["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"

    groups = [
        r for r in resources.values() if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"
    ]
    assert "/api/v1/health" in {g["Properties"].get("HealthCheckPath") for g in groups}
    (database,) = [r for r in resources.values() if r["Type"] == "AWS::RDS::DBInstance"]
    assert database["Properties"]["StorageEncrypted"] in (True, "true")
    assert database["Properties"].get("PubliclyAccessible") in (False, "false", None)
    text = (DEPLOY / "cloudformation.yaml").read_text()
    assert not re.search(r"\b(sk-|xoxb-|ghp_)[A-Za-z0-9]{8,}", text)  # no secret value in it
