"""SVG charts of the report."""

from __future__ import annotations

import re

from id2reflectance.report.plots import bar_chart_svg, line_chart_svg


def test_bar_chart_heights_are_proportional_and_nan_left_out():
    svg = bar_chart_svg(["a", "b", "c"], {"s": [1.0, 2.0, float("nan")]}, title="t <x>")
    heights = [
        float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)" fill="#c77d4a"', svg)
    ]
    assert len(heights) == 2 and abs(heights[1] / heights[0] - 2.0) < 1e-2
    assert "t &lt;x&gt;" in svg and svg.startswith("<svg") and svg.endswith("</svg>")


def test_grouped_bars_have_a_legend_and_lines_one_polyline_per_series():
    svg = bar_chart_svg(["1", "2"], {"train": [3, 0], "test": [1, 1]}, title="splits")
    assert ">train</text>" in svg and ">test</text>" in svg
    line = line_chart_svg([0, 1, 2], {"x": [0, 1, 4], "y": [1, 1, 1]}, title="m", xlabel="frame")
    assert line.count("<polyline") == 2 and line.count("<circle") == 6
