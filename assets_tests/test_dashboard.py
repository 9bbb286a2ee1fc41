"""The dashboard as a person meets it: headless Chromium loads it from `community-metrics
serve` over a seeded store, waits for the charts, and saves a screenshot.

Both run inside a network namespace of their own with only loopback up, so nothing can leave
the machine; the browser's net log then shows every connection it made went to 127.0.0.1."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import dagster as dg
import pytest

from community_metrics import weeks
from community_metrics.config import PROJECT_ROOT, load_settings
from community_metrics.definitions import build_definitions
from community_metrics.jobs import SEED_JOB, WEEKLY_JOB
from community_metrics.runner import execute

CHROMIUM = shutil.which("chromium")
PORT = 8931
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--window-size=1400,2600",
    "--virtual-time-budget=20000",
]


@pytest.fixture
def seeded_env(tmp_path):
    shutil.copytree(PROJECT_ROOT / "seed_data", tmp_path / "seed")
    env = {"CM_DB_PATH": str(tmp_path / "db"), "CM_SEED_DIR": str(tmp_path / "seed")}
    defs = build_definitions(load_settings(env))
    with dg.instance_for_test() as instance:
        assert execute(defs, SEED_JOB, instance).success
        assert execute(defs, WEEKLY_JOB, instance, weeks.closed_weeks(104)).success
    return env


def test_the_dashboard_renders_its_charts_offline(seeded_env, tmp_path):
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
    shot, dom, netlog = tmp_path / "dashboard.png", tmp_path / "dom.html", tmp_path / "net.json"
    url = f"http://127.0.0.1:{PORT}/"
    flags = " ".join(CHROMIUM_FLAGS)
    script = textwrap.dedent(
        f"""
        set -e
        ip link set lo up
        {sys.executable} -m community_metrics.cli serve --port {PORT} &
        server=$!
        for _ in $(seq 1 100); do
          {sys.executable} -c "import urllib.request as u; u.urlopen('{url}api/v1/health')" \\
            2>/dev/null && break || sleep 0.3
        done
        {CHROMIUM} {flags} --dump-dom {url} > {dom} 2>/dev/null
        {CHROMIUM} {flags} --log-net-log={netlog} --screenshot={shot} {url} 2>/dev/null
        kill $server
        """
    )
    done = subprocess.run(
        ["unshare", "--net", "bash", "-c", script],
        env={**os.environ, **seeded_env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr

    page = dom.read_text()
    assert 'data-ready="true"' in page and 'data-charts-loaded="true"' in page
    assert len(re.findall(r'<img class="chart"', page)) == 4  # 2 products, stars, compare
    assert len(re.findall(r'class="card"', page)) == 7 + 3  # metrics, 2 products, stars
    assert "Week of 2026-11-16" in page
    assert shot.stat().st_size > 50_000  # a full page, not a blank one
    # every asset is the app's own: no CDN, no font or script from elsewhere
    static = PROJECT_ROOT / "community_metrics" / "api" / "static"
    for asset in static.iterdir():
        links = re.findall(r"https?://[^\s\"')]+", asset.read_text())
        assert all(link.startswith("http://www.w3.org/2000/svg") for link in links), asset

    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    connected = {
        str(event["params"].get("address"))
        for event in log["events"]
        if names.get(event["type"]) == "TCP_CONNECT_ATTEMPT" and "params" in event
    }
    assert connected == {f"127.0.0.1:{PORT}"}
    requested = set(re.findall(r'"url":"(http[^"]+)"', netlog.read_text()))
    page_requests = {u for u in requested if u.startswith(url)}
    assert any("/api/v1/chart/" in u for u in page_requests)
    assert any("/api/v1/dashboard/weekly" in u for u in page_requests)
