"""The one alert payload every notifier sends, and the command that re-runs what failed.

Plain Python: the sensors build alerts from Dagster's records, `community-metrics alerts test`
builds a `test` one, and each notifier renders the same fields.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal, get_args

from community_metrics import weeks
from community_metrics.weeks import ranges

AlertKind = Literal[
    "run_failure", "backfill_failed_partitions", "check_failed", "stale", "repeated_partial", "test"
]
KINDS = get_args(AlertKind)


@dataclass(frozen=True)
class Alert:
    """What happened, where to look and how to re-run it. `key` names the event (a run, a
    backfill, a check and week, ...): a notifier that delivered a key never gets it again."""

    kind: AlertKind
    key: str
    text: str
    run_id: str | None = None
    partitions: list[str] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)  # metric id (or asset) -> error
    url: str | None = None
    rerun: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"alert kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def payload(self) -> dict:
        """The JSON body: kind, text, run_id, partitions, metrics, url, rerun."""
        return {
            "kind": self.kind,
            "text": self.text,
            "run_id": self.run_id,
            "partitions": list(self.partitions),
            "metrics": dict(self.metrics),
            "url": self.url,
            "rerun": self.rerun,
        }


def week_list(first: str | None, last: str | None) -> list[str]:
    """Every week key from `first` to `last` (a range run names only its ends)."""
    if not first:
        return []
    return weeks.week_keys(weeks.parse_week_key(first), weeks.parse_week_key(last or first))


def rerun_command(partitions: list[str], metrics: list[str] | None = None) -> str | None:
    """`community-metrics backfill` over each range of failed weeks, for only the failing
    metrics when they are known (entries that are assets, not metrics, re-run everything)."""
    if not partitions:
        return None
    only = sorted(m for m in metrics or [] if m.count(":") == 2)
    scope = f" --metrics {','.join(only)}" if only and len(only) == len(metrics or []) else ""
    return " && ".join(
        f"community-metrics backfill --from {first} "
        f"--to {weeks.parse_week_key(last) + dt.timedelta(days=6)}{scope}"
        for first, last in ranges(partitions)
    )
