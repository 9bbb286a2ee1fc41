"""The API's SVG charts and badges: well-formed, self-contained, escaped, and drawn as intended.

`python assets_tests/test_charts.py` writes the example charts to /tmp/chart_light.svg and
/tmp/chart_dark.svg (and PNGs when `rsvg-convert` is installed) to look at them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from community_metrics.api.charts import (
    PALETTE,
    PALETTE_DARK,
    Series,
    badge,
    format_count,
    line_chart,
)

NS = "{http://www.w3.org/2000/svg}"
MONDAY = dt.date(2024, 6, 3)


def week(i: int) -> dt.date:
    return MONDAY + dt.timedelta(weeks=i)


def example_series(weeks: int = 104) -> list[Series]:
    """Two series over two years; the second has a six-week gap, the first a one-week gap."""
    python, node = [], []
    for i in range(weeks):
        python.append((week(i), None if i == 70 else int(1200 * 1.035**i + (i % 7) * 150)))
        node.append((week(i), None if 40 <= i <= 45 else 400 + 35 * i + (i % 5) * 60))
    return [
        Series("Python (lanceDB)", python, "downloads"),
        Series("Node (@lancedb/lancedb)", node, "downloads"),
    ]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{NS}svg"
    return root


def series_paths(root: ET.Element, colour: str) -> list[ET.Element]:
    return [p for p in root.iter(f"{NS}path") if p.get("stroke") == colour]


def moves(path: ET.Element) -> int:
    return path.get("d").count("M")


def coordinates(path: ET.Element) -> list[float]:
    return [float(n) for n in re.findall(r"-?[\d.]+|nan|inf", path.get("d"))]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def tick_labels(root: ET.Element, anchor: str) -> list[str]:
    """Axis labels: y labels are in the `end`-anchored group, x labels in the `middle` one."""
    groups = [g for g in root.iter(f"{NS}g") if g.get("text-anchor") == anchor]
    return [t.text for g in groups for t in g.iter(f"{NS}text")]


def assert_standalone(svg: str) -> ET.Element:
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("viewBox") and root.get("width") and root.get("height")
    assert root.find(f"{NS}title") is not None
    assert "<script" not in svg and "href" not in svg and "@import" not in svg
    assert re.findall(r"https?://[^\s\"')]+", svg) == ["http://www.w3.org/2000/svg"]
    return root


# --- line charts -------------------------------------------------------------------------------


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("scale", ["linear", "log"])
def test_example_chart_structure(theme, scale, tmp_path):
    svg = line_chart(example_series(), title="Weekly downloads", theme=theme, scale=scale)
    (tmp_path / f"chart_{theme}_{scale}.svg").write_text(svg)
    root = assert_standalone(svg)
    assert root.get("width") == "800" and root.get("height") == "400"
    assert root.get("viewBox") == "0 0 800 400"
    assert root.find(f"{NS}title").text == "Weekly downloads"
    assert "Weekly downloads" in texts(root)
    assert "font-family" in root.attrib and "sans-serif" in root.get("font-family")

    palette = PALETTE_DARK if theme == "dark" else PALETTE
    python, node = (series_paths(root, palette[i]) for i in range(2))
    # One path per series; each gap starts a new subpath: two moves for each
    assert len(python) == 1 and len(node) == 1
    assert moves(python[0]) == 2 and moves(node[0]) == 2
    assert python[0].get("fill") == "none"
    # 103 drawn points in 2 runs, for each: no point is drawn for a missing week (never as 0)
    assert python[0].get("d").count("L") == 103 - 2
    assert node[0].get("d").count("L") == 98 - 2
    for path in (python[0], node[0]):
        assert all(math.isfinite(c) for c in coordinates(path))
        assert all(re.fullmatch(r"-?\d+\.\d", c) for c in re.findall(r"[\d.]+", path.get("d")))
    # No per-point elements for lines
    assert not list(root.iter(f"{NS}circle"))

    # Legend: a swatch of each series colour, next to its label
    swatches = [r.get("fill") for r in root.iter(f"{NS}rect") if r.get("width") == "12"]
    assert swatches == list(palette[:2])
    assert {"Python (lanceDB)", "Node (@lancedb/lancedb)"} <= set(texts(root))
    assert "downloads" in texts(root)  # the shared unit, once

    y_labels = tick_labels(root, "end")
    assert 4 <= len(y_labels) <= 6
    if scale == "linear":
        assert y_labels == ["0", "10k", "20k", "30k", "40k", "50k"]
    else:
        assert y_labels == ["100", "1k", "10k", "100k"]
    x_labels = tick_labels(root, "middle")
    assert 2 <= len(x_labels) <= 8
    assert all(re.fullmatch(r"\d{4}-\d{2}", label) for label in x_labels)
    assert x_labels == sorted(x_labels) and len(set(x_labels)) == len(x_labels)


def test_x_labels_do_not_overlap():
    for weeks in (2, 5, 8, 20, 52, 104, 300, 520, 1500):
        for width in (200, 400, 800, 1600):
            root = parse(line_chart(example_series(weeks), title="t", width=width))
            xs = [
                (float(t.get("x")), len(t.text))
                for g in root.iter(f"{NS}g")
                if g.get("text-anchor") == "middle"
                for t in g
            ]
            assert len(xs) in range(1, 9), (weeks, width)
            for (x1, n1), (x2, n2) in zip(xs, xs[1:], strict=False):
                assert x2 - x1 >= (n1 + n2) * 3.3 + 8, (weeks, width, xs)
            assert all(x - n * 3.3 >= 0 and x + n * 3.3 <= width for x, n in xs)


def test_short_range_uses_week_dates():
    series = [Series("a", [(week(i), i * 10) for i in range(6)])]
    root = parse(line_chart(series, title="t"))
    x_labels = tick_labels(root, "middle")
    assert x_labels[0] == "2024-06-03"
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", label) for label in x_labels)


def test_dark_theme_has_a_dark_background_and_light_text():
    def luminance(colour: str) -> float:
        return sum(int(colour[i : i + 2], 16) for i in (1, 3, 5)) / (3 * 255)

    for theme, dark in (("dark", True), ("light", False)):
        root = parse(line_chart(example_series(), title="t", theme=theme))
        background = root.find(f"{NS}rect")
        assert (luminance(background.get("fill")) < 0.2) is dark
        title = next(t for t in root.iter(f"{NS}text") if t.text == "t")
        assert (luminance(title.get("fill")) > 0.8) is dark


def test_log_scale_skips_zero_and_missing_values():
    values = [0, 5, 0, 50, 500, None, 7000, 8000]
    series = [Series("a", [(week(i), v) for i, v in enumerate(values)], "stars")]
    svg = line_chart(series, title="log", scale="log")
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    root = parse(svg)
    (path,) = series_paths(root, PALETTE[0])
    # 5 and 50 are single points between zeros: dots; 50-500 and 7000-8000 are two runs
    assert moves(path) == 2 and path.get("d").count("L") == 2
    dots = list(root.iter(f"{NS}circle"))
    assert len(dots) == 1 and dots[0].get("fill") == PALETTE[0]
    assert tick_labels(root, "end") == ["1", "10", "100", "1k", "10k"]
    # the same data on a linear scale draws the zeros
    root = parse(line_chart(series, title="linear"))
    (path,) = series_paths(root, PALETTE[0])
    assert moves(path) == 2 and path.get("d").count("L") == 5


def test_single_point_is_a_dot():
    root = assert_standalone(line_chart([Series("a", [(week(0), 1234)])], title="one"))
    (dot,) = root.iter(f"{NS}circle")
    assert dot.get("fill") == PALETTE[0]
    assert 0 < float(dot.get("cx")) < 800 and 0 < float(dot.get("cy")) < 400
    assert not series_paths(root, PALETTE[0])
    assert tick_labels(root, "middle") == ["2024-06-03"]
    assert 4 <= len(tick_labels(root, "end")) <= 6


@pytest.mark.parametrize(
    "series",
    [
        [],
        [Series("a", [])],
        [Series("a", [(week(0), None), (week(1), None)]), Series("b", [])],
    ],
)
@pytest.mark.parametrize("scale", ["linear", "log"])
def test_no_data_yet(series, scale):
    root = assert_standalone(line_chart(series, title="Stars", scale=scale))
    assert root.find(f"{NS}title").text == "Stars"
    assert "Stars" in texts(root) and "no data yet" in texts(root)
    assert not list(root.iter(f"{NS}path")) and not list(root.iter(f"{NS}circle"))


def test_all_zero_on_log_is_no_data_yet():
    series = [Series("a", [(week(0), 0), (week(1), 0)])]
    assert "no data yet" in texts(parse(line_chart(series, title="t", scale="log")))
    linear = parse(line_chart(series, title="t"))
    assert "no data yet" not in texts(linear)
    assert tick_labels(linear, "end") == ["0", "1", "2", "3"]


def test_labels_are_escaped():
    series = [
        Series("<script>alert(1)</script>", [(week(0), 1), (week(1), 2)], "a & b"),
        Series('a & b "quoted"', [(week(0), 3), (week(1), 4)], "<u>"),
    ]
    svg = line_chart(series, title="<script>x</script> & \"t\" 'q'\x00\x1b")
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg and "a &amp; b" in svg
    root = assert_standalone(svg)
    assert root.find(f"{NS}title").text == "<script>x</script> & \"t\" 'q'"
    assert root.get("aria-label") == "<script>x</script> & \"t\" 'q'"
    assert "<script>alert(1)</script> (a & b)" in texts(root)  # mixed units: in the legend
    assert 'a & b "quoted" (<u>)' in texts(root)


def test_colours_are_distinct_then_cycle():
    series = [Series(f"s{i}", [(week(0), i), (week(1), i + 1)]) for i in range(10)]
    root = parse(line_chart(series, title="t"))
    strokes = [p.get("stroke") for p in root.iter(f"{NS}path") if p.get("stroke-width") == "2"]
    assert strokes == list(PALETTE) + list(PALETTE[:2])
    assert len(set(PALETTE)) == 8 and len(set(PALETTE_DARK)) == 8


def test_unsorted_points_are_drawn_in_date_order():
    points = [(week(2), 30), (week(0), 10), (week(1), 20)]
    a = line_chart([Series("a", points)], title="t")
    assert a == line_chart([Series("a", sorted(points))], title="t")


def test_output_is_deterministic_and_compact():
    series = example_series(520) * 2 + example_series(520)[:1]
    first = line_chart(series, title="t", scale="log")
    assert first == line_chart(series, title="t", scale="log")
    assert len(first) < 80_000
    assert len(list(parse(first).iter(f"{NS}path"))) == 5 + 3  # series + grid, axis, ticks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"theme": "blue"}, r"theme must be one of 'light', 'dark'; got 'blue'"),
        ({"theme": None}, r"theme must be one of 'light', 'dark'"),
        ({"scale": "sqrt"}, r"scale must be one of 'linear', 'log'; got 'sqrt'"),
        ({"width": 10}, r"width must be an integer from 200 to 4000"),
        ({"height": 10**6}, r"height must be an integer from 150 to 4000"),
        ({"width": "800"}, r"width must be an integer"),
    ],
)
def test_bad_options_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        line_chart(example_series(3), title="t", **kwargs)


def test_other_sizes():
    for width, height in ((200, 150), (1600, 900), (4000, 4000)):
        root = assert_standalone(
            line_chart(example_series(), title="A long title " * 20, width=width, height=height)
        )
        assert root.get("viewBox") == f"0 0 {width} {height}"
        for path in root.iter(f"{NS}path"):
            assert all(0 <= c <= max(width, height) for c in coordinates(path))


# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (950, "950"),
        (999, "999"),
        (1000, "1k"),
        (1049, "1k"),
        (1050, "1.1k"),
        (1234, "1.2k"),
        (9_949, "9.9k"),
        (9_950, "10k"),
        (12_345, "12k"),
        (999_499, "999k"),
        (999_500, "1M"),
        (1_000_000, "1M"),
        (3_400_000, "3.4M"),
        (12_500_000, "13M"),
        (2_000_000_000, "2B"),
        (-1234, "-1.2k"),
        (None, "n/a"),
    ],
)
def test_format_count(n, text):
    assert format_count(n) == text


# --- badge -------------------------------------------------------------------------------------


def test_badge():
    svg = badge("downloads", "12k/week", color="#007ec6")
    root = assert_standalone(svg)
    assert root.get("height") == "20"
    assert root.find(f"{NS}title").text == "downloads: 12k/week"
    fills = [r.get("fill") for r in root.iter(f"{NS}rect")]
    assert fills.count("#555") == 1 and fills.count("#007ec6") == 1
    label_box = next(r for r in root.iter(f"{NS}rect") if r.get("fill") == "#555")
    value_box = next(r for r in root.iter(f"{NS}rect") if r.get("fill") == "#007ec6")
    assert value_box.get("x") == label_box.get("width")
    total = int(root.get("width"))
    assert total == int(label_box.get("width")) + int(value_box.get("width"))
    # ~6-7 px a character plus padding
    assert 9 * 5 + 10 <= int(label_box.get("width")) <= 9 * 7.5 + 10
    assert 8 * 5 + 10 <= int(value_box.get("width")) <= 8 * 7.5 + 10
    assert root.find(f"{NS}clipPath/{NS}rect").get("rx") == "3"
    assert {"downloads", "12k/week"} == set(texts(root))
    assert svg == badge("downloads", "12k/week", color="#007ec6")


def test_badges_escape_and_have_distinct_ids():
    svg = badge("<script>", "a & b", color="brightgreen")
    assert "<script" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg
    root = assert_standalone(svg)
    assert root.find(f"{NS}title").text == "<script>: a & b"
    assert [r.get("fill") for r in root.iter(f"{NS}rect")][1:3] == ["#555", "#4c1"]
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    other = parse(badge("stars", "1.2k"))
    assert ids and not ids & {e.get("id") for e in other.iter() if e.get("id")}


@pytest.mark.parametrize("color", ["url(http://example.com/x)", "#12345", '"><script>', ""])
def test_badge_rejects_odd_colours(color):
    with pytest.raises(ValueError, match="color must be"):
        badge("a", "b", color=color)


# --- looking at it -----------------------------------------------------------------------------


def write_examples(folder: Path) -> list[Path]:
    """The example charts as SVG, and as PNG when rsvg-convert is installed."""
    written = []
    for theme in ("light", "dark"):
        svg = folder / f"chart_{theme}.svg"
        svg.write_text(line_chart(example_series(), title="Weekly downloads: lanceDB", theme=theme))
        written.append(svg)
        if shutil.which("rsvg-convert"):
            png = svg.with_suffix(".png")
            subprocess.run(["rsvg-convert", "-z", "1.5", "-o", str(png), str(svg)], check=True)
            written.append(png)
    return written


def test_examples_are_written(tmp_path):
    for path in write_examples(tmp_path):
        assert path.stat().st_size > 1000
        if path.suffix == ".svg":
            assert_standalone(path.read_text())


if __name__ == "__main__":
    print("\n".join(str(p) for p in write_examples(Path(sys.argv[1] if sys.argv[1:] else "/tmp"))))
