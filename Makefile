# The README's two commands. Everything else here serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint schema bench clean

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ehome migrate
	$(BIN)/ehome seed --scale district --demo --if-empty
	$(BIN)/ehome serve

lint: $(STAMP)
	$(BIN)/ruff check server schema policies tenants tests bench
	$(BIN)/ruff format --check server schema policies tenants tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/ehome check-schema
	$(BIN)/python -m pytest $(PYTEST_ARGS)

schema: $(STAMP)
	$(BIN)/ehome export-schema

bench: $(STAMP)
	$(BIN)/python bench/seed.py
	$(BIN)/python bench/queries.py
	$(BIN)/python bench/authz.py
	$(BIN)/python bench/feed.py
	$(BIN)/python bench/assessments.py
	$(BIN)/python bench/archive.py
	$(BIN)/python bench/services.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
