"""The Map's store work on PostgreSQL: the catalog frame, a clustering run and a genre model, as on SQLite."""

from __future__ import annotations

from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from app.services import catalog_map
from app.storage.tables import ModelRun, TrainedModel
from tests.auth.helpers import add_user
from tests.catalog_map.conftest import catalog_rows, store_catalog


def test_clustering_and_genre_model_on_postgresql(app_config, postgres_url):
    app = create_app({**app_config, "DATABASE_URL": postgres_url})
    with app.app_context():
        upgrade()
    try:
        store_catalog(app, catalog_rows())
        me = add_user(app, "mira.s")
        with app.app_context():
            catalog = catalog_map.catalog_frame(db.session)
            assert len(catalog) == 120 and catalog["genre"].nunique() == 3
            run = catalog_map.run_clustering(db.session, me, {"method": "ap", "preference_percentile": 0})
            model = catalog_map.train_genre_model(db.session, me)
            db.session.expire_all()
            stored = db.session.get(ModelRun, run.id)
            assert stored.result["labels"] and len(stored.result["sentences"]) == stored.metrics["n_clusters"]
            prediction = catalog_map.predict_genre(db.session, me, 5)
            assert prediction["deezer_genre"] == "Dance" and prediction["predicted"] == "Dance"
            assert db.session.get(TrainedModel, model.id).artifact
    finally:
        with app.app_context():
            db.engine.dispose()
