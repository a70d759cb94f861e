"""A listener's pages speak of songs, moods and sounds: no jargon outside "How this was measured"."""

from __future__ import annotations

from importlib import import_module

import pytest

from app.dash_views import PAGE_MODULES
from app.extensions import db
from app.services.plain_words import jargon_in, visible_text
from tests.auth.helpers import session_login
from tests.dash_views.test_sort_review import sorted_run  # noqa: F401  (fixture)
from tests.models.conftest import small_grid  # noqa: F401  (fixture)
from tests.models.test_store import store  # noqa: F401  (fixture)

# Explore is the evidence page itself (distributions, correlations): every other page is a listener's.
LISTENER_PAGES = [name for name in PAGE_MODULES if not name.endswith(".explore")]


@pytest.mark.parametrize("words, found", [
    ("ROC AUC 0.81, macro-F1 0.4", ["ROC", "AUC", "macro-F1"]),
    ("its sound colour (timbre 7); mfcc3 mean (preview) +3.6 SD", ["timbre", "SD"]),
    ("a relu network", ["relu"]),
    ("Songs that fit your workout playlist, most likely first", []),
    ("sd card, Mrs Roc", []),
])
def test_the_jargon_list_finds_what_it_should(words, found):
    assert jargon_in(words) == found


def test_text_under_how_this_was_measured_is_not_scanned():
    from dash import html

    from app.dash_views.components import measured

    page = html.Div([html.P("Songs kept: 12"), measured(html.P("ROC AUC 0.8"))])
    assert jargon_in(" ".join(visible_text(page))) == []
    assert "ROC AUC 0.8" not in " ".join(visible_text(page))


@pytest.mark.parametrize("module_name", LISTENER_PAGES)
def test_a_listener_page_has_no_jargon_outside_how_this_was_measured(app, client, sorted_run, module_name):  # noqa: F811
    user_id, _run = sorted_run
    session_login(client, user_id)
    module = import_module(module_name)
    with client.session_transaction() as stored:
        cookie = dict(stored)
    with app.test_request_context():
        from flask import session

        session.update(cookie)
        text = " ".join(visible_text(module.layout()))
    assert jargon_in(text) == [], f"{module_name}: {sorted(set(jargon_in(text)))}"
    db.session.remove()


def test_the_glossary_explains_the_words_that_remain(client):
    page = client.get("/glossary")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for word in ("Cutoff", "Fit", "ROC AUC", "macro-F1", "SD (standard deviation)", "timbre", "relu"):
        assert word in text, word


def test_the_evidence_views_put_their_scores_under_how_this_was_measured():
    from types import SimpleNamespace

    from app.dash_views import compare, discover

    metrics = {"confusion": [[40, 10], [12, 38]], "counts": {"owner": 300, "other": 280}, "roc_auc": 0.83, "f1": 0.79,
               "n_test": 100, "n_train": 480, "n_shared": 20}
    scores = compare.scores_view(metrics, "Ana")
    assert jargon_in(" ".join(visible_text(scores))) == []
    assert "overlap a little" in " ".join(visible_text(scores))
    model = SimpleNamespace(metrics={"counts": {"positives": 120}}, created_at=None)
    runs = [SimpleNamespace(name="Logistic regression", metrics={"roc_auc": 0.7, "cv_roc_auc": 0.71, "cv_std": 0.02,
                                                                  "chosen": True}, params={"best": {"C": 1}},
                            seconds=2.0)]
    estimators = discover.runs_view(model, runs)
    assert jargon_in(" ".join(visible_text(estimators))) == []
