# Two commands for a fresh machine (with ../shared beside the clone, or ATLAS_MIRROR set):
#   make serve   create .venv, install (and MapLibre GL JS from npm), fetch sources, build, serve on 127.0.0.1:8000
#   make test    create .venv, install with test extras (and the npm packages), run ruff, mypy and pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test build fetch lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# the browser workspace's front-end packages (MapLibre GL JS, axe-core for its accessibility test), served by the
# atlas itself from node_modules; package-lock.json pins them
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

fetch: $(VENV)/.installed
	$(BIN)/atlas fetch

build: $(VENV)/.installed
	$(BIN)/atlas build

serve: build node_modules/.installed
	$(BIN)/atlas serve

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# PostGIS tests use ATLAS_TEST_DATABASE_URL, or a private cluster started by scripts/test_database.sh where
# PostgreSQL and PostGIS are installed (skipped, with the reason, where they are not).
test: lint node_modules/.installed
	ATLAS_TEST_DATABASE_URL="$${ATLAS_TEST_DATABASE_URL:-$$(scripts/test_database.sh 2>/dev/null || true)}" $(BIN)/pytest

clean:
	rm -rf $(VENV) node_modules data/cache data/warehouse.gpkg .pytest_cache .mypy_cache .ruff_cache
