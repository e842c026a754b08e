# figsync — `make dev` runs the whole system locally, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := $(shell cat packages.txt)
EDITABLES := $(foreach p,$(PACKAGES),-e ./$(p))

.PHONY: install dev test lint format schemas docs screenshots constraints clean chaos bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python constraints.txt requirements-dev.txt packages.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(EDITABLES)
	touch $@

install: $(VENV)/.installed

dev: install
	$(BIN)/figsync dev

# Two pytest-xdist workers; conftest.py hands them a module at a time and runs the heavy tests
# one at a time. Against servers you run yourself (FIGSYNC_NATS_URL / FIGSYNC_DATABASE_URL) the
# suite runs in one process: each test empties the shared NATS server's streams.
PYTEST_WORKERS ?= $(if $(FIGSYNC_NATS_URL)$(FIGSYNC_DATABASE_URL),0,2)

test: install lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The full chaos run (500 jobs); `make test` runs a reduced one.
chaos: install
	FIGSYNC_CHAOS_JOBS=500 $(BIN)/python -m pytest tests/chaos -q -s -rxX

bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schemas: install
	$(BIN)/figsync schemas write

# docs/troubleshooting.md from the error-code catalogue (figsync_contracts.error_codes).
docs: install
	$(BIN)/python tools/gen_troubleshooting.py
	$(BIN)/python tools/gen_openapi.py

# docs/images/*.png for docs/guide.md, from the real dashboard (needs /usr/bin/chromium).
screenshots: install
	FIGSYNC_WRITE_GUIDE_IMAGES=1 $(BIN)/python -m pytest services/projector/tests/test_guide_screenshots.py -q

# Re-pin: resolve everything afresh in a scratch venv and write constraints.txt (no URLs).
constraints:
	rm -rf .constraints-venv && $(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/pip install --quiet -r requirements-dev.txt $(EDITABLES)
	.constraints-venv/bin/pip freeze --exclude-editable | grep -v '^-e' | sort > constraints.txt
	rm -rf .constraints-venv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
