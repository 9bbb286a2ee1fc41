"""The ONE weekly partitions definition shared by every weekly asset, built from `weeks`.

Monday-based (day_offset=1), UTC, completed weeks only (end_offset=0). A single shared object
keeps single-run backfills in one run: assets with different partition starts split them.
"""

from __future__ import annotations

import warnings

import dagster as dg

from community_metrics.weeks import FIRST_WEEK

# Single-run backfills are the design (one run per range), not an experiment: the beta notice
# would otherwise print in every process that loads the code location.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)

WEEKLY = dg.WeeklyPartitionsDefinition(
    start_date=FIRST_WEEK.isoformat(), day_offset=1, timezone="UTC", end_offset=0
)
