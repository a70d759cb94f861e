"""`flask map-clusters` and `flask genre-model` drive the same code as the page, for a named user."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.extensions import db
from app.services.catalog_map import genre_model_command, map_clusters_command
from app.storage.tables import ModelRun, TrainedModel
from tests.auth.helpers import add_user


def test_map_clusters_records_the_users_run(catalog_app):
    me = add_user(catalog_app, "mira.s")
    result = catalog_app.test_cli_runner().invoke(map_clusters_command, ["--user", "mira.s", "--k", "3", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output.strip().splitlines()[-1])
    assert shown["metrics"]["n_clusters"] == 3 and len(shown["sentences"]) == 3
    with catalog_app.app_context():
        run = db.session.get(ModelRun, shown["run_id"])
        assert (run.user_id, run.mode) == (me, "map")


def test_affinity_propagation_from_the_command_line(catalog_app):
    add_user(catalog_app, "mira.s")
    result = catalog_app.test_cli_runner().invoke(map_clusters_command, ["--user", "mira.s", "--method", "ap",
                                                                         "--preference", "0"])
    assert result.exit_code == 0, result.output
    assert "Affinity propagation with the preference at the 0th percentile" in result.output
    assert result.output.count("\n- Cluster ") >= 2


def test_genre_model_and_plain_refusals(app):
    add_user(app, "mira.s")
    runner = app.test_cli_runner()
    empty = runner.invoke(genre_model_command, ["--user", "mira.s"])
    assert empty.exit_code == 1 and "The catalog is empty" in empty.output
    stranger = runner.invoke(map_clusters_command, ["--user", "nobody"])
    assert stranger.exit_code == 1 and "No user 'nobody' in the store" in stranger.output


def test_genre_model_command_trains_a_model(catalog_app):
    me = add_user(catalog_app, "mira.s")
    result = catalog_app.test_cli_runner().invoke(genre_model_command, ["--user", "mira.s"])
    assert result.exit_code == 0, result.output
    assert "The genre model knows 3 genres (Classical, Dance, Rap/Hip Hop)" in result.output
    with catalog_app.app_context():
        assert db.session.scalars(select(TrainedModel.user_id).where(TrainedModel.kind == "genre")).all() == [me]
