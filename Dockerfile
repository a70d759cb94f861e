# contextify's image: the web app and the Celery worker (same code, the process named by the command).
#   docker build -t contextify .   then see docker-compose.yml, or docs/deploying.md
# The base is pinned by exact tag; pin its digest too (FROM python:3.11.14-slim-bookworm@sha256:...) for
# byte-identical rebuilds.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONTEXTIFY_INSTANCE_DIR=/var/lib/contextify \
    PORT=8000

RUN groupadd --system --gid 10001 contextify \
 && useradd --system --uid 10001 --gid contextify --home-dir /nonexistent --no-create-home contextify \
 && install -d -o contextify -g contextify -m 750 /var/lib/contextify

WORKDIR /app

# Dependencies in their own layer: a code change rebuilds from the COPY below, not from pip.
# No apt packages: every wheel is manylinux, and soundfile's bundles libsndfile (with MP3 decoding, which
# preview analysis needs); the check fails the build if a future wheel stops doing so.
# The musicnn weights' wheel goes in --no-deps: its declared TensorFlow / numpy<1.17 are never installed.
COPY requirements.txt requirements-weights.txt ./
RUN pip install -r requirements.txt \
 && pip install --no-deps -r requirements-weights.txt \
 && python -c "import soundfile; assert 'MP3' in soundfile.available_formats(), soundfile.__libsndfile_version__"

COPY --chown=root:root . .

USER contextify
EXPOSE 8000
# `docker run` and compose health: the same /healthz the load balancer asks (database, migrations, broker).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4)"
CMD ["scripts/procfile", "web"]
