import datetime as dt

from community_metrics.catalog import Metric
from community_metrics.metrics.weekly import compute_weekly, mark_revisions

D = Metric("downloads:x:python", "downloads", "x", "x", "python", "pypistats", "downloads", "X")
S = Metric("stars:x:github", "stars", "x", "o/x", "github", "github", "stars", "X stars")
W1, W2, W3, W4 = (dt.date(2026, 1, 5) + dt.timedelta(weeks=i) for i in range(4))


def obs(metric, day, value, provenance="csv_seed"):
    return {"metric_id": metric.metric_id, "day": day, "value": value, "provenance": provenance}


def test_downloads_sum_observed_days_and_count_them():
    days = [W1 + dt.timedelta(days=i) for i in range(7)]
    data = [obs(D, d, 10 * (i + 1)) for i, d in enumerate(days) if i != 3]  # Thursday missing
    data.append(obs(D, W2 - dt.timedelta(days=8), 999))  # the Sunday before W1: not in W1
    rows, report = compute_weekly([D], data, [W1, W2])
    assert len(rows) == 1
    row = rows[0]
    assert row["value"] == 10 + 20 + 30 + 50 + 60 + 70
    assert row["days_observed"] == 6
    assert (row["period_start"], row["period_end"]) == (W1, W1 + dt.timedelta(days=6))
    # W2 has no observation: no row, reported as missing, never a zero
    assert report.missing == {D.metric_id: [W2.isoformat()]}
    assert report.completeness == round(6 / 7, 4)


def test_source_values_win_over_seed_values_for_the_same_day():
    data = [obs(D, W1, 5, "csv_seed"), obs(D, W1, 7, "api"), obs(D, W1 + dt.timedelta(days=1), 1)]
    rows, _ = compute_weekly([D], data, [W1])
    assert rows[0]["value"] == 8
    assert rows[0]["provenance"] == "api+csv_seed"


def test_stars_take_the_last_value_and_flag_carried_weeks():
    data = [
        obs(S, W1 + dt.timedelta(days=2), 100),
        obs(S, W1 + dt.timedelta(days=5), 110),
        obs(S, W3 + dt.timedelta(days=1), 150),
    ]
    rows, report = compute_weekly([S], data, [W1, W2, W3, W4])
    by_week = {r["period_start"]: r for r in rows}
    assert by_week[W1]["value"] == 110 and not by_week[W1]["is_carried_forward"]
    # W2 has no observation but a later one exists: carried forward, flagged, source date kept
    assert by_week[W2]["value"] == 110 and by_week[W2]["is_carried_forward"]
    assert by_week[W2]["observed_on"] == W1 + dt.timedelta(days=5)
    assert by_week[W3]["value"] == 150
    # nothing after W3: the stale value is not extended into W4
    assert W4 not in by_week
    assert report.missing == {S.metric_id: [W4.isoformat()]}


def test_a_later_snapshot_is_never_copied_into_an_earlier_week():
    tuesday = W3 + dt.timedelta(days=1)
    rows, report = compute_weekly([S], [obs(S, tuesday, 500)], [W1, W2, W3])
    assert [(r["period_start"], r["value"]) for r in rows] == [(W3, 500)]
    assert report.missing[S.metric_id] == [W1.isoformat(), W2.isoformat()]


def test_the_monday_snapshot_stands_for_the_week_that_just_closed():
    data = [obs(S, W1 + dt.timedelta(days=3), 90), obs(S, W3, 130, "api")]
    rows, _ = compute_weekly([S], data, [W1, W2, W3])
    by_week = {r["period_start"]: r for r in rows}
    assert (by_week[W2]["value"], by_week[W2]["observed_on"]) == (130, W3)
    assert not by_week[W2]["is_carried_forward"]
    assert by_week[W1]["value"] == 90


def test_revisions_are_marked_and_keep_the_previous_value():
    new, _ = compute_weekly([D], [obs(D, W1, 12)], [W1])
    stored = [{**new[0], "value": 10, "recomputed": False, "previous_value": None}]
    revised, count = mark_revisions(new, stored)
    assert count == 1
    assert revised[0]["recomputed"] and revised[0]["previous_value"] == 10
    # re-running with the same value keeps the stored flags: nothing to rewrite
    again, count = mark_revisions(new, [{**revised[0]}])
    assert count == 0
    assert again[0]["recomputed"] and again[0]["previous_value"] == 10
