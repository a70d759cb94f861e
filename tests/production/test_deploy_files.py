"""The deployment files are valid and point at code that exists: Procfile, Elastic Beanstalk config, Docker files."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import needs_service
from tests.production.conftest import BIN, ROOT


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(": ")
        processes[name] = shlex.split(command)
    return processes


def test_the_procfile_runs_gunicorn_on_the_wsgi_app_and_a_celery_worker():
    processes = procfile()
    assert set(processes) == {"web", "worker", "beat"}
    # One beat for the whole deployment sends the sync tick; which worker runs it does not matter.
    assert processes["beat"][:4] == ["celery", "-A", "app.jobs.celery_app", "beat"]
    web, worker = processes["web"], processes["worker"]
    assert web[0] == "gunicorn" and (BIN / "gunicorn").exists()
    assert "0.0.0.0:${PORT:-8000}" in web
    module, _, attribute = web[1].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    logger_class = web[web.index("--logger-class") + 1]
    module, _, name = logger_class.rpartition(".")
    assert issubclass(getattr(importlib.import_module(module), name), importlib.import_module("gunicorn.glogging").Logger)
    assert worker[:4] == ["celery", "-A", "app.jobs.celery_app", "worker"] and (BIN / "celery").exists()
    assert importlib.import_module("app.jobs.celery_app").celery.main == "contextify"


@pytest.mark.parametrize("process", ["web", "worker", "beat"])
def test_every_option_in_the_procfile_is_known_to_its_program(process):
    command = procfile()[process]
    program = [str(BIN / command[0])] + (command[1:4] if process in ("worker", "beat") else [])
    help_text = subprocess.run([*program, "--help"], capture_output=True, text=True, timeout=60,
                               cwd=ROOT, env={**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}).stdout
    options = {re.split(r"[= ]", word)[0] for word in command if word.startswith("--")}
    assert options and all(option in help_text for option in options), options - set(help_text.split())


def test_the_elastic_beanstalk_config_checks_health_and_migrates_on_the_leader():
    config = yaml.safe_load((ROOT / ".ebextensions" / "01-contextify.config").read_text())
    options = config["option_settings"]
    assert options["aws:elasticbeanstalk:environment:process:default"]["HealthCheckPath"] == "/healthz"
    assert options["aws:elasticbeanstalk:application"]["Application Healthcheck URL"] == "/healthz"
    module, _, attribute = options["aws:elasticbeanstalk:container:python"]["WSGIPath"].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    static = options["aws:elasticbeanstalk:environment:proxy:staticfiles"]["/static"]
    assert (ROOT / static / "contextify.css").exists()
    migrate = config["container_commands"]["01_migrate"]
    assert migrate["leader_only"] is True and migrate["command"].endswith("flask db upgrade")


def test_no_secret_has_a_value_in_the_deployment_files():
    import config

    environment = yaml.safe_load((ROOT / ".ebextensions" / "01-contextify.config").read_text())[
        "option_settings"]["aws:elasticbeanstalk:application:environment"]
    secrets = {"SECRET_KEY", "SPOTIFY_CLIENT_SECRET", "DATABASE_URL", "CELERY_BROKER_URL", "RATE_LIMIT_REDIS_URL"}
    assert not secrets & set(environment)
    assert set(environment) - {"FLASK_APP", "WEB_CONCURRENCY", "GUNICORN_THREADS", "CELERY_CONCURRENCY"} <= set(
        config.VARIABLES)


def test_platform_hooks_are_executable_shell_scripts():
    hooks = sorted((ROOT / ".platform").glob("*hooks/*/*.sh"))
    assert hooks
    for hook in hooks:
        assert os.access(hook, os.X_OK), f"{hook} is not executable"
        assert hook.read_text().startswith("#!/bin/bash")
        subprocess.run(["bash", "-n", str(hook)], check=True)


def test_the_dockerfile_pins_its_base_runs_as_non_root_and_starts_the_procfile():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert re.search(r"^USER contextify$", text, re.M)
    # Dependencies are installed before the code is copied, so code changes reuse the pip layer.
    assert text.index("COPY requirements.txt") < text.index("pip install") < text.index("COPY --chown=root:root . .")
    assert 'CMD ["scripts/procfile", "web"]' in text and os.access(ROOT / "scripts" / "procfile", os.X_OK)
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def _compose(*args: str, **env: str) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if binary is None:
        needs_service("docker-compose is not installed (Debian: apt-get install docker-compose; .ci/run does it)")
    return subprocess.run([binary, "-f", str(ROOT / "docker-compose.yml"), *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": os.environ.get("PATH", ""), **env})


def test_the_compose_file_is_valid_and_runs_the_procfile_processes():
    answer = _compose("--profile", "demo", "config", POSTGRES_PASSWORD="pw", SECRET_KEY="key")
    assert answer.returncode == 0, answer.stderr
    services = yaml.safe_load(answer.stdout)["services"]
    assert set(services) == {"web", "worker", "beat", "redis", "postgres", "migrate", "sandbox"}
    assert services["web"]["command"] == ["scripts/procfile", "web"]
    assert services["worker"]["command"] == ["scripts/procfile", "worker"]
    assert services["beat"]["command"] == ["scripts/procfile", "beat"]
    assert services["migrate"]["command"] == ["flask", "db", "upgrade"]
    assert services["web"]["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # Only the sandbox is optional: `docker-compose up` without `--profile demo` starts everything else.
    assert {name for name, service in services.items() if service.get("profiles")} == {"sandbox"}
    assert services["sandbox"]["profiles"] == ["demo"]


def test_the_compose_file_refuses_to_start_without_its_secrets():
    answer = _compose("config", POSTGRES_PASSWORD="pw")
    assert answer.returncode != 0 and "set SECRET_KEY" in answer.stderr


def test_every_deployment_installs_the_musicnn_weights_without_their_dependencies():
    """The wheel declares TensorFlow and numpy<1.17; only its files are wanted, from a hashed pin."""
    pin = (ROOT / "requirements-weights.txt").read_text()
    assert re.search(r"^musicnn==0\.1\.0 --hash=sha256:[0-9a-f]{64}$", pin, re.M)
    install = "pip install --no-deps -r requirements-weights.txt"
    assert install in (ROOT / "Dockerfile").read_text()
    config = yaml.safe_load((ROOT / ".ebextensions" / "01-contextify.config").read_text())
    assert config["container_commands"]["02_musicnn_weights"]["command"].endswith(install)
    assert "install --no-deps -r requirements-weights.txt" in (ROOT / "Makefile").read_text()
    assert not any(line.startswith(("tensorflow", "musicnn")) for line in
                   (ROOT / "requirements.txt").read_text().splitlines())
