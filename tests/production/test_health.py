"""`/healthz`: 200 when the database answers at the migrations' head (and the broker, when set); 503 naming what is wrong."""

from __future__ import annotations

from app import create_app
from tests.production.conftest import free_port


def test_healthy_app_answers_200_without_login(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json["status"] == "ok"
    assert answer.json["checks"]["database"] == {"ok": True}
    migrations = answer.json["checks"]["migrations"]
    assert migrations["ok"] and migrations["database"] == migrations["code"] != []
    assert "broker" not in answer.json["checks"]
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_database_behind_the_code_is_unhealthy(app_config):
    app = create_app(app_config)  # never migrated
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503
    migrations = answer.json["checks"]["migrations"]
    assert not migrations["ok"] and migrations["database"] == [] and "flask db upgrade" in migrations["error"]


def test_an_unreachable_broker_is_unhealthy(app, app_config):
    from flask_migrate import upgrade

    broken = create_app({**app_config, "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"})
    with broken.app_context():
        upgrade()
    answer = broken.test_client().get("/healthz")
    assert answer.status_code == 503
    assert answer.json["checks"]["broker"] == {"ok": False, "error": "unreachable (ConnectionError)"}
    assert answer.json["checks"]["database"]["ok"]


def test_a_reachable_broker_is_checked(app_config, redis_url):
    from flask_migrate import upgrade

    app = create_app({**app_config, "CELERY_BROKER_URL": redis_url})
    with app.app_context():
        upgrade()
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200 and answer.json["checks"]["broker"] == {"ok": True}
