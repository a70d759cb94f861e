"""Judging rendered Plotly charts: a chart counts as drawn only when a visible trace has data points."""

from __future__ import annotations

from typing import Any

# Runs in the page on a `.js-plotly-plot` element: what Plotly actually drew (its full, decoded data), per trace.
SUMMARY_JS = """(gd) => {
  const keys = ['x', 'y', 'z', 'values', 'r', 'lat', 'lon', 'a', 'b', 'dimensions'];
  const traces = (gd._fullData || gd.data || []).map((t) => {
    let points = 0;
    for (const k of keys) {
      const v = t[k];
      if (v && typeof v.length === 'number') points = Math.max(points, v.length);
    }
    return {type: t.type || 'scatter', visible: t.visible !== false, points};
  });
  const layout = gd._fullLayout || gd.layout || {};
  return {empty: !!(layout.meta && layout.meta.empty),
          annotations: (layout.annotations || []).map((a) => a.text || ''),
          svg: gd.querySelectorAll('.main-svg').length, traces};
}"""


def figure_problem(summary: dict[str, Any]) -> str | None:
    """Why a chart (its SUMMARY_JS summary) shows no data, or None when it has drawn something real."""
    if summary.get("empty"):
        return "an empty-state figure: " + " / ".join(summary.get("annotations") or ["(no message)"])
    if not summary.get("svg"):
        return "Plotly drew nothing (no SVG)"
    traces = [t for t in summary.get("traces") or [] if t.get("visible", True)]
    if not traces:
        return "no visible traces"
    if not any(t.get("points", 0) > 0 for t in traces):
        return "traces without a single data point"
    return None


def summary_of_figure(figure: Any) -> dict[str, Any]:
    """The same summary computed from a Python plotly Figure (for unit tests without a browser)."""
    data = figure.data
    layout = figure.layout
    meta = layout.meta if isinstance(layout.meta, dict) else {}
    traces = []
    for trace in data:
        points = 0
        for key in ("x", "y", "z", "values", "r", "lat", "lon", "a", "b", "dimensions"):
            value = getattr(trace, key, None) if key in trace else None
            if value is not None and hasattr(value, "__len__"):
                points = max(points, len(value))
        traces.append({"type": trace.type, "visible": trace.visible is not False, "points": points})
    return {"empty": bool(meta.get("empty")), "annotations": [a.text or "" for a in layout.annotations],
            "svg": 1, "traces": traces}
