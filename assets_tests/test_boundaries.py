"""The code's seams: Dagster only at the edge, a reader that cannot write, no private imports."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

from community_metrics.config import PROJECT_ROOT
from community_metrics.store import StoreReader, StoreWriter

# Everything a reader of the results needs (the CLI's status and search, the coming API).
DAGSTER_FREE = [
    "community_metrics.config",
    "community_metrics.catalog",
    "community_metrics.weeks",
    "community_metrics.store",
    "community_metrics.search.core",
    "community_metrics.status",
    "community_metrics.history",
    "community_metrics.sources.clients",
    "community_metrics.sources.downloads",
    "community_metrics.sources.github",
    "community_metrics.sources.github_search",
    "community_metrics.sources.hackernews",
    "community_metrics.seed.parsers",
    "community_metrics.mentions.records",
    "community_metrics.metrics.weekly",
    "community_metrics.metrics.checks",
    "community_metrics.alerts",
    "community_metrics.embeddings.sync",
    "community_metrics.supervisor",
    "community_metrics.resources",
]
# The edge: the only modules allowed to import dagster.
DAGSTER_EDGE = {
    "definitions.py",
    "partitions.py",
    "jobs.py",
    "schedules.py",
    "sensors.py",
    "runner.py",
    "tracking.py",
    "event_log.py",  # Dagster event log storages (subclasses of its own)
}
PACKAGE = PROJECT_ROOT / "community_metrics"


def test_core_modules_load_no_dagster_in_a_fresh_interpreter():
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in DAGSTER_FREE)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    )
    assert done.stdout.strip() == "[]"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_only_the_edge_imports_dagster():
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(module.split(".")[0] == "dagster" for module, _ in _imports(path))
    }
    allowed = {p for p in importers if p in DAGSTER_EDGE or p.endswith("assets.py")}
    assert importers - allowed == set()
    assert {"definitions.py", "sources/assets.py"} <= importers  # the scan does see imports


def test_nothing_imports_an_underscore_name_across_packages():
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *(PROJECT_ROOT / "bench").glob("*.py")]:
        for module, names in _imports(path):
            if module.startswith("community_metrics"):
                offenders += [f"{path.name}: {module}.{n}" for n in names if n.startswith("_")]
    assert offenders == []


def test_the_reader_has_no_method_that_writes():
    writes = {"upsert", "prepare", "ensure_tables", "write_embeddings", "build_vector_index"}
    reader_methods = {name for name, _ in inspect.getmembers(StoreReader, inspect.isfunction)}
    writer_methods = {name for name, _ in inspect.getmembers(StoreWriter, inspect.isfunction)}
    assert writes <= writer_methods
    assert not writes & reader_methods
    # and no reader method reaches a LanceDB call that changes a table
    source = inspect.getsource(sys.modules[StoreReader.__module__])
    for call in ("merge_insert", "create_table", "create_index", "optimize", ".add(", ".delete("):
        assert call not in source, call
