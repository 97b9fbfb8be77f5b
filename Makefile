# Kairos: `make run` serves the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test fuzz lint format openapi bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/kairos migrate
	@echo ""
	@echo "Kairos is starting on http://127.0.0.1:8000 (API docs: /docs)."
	@echo "Create the first staff account in another terminal:"
	@echo "    $(BIN)/kairos admin create-user --email you@example.org"
	@echo ""
	$(BIN)/kairos serve --host 127.0.0.1 --port 8000

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

# The contract fuzzed longer than the suite does, with fresh seeds each run.
fuzz: $(DEV_STAMP)
	KAIROS_FUZZ_EXAMPLES=$${KAIROS_FUZZ_EXAMPLES:-100} KAIROS_FUZZ_FRESH=1 $(BIN)/pytest -q tests/test_fuzz.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(STAMP)
	$(BIN)/python -m app.openapi > openapi.json

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
