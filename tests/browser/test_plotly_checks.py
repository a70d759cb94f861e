"""The empty-chart detector must fail on empty figures, in Python and as Chromium renders them, and pass on a real one."""

from __future__ import annotations

from pathlib import Path

import plotly
import plotly.graph_objects as go
import pytest

from app.dash_views.figures import empty_figure
from tests.browser.plotly_checks import SUMMARY_JS, figure_problem, summary_of_figure

REAL = go.Figure(go.Bar(x=["rock", "sad"], y=[55, 40]))
BLANK_TRACE = go.Figure(go.Scatter(x=[], y=[]))


@pytest.mark.parametrize("figure, expected", [
    (empty_figure("No labelled tracks for these contexts."), "empty-state figure"),
    (go.Figure(), "no visible traces"),
    (BLANK_TRACE, "without a single data point"),
])
def test_empty_figures_are_reported(figure, expected):
    assert expected in figure_problem(summary_of_figure(figure))


def test_a_figure_with_data_passes():
    assert figure_problem(summary_of_figure(REAL)) is None


def test_the_browser_summary_catches_an_empty_chart_that_chromium_drew(browser, browser_context_args):
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    page = browser.new_context(**browser_context_args).new_page()
    page.set_content("<div id='empty'></div><div id='blank'></div><div id='real'></div>")
    page.add_script_tag(path=str(plotly_js))
    verdicts = {}
    for name, figure in (("empty", empty_figure("Nothing here.")), ("blank", BLANK_TRACE), ("real", REAL)):
        page.evaluate("([id, fig]) => Plotly.newPlot(id, fig.data, fig.layout)", [name, figure.to_plotly_json()])
        verdicts[name] = figure_problem(page.locator(f"#{name}").evaluate(SUMMARY_JS))
    assert verdicts["empty"] and verdicts["blank"], verdicts
    assert verdicts["real"] is None, verdicts
