"""What the benches share: the environment aiming every source at local fakes, and one timed
Dagster run of the refresh job on the project's embedded instance configuration."""

from __future__ import annotations

import os
import time

import dagster as dg

from community_metrics.config import Settings
from community_metrics.definitions import build_definitions
from community_metrics.jobs import REFRESH_JOB
from community_metrics.runner import (
    EVENT_BATCH_ENV,
    EVENT_BATCH_SIZE,
    QUIET_CONSOLE,
    embedded_event_log,
    execute,
)


def fake_env(api_url: str, archive_url: str = "") -> dict[str, str]:
    """Every API at `api_url`; the archives at `archive_url`, or off."""
    return {
        "CM_PYPISTATS_URL": api_url,
        "CM_NPM_URL": api_url,
        "CM_CRATES_URL": api_url,
        "CM_GITHUB_API_URL": api_url,
        "CM_HN_URL": api_url,
        "CM_CLICKPY_URL": archive_url,
        "CM_GHARCHIVE_URL": archive_url,
        "CM_STORAGE_MODE": "local",
    }


def timed_refresh(settings: Settings, keys: list[str]):
    """The refresh job over `keys` as one run, batched as the CLI batches: (result, wall s)."""
    os.environ.setdefault(EVENT_BATCH_ENV, EVENT_BATCH_SIZE)
    defs = build_definitions(settings)
    with dg.instance_for_test(overrides=embedded_event_log()) as instance:
        started = time.perf_counter()
        result = execute(defs, REFRESH_JOB, instance, keys, run_config=QUIET_CONSOLE)
        return result, time.perf_counter() - started
