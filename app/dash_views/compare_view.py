"""The Compare page's plain functions: the invite list, the scores, the hidden-layer map and the "both" list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from app.dash_views import ids
from app.dash_views.components import empty_state, measured, table
from app.dash_views.figures import LAYOUT, PALETTE, empty_figure
from app.services.compare import BothTrack, InviteRow, Other

STATUS_WORDS = {"waiting": "Waiting for them to agree", "accepted": "Accepted", "expired": "Expired",
                "revoked": "Withdrawn"}


def invite_link(root_url: str, token: str) -> html.Div:
    """The link, shown once: only its hash is kept, so it cannot be shown again."""
    url = f"{root_url.rstrip('/')}/invite/{token}"
    return html.Div([
        html.P("Send this link to the person you want to compare with. It is shown only now; it works for 7 days "
               "and only once."),
        html.Code(url, id="compare-invite-url", className="compare-link"),
    ], className="compare-invite-new", role="status")


def invites_view(rows: Sequence[InviteRow]) -> html.Div:
    if not rows:
        return html.P("You have not invited anyone yet.", className="muted")
    items = []
    for row in rows:
        who = f" by {row.guest}" if row.guest else ""
        when = row.created_at.strftime("%d %b %Y") if row.created_at else ""
        parts: list[Any] = [html.Span(f"Invite of {when}: {STATUS_WORDS[row.status]}{who}.")]
        if row.status in ("waiting", "accepted"):
            parts.append(html.Button("Withdraw", id={"type": ids.COMPARE_REVOKE, "invite": row.id}, n_clicks=0,
                                     className="button secondary compare-revoke"))
        items.append(html.Li(parts))
    return html.Div(html.Ul(items, className="compare-invite-list"))


def other_options(others: Sequence[Other]) -> list[dict[str, str]]:
    return [{"label": (f"{o.name} (invite accepted)" if o.kind == "invite" else o.name), "value": o.key}
            for o in others]


def scores_view(metrics: dict[str, Any], other: str) -> html.Div:
    """ROC AUC and F1 on the held-out tracks, and the confusion matrix as a small table."""
    (tp, fn), (fp, tn) = metrics["confusion"]
    counts = metrics["counts"]
    rows = [{"truth": "Your songs", "as_owner": f"{tp:,}", "as_other": f"{fn:,}"},
            {"truth": f"{other}'s songs", "as_owner": f"{fp:,}", "as_other": f"{tn:,}"}]
    return html.Div([
        html.P(tastes_sentence(metrics["roc_auc"], other), className="chart-reading", id="compare-plain"),
        html.P(f"Libraries: {counts['owner']:,} songs only yours, {counts['other']:,} only {other}'s, "
               f"{metrics['n_shared']:,} in both.", className="muted"),
        measured(
            html.Dl([
                html.Dt("ROC AUC"), html.Dd(f"{metrics['roc_auc']:.2f}", id="compare-auc"),
                html.Dt("F1 (your songs)"), html.Dd(f"{metrics['f1']:.2f}", id="compare-f1"),
            ], className="compare-scores"),
            html.P(f"Scored on {metrics['n_test']:,} held-out tracks the network never saw; it learned from "
                   f"{metrics['n_train']:,}. An AUC of 0.5 means the two tastes cannot be told apart, 1.0 that they "
                   f"never meet. Songs in both libraries were left out of training.", className="chart-reading"),
            table(rows, {"truth": "Held-out tracks", "as_owner": "judged yours", "as_other": f"judged {other}'s"},
                  "", caption="Confusion matrix")),
    ], id="compare-scores")


def tastes_sentence(auc: float, other: str) -> str:
    """How far apart two tastes are, in words (the score behind it is under "How this was measured")."""
    if auc >= 0.85:
        return f"Your taste and {other}'s are easy to tell apart: your songs rarely sound like theirs."
    if auc >= 0.7:
        return f"Your taste and {other}'s overlap a little: most songs sound like one of you."
    if auc >= 0.6:
        return f"Your taste and {other}'s overlap a lot: many songs could belong to either of you."
    return f"Your taste and {other}'s sound alike: your songs and theirs can hardly be told apart."


def map_figure(points: Sequence[dict[str, Any]], owner: str, other: str) -> go.Figure:
    """The t-SNE map of the last hidden layer, one colour per owner (`owner`, `other`: the legend's words);
    hovering names the song."""
    if not points:
        return empty_figure("No comparison yet.")
    groups = {1: owner, 0: other, "both": "In both libraries"}
    figure = go.Figure(layout=LAYOUT)
    for (key, label), colour in zip(groups.items(), PALETTE):
        chosen = [p for p in points if p["owner"] == key]
        if not chosen:
            continue
        figure.add_trace(go.Scattergl(
            x=[p["x"] for p in chosen], y=[p["y"] for p in chosen], mode="markers", name=label,
            text=[p["name"] for p in chosen], marker={"color": colour, "size": 6, "opacity": 0.75},
            hovertemplate="%{text}<extra>" + label + "</extra>"))
    figure.update_layout(height=520, xaxis={"visible": False}, yaxis={"visible": False},
                         legend={"orientation": "h", "y": -0.05})
    return figure


def map_reading() -> str:
    return ("Each dot is a song, placed by what the network's last hidden layer makes of it (t-SNE keeps songs "
            "the network sees alike close together). Where the colours mix, the two tastes overlap.")


def both_view(tracks: Sequence[BothTrack], other: str) -> html.Div:
    rows = [{"rank": str(t.rank), "name": t.name, "p": f"{t.probability:.0%} yours · {1 - t.probability:.0%} {other}'s",
             "why": " ".join(t.reasons[1:])} for t in tracks]
    return table(rows, {"rank": "#", "name": "Song", "p": "Network's guess", "why": "From"},
                 "No songs yet: run a comparison first.")


def results_view(run, tracks: Sequence[BothTrack]) -> html.Div:
    """Everything a finished comparison shows; an empty state before the first one."""
    if run is None:
        return empty_state("No comparison yet: choose a second library and start one above.")
    params = run.params or {}
    other = params.get("other_name", "the other library")
    return html.Div([
        html.Section([html.H2(f"You and {other}"),
                      html.P(f"{params.get('layers')} hidden layer(s) of {params.get('units')} units, "
                             f"{params.get('activation')} activation; {run.seconds or 0:.1f} s.", className="muted"),
                      scores_view(run.metrics, other)], className="card"),
        html.Section([html.H2("Where your tastes meet"),
                      _graph(map_figure((run.result or {}).get("points", []), "Your songs", f"{other}'s songs")),
                      html.P(map_reading(), className="chart-reading")], className="card"),
        html.Section([html.H2("Songs you would both like"),
                      html.P("The songs the network is least sure about: it cannot say whose they are, so they sit "
                             "where the two tastes meet.", className="chart-reading"),
                      both_view(tracks, other)], className="card"),
    ])


def _graph(figure: go.Figure) -> dcc.Graph:
    return dcc.Graph(id=ids.COMPARE_MAP, figure=figure, config={"displaylogo": False, "responsive": True})
