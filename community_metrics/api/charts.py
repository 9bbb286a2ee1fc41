"""Server-side SVG for the API: a weekly line chart and a shields.io-style "flat" badge.

Pure string building, no dependencies: the SVGs are pasted into READMEs (served as images) and
inlined in the dashboard page, so they are standalone and self-contained. No script, no external
font, stylesheet, image or link: the only URL in the output is the SVG namespace. Every piece of
caller text goes through `xml.sax.saxutils` escaping (after dropping characters XML 1.0 forbids),
so the output is always well-formed XML. Output is deterministic: the same input gives the same
bytes (the badge's clipPath id is derived from its content, not random, and is distinct per
badge so several badges inlined in one HTML page do not share an id).

Layout uses estimated text widths (a fixed average per character): the fonts are whatever the
viewer has (a generic sans-serif stack), so nothing can be measured exactly.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

__all__ = ["Series", "badge", "format_count", "line_chart"]

THEMES = ("light", "dark")
SCALES = ("linear", "log")
FONT_FAMILY = "-apple-system, BlinkMacSystemFont, Segoe UI, Helvetica, Arial, sans-serif"
BADGE_FONT_FAMILY = "Verdana, Geneva, DejaVu Sans, sans-serif"
MIN_WIDTH, MIN_HEIGHT, MAX_SIZE = 200, 150, 4000

# Okabe-Ito, the colour-blind-safe palette; the same series index gets the same colour in both
# themes, except its black, which is near-white on the dark background. Yellow is late: it is
# the weakest on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
PALETTE_DARK = PALETTE[:-1] + ("#F0F0F0",)

_THEME_COLOURS = {
    #         background  border     text       muted      grid       axis
    "light": ("#ffffff", "#d1d9e0", "#1f2328", "#59636e", "#e8ebef", "#8c959f"),
    "dark": ("#0d1117", "#30363d", "#e6edf3", "#9198a1", "#262c36", "#656c76"),
}

# shields.io's named colours, for `badge(color=...)`.
BADGE_COLOURS = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellowgreen": "#a4a61d",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "blue": "#007ec6",
    "lightgrey": "#9f9f9f",
    "lightgray": "#9f9f9f",
    "grey": "#555",
    "gray": "#555",
    "success": "#4c1",
    "important": "#fe7d37",
    "critical": "#e05d44",
    "informational": "#007ec6",
    "inactive": "#9f9f9f",
}
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_NAMED_COLOUR = re.compile(r"[a-zA-Z]{3,30}")
# Characters XML 1.0 does not allow at all (escaping cannot help): dropped from caller text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Series:
    label: str  # e.g. "Python (lanceDB)"
    points: Sequence[tuple[datetime.date, int | None]]  # (week's Monday, value); None = missing
    unit: str = ""  # "downloads" or "stars"


# --- numbers -----------------------------------------------------------------------------------


def format_count(n: int | None) -> str:
    """Compact human numbers: 950, 1.2k, 12k, 3.4M; None -> 'n/a'.

    Below 10 of a unit one decimal is kept and a trailing ".0" dropped (1000 -> "1k",
    1234 -> "1.2k"); from 10 of a unit on, whole units (12_345 -> "12k"). Rounding is half up,
    in integers, and moves to the next unit when it reaches 1000 (999_999 -> "1M").
    """
    if n is None:
        return "n/a"
    if isinstance(n, float):
        if not math.isfinite(n):
            return "n/a"
        n = round(n)
    sign = "-" if n < 0 else ""
    a = abs(int(n))
    if a < 1000:
        return f"{sign}{a}"
    for suffix, base in (("k", 10**3), ("M", 10**6), ("B", 10**9), ("T", 10**12)):
        tenths = (a * 10 + base // 2) // base
        if tenths < 100:
            whole, tenth = divmod(tenths, 10)
            return f"{sign}{whole}.{tenth}{suffix}" if tenth else f"{sign}{whole}{suffix}"
        whole = (a + base // 2) // base
        if whole < 1000 or suffix == "T":
            return f"{sign}{whole}{suffix}"
    raise AssertionError("unreachable")


def _nice_linear_ticks(lo: int, hi: int) -> list[int]:
    """4-6 ticks at multiples of a 1/2/5 x 10^k step, covering [lo, hi] (integers, step >= 1)."""
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            step = mantissa * 10**exponent
            first, last = lo // step, -(-hi // step)
            if last - first + 1 <= 6:
                while last - first + 1 < 4:
                    last += 1
                return [k * step for k in range(first, last + 1)]
        exponent += 1


def _log_ticks(lo: int, hi: int) -> tuple[list[int], float, float]:
    """Ticks and log10 bounds for positive integers lo <= hi: decades, or 1-2-5 / 1-3 within
    one or two decades, or every few decades for wide ranges (at most 6 ticks)."""
    e_lo = len(str(lo)) - 1
    e_hi = len(str(hi)) - 1
    if hi != 10**e_hi:
        e_hi += 1
    e_hi = max(e_hi, e_lo + 1)
    decades = e_hi - e_lo
    if decades == 1:
        ticks = [m * 10**e_lo for m in (1, 2, 5)] + [10**e_hi]
    elif decades == 2:
        ticks = [m * 10**e for e in range(e_lo, e_hi) for m in (1, 3)] + [10**e_hi]
    elif decades <= 5:
        ticks = [10**e for e in range(e_lo, e_hi + 1)]
    else:
        stride = -(-decades // 5)
        e_lo -= e_lo % stride
        e_hi += -e_hi % stride
        ticks = [10**e for e in range(e_lo, e_hi + 1, stride)]
    return ticks, float(e_lo), float(e_hi)


# --- text --------------------------------------------------------------------------------------


def _clean(text: object) -> str:
    return _NOT_XML.sub("", str(text))


def _text(text: object) -> str:
    """Caller text as XML character data."""
    return escape(_clean(text))


def _attr(text: object) -> str:
    """Caller text as a quoted XML attribute value (quotes included)."""
    return quoteattr(_clean(text))


def _clip(text: str, max_width: float, char_width: float) -> str:
    """Shorten to fit an estimated width, with an ellipsis."""
    max_chars = max(int(max_width / char_width), 4)
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "\u2026"


def _f(v: float) -> str:
    """A coordinate, rounded to one decimal ("-0.0" never appears)."""
    s = f"{v:.1f}"
    return "0.0" if s == "-0.0" else s


# --- line chart --------------------------------------------------------------------------------


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")


def _check_size(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SIZE:
        raise ValueError(f"{name} must be an integer from {minimum} to {MAX_SIZE}; got {value!r}")


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    theme: str = "light",
    scale: str = "linear",
    width: int = 800,
    height: int = 400,
) -> str:
    """An SVG line chart (one line per series, a legend when more than one).

    Missing weeks (None) break the line; on the log scale so do zero and negative values
    (never log(0)). A run of a single point between gaps, or a one-point series, is a dot.
    With nothing to plot, the chart is the title and "no data yet". Raises ValueError for a
    theme other than "light"/"dark", a scale other than "linear"/"log", or a width/height
    outside MIN_WIDTH/MIN_HEIGHT..MAX_SIZE.
    """
    _check_choice("theme", theme, THEMES)
    _check_choice("scale", scale, SCALES)
    _check_size("width", width, MIN_WIDTH)
    _check_size("height", height, MIN_HEIGHT)
    series = list(series)
    for s in series:
        if not isinstance(s, Series):
            raise TypeError(f"series items must be Series, got {type(s).__name__}")
    bg, border, fg, muted, grid, axis = _THEME_COLOURS[theme]
    palette = PALETTE_DARK if theme == "dark" else PALETTE
    log = scale == "log"
    title = _clean(title)

    # Sorted points per series (stable for equal dates), the plottable values, the date range.
    prepared: list[list[tuple[int, int | None]]] = []
    day_lo = day_hi = None
    v_lo = v_hi = None
    for s in series:
        pts = sorted(((d.toordinal(), v) for d, v in s.points), key=lambda p: p[0])
        prepared.append(pts)
        if pts:
            day_lo = pts[0][0] if day_lo is None else min(day_lo, pts[0][0])
            day_hi = pts[-1][0] if day_hi is None else max(day_hi, pts[-1][0])
        values = [v for _, v in pts if v is not None and (v > 0 or not log)]
        if values:
            lo, hi = min(values), max(values)
            v_lo = lo if v_lo is None else min(v_lo, lo)
            v_hi = hi if v_hi is None else max(v_hi, hi)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={_attr(title)} '
        f"font-family={_attr(FONT_FAMILY)}>",
        f"<title>{_text(title)}</title>",
    ]
    desc = []
    for s, pts in zip(series, prepared, strict=True):
        last = next(((d, v) for d, v in reversed(pts) if v is not None), None)
        if last is not None:
            when = datetime.date.fromordinal(last[0]).isoformat()
            unit = f" {s.unit}" if s.unit else ""
            desc.append(f"{s.label}: {format_count(last[1])}{unit} in the week of {when}")
    if desc:
        out.append(f"<desc>{_text('; '.join(desc))}</desc>")
    out.append(
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" rx="6" '
        f'fill="{bg}" stroke="{border}"/>'
    )
    pad = 16
    out.append(
        f'<text x="{pad}" y="28" font-size="16" font-weight="600" fill="{fg}">'
        f"{_text(_clip(title, width - 2 * pad, 9.0))}</text>"
    )

    if v_lo is None or day_lo is None:
        out.append(
            f'<text x="{_f(width / 2)}" y="{_f(height / 2 + 14)}" font-size="14" '
            f'text-anchor="middle" fill="{muted}">no data yet</text></svg>'
        )
        return "".join(out)

    # y ticks (values) and the mapping value -> y.
    if log:
        ticks, y_min, y_max = _log_ticks(v_lo, v_hi)
    else:
        ticks = _nice_linear_ticks(min(v_lo, 0), max(v_hi, 0))
        y_min, y_max = float(ticks[0]), float(ticks[-1])
    tick_labels = [format_count(t) for t in ticks]
    label_w = max(len(t) for t in tick_labels) * 6.6

    # Horizontal layout, then the header: title, legend rows, unit caption.
    plot_left = pad + label_w + 8
    plot_right = width - pad - 8
    plot_w = plot_right - plot_left
    top = 44
    units = {s.unit for s in series if s.unit}
    common_unit = units.pop() if len(units) == 1 and all(s.unit for s in series) else None
    if len(series) > 1:
        x, row = float(pad), 0
        for i, s in enumerate(series):
            label = s.label if common_unit or not s.unit else f"{s.label} ({s.unit})"
            label = _clip(_clean(label), min(320.0, width - 2 * pad - 18), 6.8)
            item_w = 18 + len(label) * 6.8
            if x > pad and x + item_w > width - pad:
                x, row = float(pad), row + 1
            y = top + row * 20
            out.append(
                f'<rect x="{_f(x)}" y="{y}" width="12" height="12" rx="2" '
                f'fill="{palette[i % len(palette)]}"/>'
                f'<text x="{_f(x + 17)}" y="{y + 10.5}" font-size="12" fill="{fg}">'
                f"{_text(label)}</text>"
            )
            x += item_w + 16
        top += (row + 1) * 20 + 4
    if common_unit:
        out.append(
            f'<text x="{pad}" y="{top + 12}" font-size="11" fill="{muted}">'
            f"{_text(common_unit)}</text>"
        )
        top += 14
    plot_top = top + 10
    plot_bottom = height - 32
    if plot_bottom - plot_top < 40:
        plot_top = plot_bottom - 40
    plot_h = plot_bottom - plot_top

    ky = plot_h / (y_max - y_min)
    tick_ys = [plot_bottom - ((math.log10(t) if log else t) - y_min) * ky for t in ticks]
    # Grid lines in one path; the zero (or lowest) line is the x axis, drawn stronger.
    grid_d = "".join(f"M{_f(plot_left)} {_f(y)}H{_f(plot_right)}" for y in tick_ys)
    out.append(f'<path d="{grid_d}" stroke="{grid}" stroke-width="1" fill="none"/>')
    base_y = tick_ys[ticks.index(0)] if 0 in ticks else plot_bottom
    out.append(
        f'<path d="M{_f(plot_left)} {_f(base_y)}H{_f(plot_right)}" stroke="{axis}" '
        f'stroke-width="1" fill="none"/>'
    )
    out.append(f'<g font-size="11" fill="{muted}" text-anchor="end">')
    for y, text in zip(tick_ys, tick_labels, strict=True):
        out.append(f'<text x="{_f(plot_left - 8)}" y="{_f(y + 4)}">{text}</text>')
    out.append("</g>")

    # x: days -> pixels; ticks at month (or year) starts, or at weeks for short ranges.
    span = day_hi - day_lo
    if span:
        kx = plot_w / span

        def x_of(day: int) -> float:
            return plot_left + (day - day_lo) * kx
    else:

        def x_of(day: int) -> float:
            return plot_left + plot_w / 2

    x_ticks = _date_ticks(day_lo, day_hi, plot_w)
    tick_d = []
    out.append(f'<g font-size="11" fill="{muted}" text-anchor="middle">')
    for day, text in x_ticks:
        x = x_of(day)
        half = len(text) * 3.3
        if x - half < 2 or x + half > width - 2:
            continue
        tick_d.append(f"M{_f(x)} {_f(plot_bottom)}v4")
        out.append(f'<text x="{_f(x)}" y="{_f(plot_bottom + 18)}">{text}</text>')
    out.append("</g>")
    if tick_d:
        out.append(f'<path d="{"".join(tick_d)}" stroke="{axis}" stroke-width="1"/>')

    # The lines: one path per series, a new "M" after each gap; isolated points are dots.
    xs: dict[int, str] = {}
    for i, pts in enumerate(prepared):
        colour = palette[i % len(palette)]
        runs: list[list[str]] = []
        run: list[str] | None = None
        for day, v in pts:
            if v is None or (log and v <= 0):
                run = None
                continue
            xstr = xs.get(day)
            if xstr is None:
                xstr = xs[day] = _f(x_of(day))
            y = plot_bottom - ((math.log10(v) if log else v) - y_min) * ky
            point = f"{xstr} {y:.1f}"
            if run is None:
                run = [point]
                runs.append(run)
            else:
                run.append(point)
        d = "".join("M" + "L".join(r) for r in runs if len(r) > 1)
        if d:
            out.append(
                f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2" '
                f'stroke-linejoin="round" stroke-linecap="round"/>'
            )
        for r in runs:
            if len(r) == 1:
                cx, cy = r[0].split(" ")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="3.5" fill="{colour}"/>')
    out.append("</svg>")
    return "".join(out)


_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120, 240, 600)
_WEEK_STEPS = (1, 2, 4, 8)


def _date_ticks(day_lo: int, day_hi: int, plot_w: float) -> list[tuple[int, str]]:
    """At most 8 (day ordinal, label) x ticks, spaced so their labels do not overlap:
    "2026-03" at month starts (or "2026" at year starts) for longer ranges, ISO dates of
    whole weeks from the first one for short ones."""
    span = day_hi - day_lo
    if span == 0:
        return [(day_lo, datetime.date.fromordinal(day_lo).isoformat())]
    px_per_day = plot_w / span
    first, last = datetime.date.fromordinal(day_lo), datetime.date.fromordinal(day_hi)
    m_lo, m_hi = first.year * 12 + first.month - 1, last.year * 12 + last.month - 1
    for step in _MONTH_STEPS:
        yearly = step >= 12
        needed = (4 if yearly else 7) * 6.6 + 16
        if step * 28 * px_per_day < needed:
            continue
        ticks = []
        for m in range(m_lo, m_hi + 1):
            if m % step:
                continue
            day = datetime.date(m // 12, m % 12 + 1, 1).toordinal()
            if day_lo <= day <= day_hi:
                label = f"{m // 12}" if yearly else f"{m // 12}-{m % 12 + 1:02d}"
                ticks.append((day, label))
        if len(ticks) <= 8:
            if len(ticks) >= 2 or step >= 12:
                return ticks
            break  # too short a range for months: weeks instead
    for step in _WEEK_STEPS:
        if step * 7 * px_per_day < 10 * 6.6 + 16:
            continue
        ticks = [
            (day, datetime.date.fromordinal(day).isoformat())
            for day in range(day_lo, day_hi + 1, step * 7)
        ]
        if len(ticks) <= 8:
            return ticks
    return [(day_lo, first.isoformat()), (day_hi, last.isoformat())]


# --- badge -------------------------------------------------------------------------------------

# Estimated advance widths (px) of Verdana at 11px, the shields.io badge font.
_NARROW = dict.fromkeys("ijlI!|.,:;'`", 3.6) | dict.fromkeys("ft()[]{} /\\-", 4.6)
_WIDE = dict.fromkeys("mwMW%", 10.5) | {"r": 4.8, "s": 5.8, "c": 5.9, "z": 5.8}


def _badge_text_width(text: str) -> float:
    width = 0.0
    for ch in text:
        w = _NARROW.get(ch) or _WIDE.get(ch)
        if w is None:
            w = 7.6 if ch.isupper() else 7.0 if ch.isdigit() else 6.8
        width += w
    return width


def _badge_colour(color: str) -> str:
    if not isinstance(color, str):
        raise ValueError(f"color must be a #hex colour or a colour name; got {color!r}")
    named = BADGE_COLOURS.get(color.lower())
    if named:
        return named
    if _HEX_COLOUR.fullmatch(color) or _NAMED_COLOUR.fullmatch(color):
        return color.lower()
    raise ValueError(f"color must be a #hex colour or a colour name; got {color!r}")


def badge(label: str, value: str, *, color: str = "#4c1") -> str:
    """A shields.io 'flat' style badge: grey label box, coloured value box.

    `color` is a "#rgb"/"#rrggbb" colour, a shields.io name ("brightgreen", "blue", ...) or a
    CSS colour name; anything else (e.g. a url(...)) raises ValueError.
    """
    fill = _badge_colour(color)
    label, value = _clean(label), _clean(value)
    lw = round(_badge_text_width(label)) + 10
    vw = round(_badge_text_width(value)) + 10
    w = lw + vw
    summary = f"{label}: {value}"
    uid = "b" + hashlib.sha1(f"{summary}\0{fill}".encode()).hexdigest()[:10]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" '
        f'viewBox="0 0 {w} 20" role="img" aria-label={_attr(summary)}>',
        f"<title>{_text(summary)}</title>",
        f'<linearGradient id="{uid}s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        f'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>',
        f'<clipPath id="{uid}r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>',
        f'<g clip-path="url(#{uid}r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{vw}" height="20" fill={_attr(fill)}/>'
        f'<rect width="{w}" height="20" fill="url(#{uid}s)"/></g>',
        f'<g fill="#fff" text-anchor="middle" font-family={_attr(BADGE_FONT_FAMILY)} '
        f'font-size="11">',
    ]
    for text, x, tw in ((label, lw / 2, lw - 10), (value, lw + vw / 2, vw - 10)):
        if not text:
            continue
        t, xs = _text(text), _f(x)
        parts.append(
            f'<text x="{xs}" y="15" fill="#010101" fill-opacity=".3" textLength="{tw}">{t}</text>'
            f'<text x="{xs}" y="14" textLength="{tw}">{t}</text>'
        )
    parts.append("</g></svg>")
    return "".join(parts)
