"""The read-only API serves LanceDB tables on S3 with read-only credentials, which cannot write.

S3 is moto's server in a child process started with INITIAL_NO_AUTH_ACTION_COUNT, so that
after the bootstrap calls (bucket, IAM users, policies, keys) every request is authenticated
and checked against the caller's IAM policy. The pipeline seeds s3://bucket/tables with the
writer's keys (s3:* on the bucket); the API, in process and as `community-metrics serve`, reads
with the reader's keys (s3:GetObject on tables/*, s3:ListBucket on the bucket, nothing else).
moto 5.2.5 checks Action and Resource but not Condition for S3 requests (it evaluates only
StringEquals, and only against values an S3 request does not carry), so the reader's ListBucket
has no s3:prefix condition: it would be accepted and never enforced.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import dagster as dg
import httpx
import lancedb
import pyarrow as pa
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from community_metrics import weeks
from community_metrics.api import create_app
from community_metrics.config import PROJECT_ROOT, load_settings
from community_metrics.definitions import build_definitions
from community_metrics.jobs import SEED_JOB, WEEKLY_JOB
from community_metrics.runner import execute

API = "/api/v1"
BUCKET = "cm-readonly"
PREFIX = "tables"
REGION = "us-east-1"
SEEDED_WEEKS = 8
# The bootstrap calls moto answers without authentication; the next request is checked.
BOOTSTRAP_CALLS = 7  # create_bucket + 2 x (create_user, put_user_policy, create_access_key)
STARTUP_SECONDS = 30
# How LanceDB (lance's object store) reports S3's refusal of a PUT
DENIED = "403 Forbidden"

WRITER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        }
    ],
}
READER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/{PREFIX}/*",
        },
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ() -> dict[str, str]:
    """os.environ without project or AWS settings, so a child sees only what the test sets."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("CM_", "AWS_"))}


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on port {port} in {STARTUP_SECONDS}s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def s3_client(endpoint: str, keys: dict[str, str]):
    # no retries: a refused request is refused once, and a bootstrap call is never repeated
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
        **keys,
    )


@pytest.fixture(scope="module")
def moto_iam():
    """moto's server enforcing IAM, with a writer and a reader; yields endpoint and keys."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**clean_environ(), "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_CALLS)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server, "moto.server")
        endpoint = f"http://127.0.0.1:{port}"
        bootstrap = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
        s3 = s3_client(endpoint, bootstrap)
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name=REGION,
            config=Config(retries={"total_max_attempts": 1}),
            **bootstrap,
        )
        s3.create_bucket(Bucket=BUCKET)
        keys = {}
        for user, policy in (("writer", WRITER_POLICY), ("reader", READER_POLICY)):
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user, PolicyName=f"{user}-s3", PolicyDocument=json.dumps(policy)
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = {
                "aws_access_key_id": key["AccessKeyId"],
                "aws_secret_access_key": key["SecretAccessKey"],
            }
        # The unauthenticated allowance is spent: even the bootstrap keys are now unknown.
        with pytest.raises(ClientError) as refused:
            s3.list_objects_v2(Bucket=BUCKET)
        assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        yield endpoint, keys
    finally:
        stop(server)


def env_for(endpoint: str, keys: dict[str, str], seed_dir: Path) -> dict[str, str]:
    return {
        "CM_DB_PATH": f"s3://{BUCKET}/{PREFIX}",
        "CM_SEED_DIR": str(seed_dir),
        "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
    }


@pytest.fixture(scope="module")
def seeded(moto_iam, tmp_path_factory):
    """Tables seeded on S3 by the pipeline with the writer's keys; yields (writer, reader) envs."""
    endpoint, keys = moto_iam
    seed_dir = tmp_path_factory.mktemp("readonly_s3") / "seed"
    shutil.copytree(PROJECT_ROOT / "seed_data", seed_dir)
    writer = env_for(endpoint, keys["writer"], seed_dir)
    reader = env_for(endpoint, keys["reader"], seed_dir)
    defs = build_definitions(load_settings(writer))
    with dg.instance_for_test() as instance:
        assert execute(defs, SEED_JOB, instance).success
        assert execute(defs, WEEKLY_JOB, instance, weeks.closed_weeks(SEEDED_WEEKS)).success
    return writer, reader


def test_the_api_serves_with_read_only_keys(seeded):
    _, reader = seeded
    client = TestClient(create_app(load_settings({**reader, "CM_API_RATE_LIMIT": "0"})))

    health = client.get(f"{API}/health")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["storage"] == f"LanceDB at s3://{BUCKET}/{PREFIX}"
    versions = {t["table"]: t["version"] for t in body["tables"]}
    for table in ("metrics", "observations", "stats", "history"):
        assert isinstance(versions[table], int), (table, versions)
    assert body["last_successful_run"]["job_name"] == WEEKLY_JOB

    definitions = client.get(f"{API}/definitions")
    assert definitions.status_code == 200, definitions.text
    assert len(definitions.json()) == 7

    series = client.get(f"{API}/series/downloads:lancedb:python", params={"weeks": SEEDED_WEEKS})
    assert series.status_code == 200, series.text
    points = series.json()["points"]
    assert [p["week"] for p in points] == weeks.closed_weeks(SEEDED_WEEKS)
    assert any(p["value"] is not None for p in points)

    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_the_read_only_keys_cannot_write(seeded):
    writer, reader = seeded
    endpoint = reader["AWS_ENDPOINT_URL"]
    keys = {
        user: {
            "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        }
        for user, env in (("writer", writer), ("reader", reader))
    }
    probe = f"{PREFIX}/readonly-probe.txt"

    # boto3: the reader may read what the writer puts under tables/, but not put or delete
    s3_writer, s3_reader = s3_client(endpoint, keys["writer"]), s3_client(endpoint, keys["reader"])
    s3_writer.put_object(Bucket=BUCKET, Key=probe, Body=b"written by the writer")
    assert s3_reader.get_object(Bucket=BUCKET, Key=probe)["Body"].read() == b"written by the writer"
    for attempt in (
        lambda: s3_reader.put_object(Bucket=BUCKET, Key=probe, Body=b"overwritten"),
        lambda: s3_reader.put_object(Bucket=BUCKET, Key="elsewhere.txt", Body=b"x"),
        lambda: s3_reader.delete_object(Bucket=BUCKET, Key=probe),
    ):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3_reader.get_object(Bucket=BUCKET, Key=probe)["Body"].read() == b"written by the writer"
    s3_writer.delete_object(Bucket=BUCKET, Key=probe)
    # and it reads only under tables/: the policy's Resource is enforced, not just its Action
    s3_writer.put_object(Bucket=BUCKET, Key="outside.txt", Body=b"not a table")
    with pytest.raises(ClientError) as refused:
        s3_reader.get_object(Bucket=BUCKET, Key="outside.txt")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    s3_writer.delete_object(Bucket=BUCKET, Key="outside.txt")

    # LanceDB with the product's storage options: the reader's writes fail, the writer's succeed
    uri = f"s3://{BUCKET}/{PREFIX}"
    as_writer = lancedb.connect(uri, storage_options=load_settings(writer).storage_options)
    as_reader = lancedb.connect(uri, storage_options=load_settings(reader).storage_options)
    metrics = as_reader.open_table("metrics")
    before = metrics.version
    row = metrics.head(1)
    assert row.num_rows == 1
    with pytest.raises(RuntimeError, match=DENIED):
        metrics.add(row)
    with pytest.raises(RuntimeError, match=DENIED):
        as_reader.create_table("readonly_probe", pa.table({"x": [1]}))
    assert as_reader.open_table("metrics").version == before
    assert (
        as_reader.open_table("metrics").count_rows() == as_writer.open_table("metrics").count_rows()
    )

    written = as_writer.create_table("readonly_probe", pa.table({"x": [1]}))
    written.add(pa.table({"x": [2]}))
    probe_table = as_reader.open_table("readonly_probe")
    assert probe_table.count_rows() == 2
    with pytest.raises(RuntimeError, match=DENIED):
        probe_table.add(pa.table({"x": [3]}))
    assert as_reader.open_table("readonly_probe").count_rows() == 2
    as_writer.drop_table("readonly_probe")


def test_community_metrics_serve_with_read_only_keys(seeded, tmp_path):
    _, reader = seeded
    port = free_port()
    command = Path(sys.executable).with_name("community-metrics")
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        serve = subprocess.Popen(
            [str(command), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**clean_environ(), **reader},
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port(port, serve, "community-metrics serve")
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{log.read_text()}") from None
        health = httpx.get(f"http://127.0.0.1:{port}{API}/health", timeout=30)
        assert health.status_code == 200, health.text
        versions = {t["table"]: t["version"] for t in health.json()["tables"]}
        assert isinstance(versions["metrics"], int) and isinstance(versions["stats"], int)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200
    finally:
        stop(serve)
