import datetime as dt

import pytest

from community_metrics import weeks
from community_metrics.partitions import WEEKLY


@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC),  # Monday midnight: a week just closed
        dt.datetime(2026, 11, 22, 23, 59, 59, tzinfo=dt.UTC),  # Sunday night: not yet
        dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),  # Sun, UTC
    ],
)
def test_weeks_agree_with_the_dagster_partitions(at):
    keys = weeks.week_keys(weeks.FIRST_WEEK, at.date() + dt.timedelta(days=7), at)
    assert keys == WEEKLY.get_partition_keys(current_time=at)
    assert weeks.latest_closed_week(at).isoformat() == keys[-1]
    assert weeks.closed_weeks(3, at) == keys[-3:]


def test_week_keys_ranges_and_errors():
    at = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    assert weeks.week_key(dt.date(2026, 11, 22)) == "2026-11-16"
    assert weeks.week_range("2026-11-16") == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    assert weeks.keys_range(["2026-11-02", "2026-11-09", "2026-11-16"]) == (
        dt.date(2026, 11, 2),
        dt.date(2026, 11, 22),
    )
    # a day inside a week counts the whole week; the open week and days before FIRST_WEEK don't
    assert weeks.week_keys(dt.date(2026, 11, 11), dt.date(2026, 11, 30), at) == [
        "2026-11-09",
        "2026-11-16",
    ]
    assert weeks.week_keys(dt.date(2015, 12, 1), dt.date(2016, 1, 10), at) == ["2016-01-04"]
    with pytest.raises(weeks.WeekError, match="2026-11-17 is a Tuesday"):
        weeks.parse_week_key("2026-11-17")
    with pytest.raises(weeks.WeekError, match="'monday' is not a week"):
        weeks.parse_week_key("monday")
