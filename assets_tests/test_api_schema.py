"""schemathesis against the published OpenAPI spec: no server errors, every response matches
its schema and documented status codes, over a store seeded by the real pipeline.

The app is built at import (schemathesis needs its spec to generate the tests) over an empty
folder; the module fixture then seeds it, and the app serves the new table versions."""

import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from community_metrics import weeks
from community_metrics.api import create_app
from community_metrics.config import PROJECT_ROOT, load_settings
from community_metrics.definitions import build_definitions
from community_metrics.jobs import SEED_JOB, WEEKLY_JOB
from community_metrics.runner import execute

TMP = Path(tempfile.mkdtemp(prefix="cm_schema_"))
shutil.copytree(PROJECT_ROOT / "seed_data", TMP / "seed")
SETTINGS = load_settings(
    {"CM_DB_PATH": str(TMP / "db"), "CM_SEED_DIR": str(TMP / "seed"), "CM_API_RATE_LIMIT": "0"}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(SETTINGS))


@pytest.fixture(scope="module", autouse=True)
def seeded():
    defs = build_definitions(SETTINGS)
    with dg.instance_for_test() as instance:
        assert execute(defs, SEED_JOB, instance).success
        assert execute(defs, WEEKLY_JOB, instance, weeks.closed_weeks(12)).success
    yield
    shutil.rmtree(TMP, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_spec(case):
    case.call_and_validate()
