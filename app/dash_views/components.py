"""Building blocks shared by the pages: page header, empty state, per-stage progress bars, job log, tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from dash import dcc, html

from app.dash_views.harvests import StageRow
from app.services.plain_words import MEASURED_CLASS, MEASURED_TITLE


def page_header(title: str, lead: str, step: str | None = None) -> html.Header:
    """The page's title and one sentence on what it is for; `step` shows where it sits in the flow."""
    parts = [html.P(step, className="page-step")] if step else []
    return html.Header([*parts, html.H1(title), html.P(lead, className="page-lead")], className="page-header")


def empty_state(message: str, link_text: str | None = None, href: str | None = None,
                id: str | None = None) -> html.Div:  # noqa: A002  (Dash's own name for it)
    children: list = [html.P(message)]
    if link_text and href:
        children.append(dcc.Link(link_text, href=href, className="button"))
    return html.Div(children, className="empty-state", role="status", **({"id": id} if id else {}))


def stage_progress(rows: Sequence[StageRow]) -> html.Div:
    """One labelled bar per stage; a stage whose total is not known yet shows a moving stripe."""
    if not rows:
        return html.Div(html.P("Waiting for the first progress report…", className="muted"),
                        className="stage-list")
    return html.Div([_stage_bar(row) for row in rows], className="stage-list")


def _stage_bar(row: StageRow) -> html.Div:
    # Rounded down: 99.96 % drawn as 100 % would read as done while work still waits.
    percent = None if row.fraction is None else math.floor(1000 * row.fraction) / 10
    aria = {"role": "progressbar", "aria-label": row.name, "aria-valuemin": 0, "aria-valuemax": 100}
    if percent is not None:
        aria["aria-valuenow"] = percent
    fill = html.Div(className="stage-fill" if percent is not None else "stage-fill indeterminate",
                    style={"width": f"{percent}%"} if percent is not None else None)
    return html.Div([
        html.Div([html.Span(row.name, className="stage-name"), html.Span(row.detail, className="stage-detail")],
                 className="stage-labels"),
        html.Div(fill, className="stage-track", **aria),
    ], className="stage")


def job_log(lines: Sequence[str]) -> html.Div:
    """The job's notes (fallbacks, degradations, cancel and resume), oldest first."""
    if not lines:
        return html.Div()
    return html.Div([html.H3("What happened"), html.Ol([html.Li(line) for line in lines], className="job-log")])


def table(rows: Sequence[Mapping[str, str]], columns: Mapping[str, str], empty: str,
          caption: str | None = None) -> html.Div:
    """A plain, scrollable table; `columns` maps row keys to headings."""
    if not rows:
        return html.P(empty, className="muted")
    head = html.Thead(html.Tr([html.Th(title, scope="col") for title in columns.values()]))
    body = html.Tbody([html.Tr([html.Td(row.get(key, "")) for key in columns]) for row in rows])
    parts = [html.Caption(caption)] if caption else []
    return html.Div(html.Table([*parts, head, body], className="data-table"), className="table-scroll")


def chart_card(title: str, graph_id: str, text_id: str, controls: Sequence = ()) -> html.Section:
    """A chart with its title, optional controls, and the sentence that says what to read from it."""
    return html.Section([
        html.H2(title),
        *controls,
        dcc.Loading(dcc.Graph(id=graph_id, config={"displaylogo": False, "responsive": True}), type="dot"),
        html.P(id=text_id, className="chart-reading", **{"aria-live": "polite"}),
    ], className="card")


def measured(*children: Any, summary: str = MEASURED_TITLE, open_: bool = False, extra_class: str = "") -> html.Details:
    """Technical evidence (curves, grids, scores, feature names), folded away under "How this was measured"."""
    words = html.P(html.A("What these words mean", href="/glossary", target="_blank"), className="hint")
    return html.Details([html.Summary(summary), words, *children], open=open_,
                        className=f"{MEASURED_CLASS} {extra_class}".strip())
