"""Fixtures: a private seed folder, LanceDB folder and Dagster instance per test (all real)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from community_metrics import config
from community_metrics.config import PROJECT_ROOT, load_settings
from community_metrics.definitions import build_definitions
from community_metrics.runner import EVENT_BATCH_ENV, EVENT_BATCH_SIZE, embedded_event_log
from community_metrics.store import StoreWriter

from .fake_sources import FakeSources

SEED_DATA = PROJECT_ROOT / "seed_data"


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    target = tmp_path / "seed"
    shutil.copytree(SEED_DATA, target)
    return target


@pytest.fixture
def env(tmp_path: Path, seed_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Process environment pointing every setting at the test's own folders."""
    values = {
        "CM_STORAGE_MODE": "local",
        "CM_DB_PATH": str(tmp_path / "db"),
        "CM_SEED_DIR": str(seed_dir),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        # No test reaches a third party: the archives are off unless a test serves them.
        "CM_CLICKPY_URL": "",
        "CM_GHARCHIVE_URL": "",
    }
    for name in ("CM_LANCEDB_URI", "CM_LANCEDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster_home").mkdir()
    config.get_settings.cache_clear()
    yield values
    config.get_settings.cache_clear()


@pytest.fixture
def settings(env):
    return load_settings(env)


@pytest.fixture
def defs(settings):
    return build_definitions(settings)


@pytest.fixture
def store(settings) -> StoreWriter:
    return StoreWriter.connect(settings)


@pytest.fixture
def fake():
    with FakeSources() as server:
        yield server


def point_at(fake, env, monkeypatch, **extra) -> tuple:
    """Settings, definitions and store aimed at the fake APIs (short timeouts), no seed."""
    values = {**fake.env(), "CM_HTTP_TIMEOUT": "1", "CM_RETRY_BUDGET_SECONDS": "3", **extra}
    for name, val in values.items():
        monkeypatch.setenv(name, val)
        env[name] = val
    config.get_settings.cache_clear()
    settings = load_settings(env)
    return settings, build_definitions(settings), StoreWriter.connect(settings)


@pytest.fixture
def live(env, fake, monkeypatch):
    return point_at(fake, env, monkeypatch)


# The project's event log storage (dagster.yaml), batching as the CLI and `up` make it batch.
BATCHED_EVENT_LOG = embedded_event_log()


@pytest.fixture
def instance(monkeypatch):
    monkeypatch.setenv(EVENT_BATCH_ENV, EVENT_BATCH_SIZE)
    with dg.instance_for_test(overrides=BATCHED_EVENT_LOG) as inst:
        yield inst


def run_module(module: str, args: list[str], env: dict[str, str], timeout: float = 300):
    """`python -m module args` in a child process with the test's environment, as users run it."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_module("community_metrics.cli", args, env)


PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def postgres_db():
    """A fresh database on the machine's PostgreSQL (trust auth), dropped afterwards."""
    import psycopg2

    name = f"cm_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable on {PG['host']}:{PG['port']} as {PG['user']} "
            f"(.ci/run starts it): {error}"
        )
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield name
    admin.cursor().execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


def postgres_env(database: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables the deploy/ instance files read, for that database."""
    return {
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": str(PG["port"]),
        "DAGSTER_PG_USER": PG["user"],
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": database,
    }
