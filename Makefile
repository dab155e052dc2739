# Every target creates .venv on first use: stdlib venv + pip, nothing else assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PYTEST_ARGS ?=
# The suites run on every core (pytest-xdist); XDIST= runs them in one process.
XDIST ?= -n auto

.PHONY: demo test test-slow test-all bench lint format clean wheelhouse

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstall when pyproject.toml changes; the stamp names the extras installed.
$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dashboard]'
	@touch $@

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test,dev,plot,dashboard]'
	@touch $@ $(VENV)/.stamp-run

# The quick-start drill: 5 local nodes, a partition, a vote, a plan, a playbook, a courier.
demo: $(VENV)/.stamp-run
	$(BIN)/plurictl drill run quickstart

test: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -m "not slow and not bench" $(XDIST) $(PYTEST_ARGS)

test-slow: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -m "slow" $(XDIST) $(PYTEST_ARGS)

test-all: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -m "not bench" $(XDIST) $(PYTEST_ARGS)

bench: $(VENV)/.stamp-test
	$(BIN)/python -m pytest tests/benchmarks -m bench -s -q $(PYTEST_ARGS)

# mypy: --strict on the signed-log core and the mesh; plain on the planner and the CLI
# (there ledger/ and mesh/ are followed silently: the strict run checks them).
lint: $(VENV)/.stamp-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict ledger mesh
	$(BIN)/mypy --follow-imports=silent planner plurictl

format: $(VENV)/.stamp-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# For laptops with no network: a folder of wheels, built on a connected machine
# (field_guides/install.md). The plot extra is in it; the wheel carries the playbooks,
# drills and scenarios.
WHEELHOUSE ?= wheelhouse
wheelhouse: | $(BIN)/python
	$(PIP) download --quiet --dest $(WHEELHOUSE) '.[plot,dashboard,test]'
	$(PIP) wheel --quiet --no-deps --wheel-dir $(WHEELHOUSE) .
	@rm -rf build
	@echo "wheelhouse ready: $$(ls $(WHEELHOUSE) | wc -l) files in $(WHEELHOUSE)/"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis wheelhouse
