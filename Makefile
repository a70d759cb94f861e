# contextify's two everyday commands (`make demo`, `make test`) and their helpers.
# Each target creates .venv when missing and installs the pinned requirements only when they changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
RUNTIME_STAMP := $(VENV)/.runtime-requirements
DEV_STAMP := $(VENV)/.dev-requirements
WEIGHTS_STAMP := $(VENV)/.weights-requirements

.PHONY: demo test bench tour install install-dev clean

# `make demo AUDIO_DIR=path` serves a world of the real recordings in that folder instead of the generated one.
demo: $(RUNTIME_STAMP)
	@AUDIO_DIR="$(AUDIO_DIR)" bash scripts/demo.sh

# Two workers (pytest-xdist): a test file is one unit of work (tests/conftest.py says which units differ), so module
# fixtures are set up once; the slowest 20 tests are listed at the end.
test: $(DEV_STAMP)
	@$(BIN)/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder --durations=20 $(PYTEST_ARGS)

# Measures speed against the services' limits and writes BENCHMARKS.md (about 10-15 minutes on 2 cores).
bench: $(DEV_STAMP)
	@$(BIN)/python -m benchmarks --scale full --out BENCHMARKS.md

# Walks the product in Chromium (tests/browser), then refreshes docs/tour.md and its screenshots in docs/tour/.
tour: $(DEV_STAMP)
	@$(BIN)/python -m pytest tests/browser/test_journey.py -k "visitor and generated" -q
	@$(BIN)/python -m tests.browser.tour

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

$(BIN)/python:
	@echo "Creating $(VENV) ..."
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip

$(RUNTIME_STAMP): requirements.txt $(WEIGHTS_STAMP) | $(BIN)/python
	@echo "Installing runtime requirements into $(VENV) (first run only) ..."
	@$(PIP) install -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt $(WEIGHTS_STAMP) | $(BIN)/python
	@echo "Installing runtime and test requirements into $(VENV) (first run only) ..."
	@$(PIP) install -r requirements-dev.txt
	@touch $@ $(RUNTIME_STAMP)

# The musicnn weights come in a wheel whose declared dependencies (TensorFlow, numpy<1.17) contextify must not
# install: --no-deps, from a hashed pin.
$(WEIGHTS_STAMP): requirements-weights.txt | $(BIN)/python
	@echo "Installing the musicnn weights into $(VENV) (first run only) ..."
	@$(PIP) install --no-deps -r requirements-weights.txt
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache

# Audits the pinned runtime requirements against PyPI's advisory data (needs pypi.org); fails on a known
# vulnerability. `make audit AUDIT_ARGS=--strict` also fails when a pin could not be looked up.
.PHONY: audit
audit: $(DEV_STAMP)
	@$(BIN)/pip-audit --requirement requirements.txt --no-deps --disable-pip --progress-spinner off $(AUDIT_ARGS)
