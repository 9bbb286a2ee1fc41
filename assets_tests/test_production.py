"""Production switches by configuration only: LanceDB on S3 and a Postgres-backed Dagster.

S3 is moto's S3 server on 127.0.0.1; Dagster uses deploy/dagster-single-host.yaml on the
machine's local PostgreSQL (started by .ci/run when it is not running). The ECS run launcher
and S3 compute logs of deploy/dagster.yaml: test_ecs.py.
"""

import datetime as dt
import os
import shutil

import boto3
import dagster as dg
import numpy as np
import psycopg2
import pytest
from moto.server import ThreadedMotoServer

from community_metrics.config import PROJECT_ROOT, load_settings
from community_metrics.definitions import build_definitions
from community_metrics.jobs import SEED_JOB, WEEKLY_JOB
from community_metrics.runner import execute
from community_metrics.search.core import MentionSearch
from community_metrics.store import METRICS, OBSERVATIONS, STATS, StoreReader, StoreWriter
from community_metrics.weeks import week_keys

from .conftest import PG, postgres_env, run_cli
from .test_search import sequential_hybrid


@pytest.fixture
def s3():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials)
    client.create_bucket(Bucket="community-metrics")
    yield endpoint, client
    server.stop()


def s3_settings(endpoint: str, prefix: str, **env: str):
    """Settings for LanceDB under s3://community-metrics/PREFIX on the moto server."""
    return load_settings(
        {
            "CM_DB_PATH": f"s3://community-metrics/{prefix}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            **env,
        }
    )


def test_lancedb_on_s3_by_configuration_only(s3, seed_dir):
    endpoint, client = s3
    settings = s3_settings(endpoint, "prod", CM_SEED_DIR=str(seed_dir))
    defs = build_definitions(settings)
    keys = week_keys(dt.date(2026, 10, 5), dt.date(2026, 11, 1))
    with dg.instance_for_test() as instance:
        assert execute(defs, SEED_JOB, instance).success
        assert execute(defs, WEEKLY_JOB, instance, keys).success
        store = StoreWriter.connect(settings)
        counts = {spec.name: store.count_rows(spec) for spec in (METRICS, OBSERVATIONS, STATS)}
        again = execute(defs, SEED_JOB, instance)
    assert again.success
    assert counts["metrics"] == 7 and counts["observations"] > 1000 and counts["stats"] > 100
    assert {spec.name: store.count_rows(spec) for spec in (METRICS, OBSERVATIONS, STATS)} == counts
    stored = client.list_objects_v2(Bucket="community-metrics", Prefix="prod/")
    names = {o["Key"].split("/")[1] for o in stored.get("Contents", [])}
    assert {"metrics.lance", "observations.lance", "stats.lance", "history.lance"} <= names
    # the search table lives there too, with its full-text index, and answers queries
    assert {"mentions.lance", "mention_embeddings.lance"} <= names
    assert store.embeddings_info()["rows"] == 32
    assert store.keyword_mentions("Electron")[0]["key"] == "example|ex-011"


def test_hybrid_search_on_s3_through_the_async_connection(s3, tmp_path):
    """Hybrid's legs read through the async connection, opened with the same storage options."""
    endpoint, _ = s3
    settings = s3_settings(endpoint, "search", DAGSTER_HOME=str(tmp_path))
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(30, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    at = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    words = ["lance", "parquet", "vector", "upsert", "bucket", "index"]
    rows = []
    for i, vector in enumerate(vectors):
        text = f"mention {i} about {words[i % 6]} and {words[i % 4]}"
        rows.append(
            {
                "source": "test",
                "source_id": str(i),
                "kind": "comment",
                "title": None,
                "text": text,
                "url": None,
                "author": None,
                "occurred_at": at + dt.timedelta(days=i),
                "products": ["lancedb"],
                "content_hash": str(i),
                "document": text,
                "embedder": "test",
                "vector": vector.tolist(),
                "embedded_at": at,
            }
        )
    StoreWriter.connect(settings).write_embeddings(rows, 8, replace=True)
    reader = StoreReader.connect(settings)
    search = MentionSearch(reader, settings.embedder)
    query = vectors[6].tolist()
    hits = search.ranked("hybrid", "lance vector", query, limit=5)
    assert hits == sequential_hybrid(reader, "lance vector", query, None, 5)
    assert hits[0]["key"] == "test|6" and hits[0]["text"] == "mention 6 about lance and vector"


def test_postgres_backed_dagster_from_deploy_config(env, postgres_db):
    shutil.copyfile(
        PROJECT_ROOT / "deploy" / "dagster-single-host.yaml",
        os.path.join(env["DAGSTER_HOME"], "dagster.yaml"),
    )
    env = {
        **env,
        **postgres_env(postgres_db),
    }
    seeded = run_cli(["seed"], env)
    assert seeded.returncode == 0, seeded.stderr
    backfill = run_cli(
        ["backfill", "--from", "2026-11-02", "--to", "2026-11-15", "--no-fetch"], env
    )
    assert backfill.returncode == 0, backfill.stderr

    with psycopg2.connect(dbname=postgres_db, **PG) as conn, conn.cursor() as cur:
        cur.execute("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")
        runs = cur.fetchall()
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        )
        (materializations,) = cur.fetchone()
    assert runs == [("seed_job", "SUCCESS"), ("weekly_metrics_job", "SUCCESS")]
    # five seed assets and the embeddings, then weekly_metrics over two weeks
    assert materializations == 6 + 2
