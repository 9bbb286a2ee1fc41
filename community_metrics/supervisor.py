"""Supervises the processes that `community-metrics up` starts, so that all of them stop with
it: `dagster dev` (webserver, daemon and code server) and the read-only API."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from community_metrics.config import PROJECT_ROOT

SERVER_WAIT_SECONDS = 240
STOP_GRACE_SECONDS = 30
# `dagster dev` is superseded by `dg dev` (another package); the notice is noise for users.
SUPERSEDED_WARNING = "ignore:Function `dev_command` is superseded"


class ServerError(RuntimeError):
    """A server did not come up; the message says which and what happened."""


class Server:
    """A child server in its own process group, ready once `ready_path` answers HTTP."""

    def __init__(
        self,
        name: str,
        args: list[str],
        url: str,
        ready_path: str,
        cwd: Path | None = None,
        env: dict | None = None,
    ):
        self.name, self.url = name, url
        self._args, self._ready_path, self._cwd = args, ready_path, cwd
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._args, cwd=self._cwd, env=self._env, start_new_session=True
        )

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}{self._ready_path}", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers (e.g. a 503 health while the store is empty)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, deadline: float) -> None:
        while not self._ready():
            if self._process.poll() is not None:
                raise ServerError(f"the {self.name} exited with code {self._process.returncode}")
            if time.monotonic() > deadline:
                raise ServerError(f"the {self.name} did not answer at {self.url} in time")
            time.sleep(0.5)

    def exited(self) -> int | None:
        return self._process.poll() if self._process else None

    def stop(self) -> None:
        """SIGINT the whole process group, then SIGKILL whatever is left."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def dagster_dev(home: Path, host: str, port: int) -> Server:
    return Server(
        "Dagster server",
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
            "-h",
            host,
            "-p",
            str(port),
        ],
        f"http://{host}:{port}",
        "/server_info",
        # Run from DAGSTER_HOME: dagster dev warns about a dagster.yaml in its working folder.
        cwd=home,
        env={"PYTHONWARNINGS": SUPERSEDED_WARNING},
    )


def api_server(host: str, port: int) -> Server:
    """The API in a process of its own: it holds only a reader."""
    return Server(
        "API",
        [
            sys.executable,
            "-m",
            "community_metrics.cli",
            "serve",
            "--host",
            host,
            "--port",
            str(port),
        ],
        f"http://{host}:{port}",
        "/api/v1/health",
    )


def wait_all(servers: list[Server], timeout: float = SERVER_WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    for server in servers:
        server.wait_ready(deadline)


def run_until_one_exits(servers: list[Server]) -> None:
    while all(server.exited() is None for server in servers):
        time.sleep(0.5)
