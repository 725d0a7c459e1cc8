# Every way to run chipscreen goes through here; CI (.ci/run) uses the same targets.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: venv demo test unit integration bench reliability lint format schemas clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

## The main job end to end: broker, worker, sample traffic, a summary.
demo: venv
	$(BIN)/chipscreen demo

## The whole suite: unit, integration against a real Kafka broker, and the fault-injection suite
## (SIGKILL crashes, broker outage, hostile input) at reduced sizes; make reliability: full size.
test: venv
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest -m "not integration"

integration: venv
	$(BIN)/pytest -m integration

bench: venv
	$(BIN)/python -u bench/run.py $(BENCH_ARGS)

bench-quick: venv
	$(BIN)/python -u bench/run.py --quick

reliability: venv
	CHIPSCREEN_RELIABILITY_FULL=1 $(BIN)/pytest tests/reliability -s -p no:cacheprovider

reliability-quick: venv
	$(BIN)/pytest tests/reliability -s -p no:cacheprovider

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
