# Calsync developer commands. `make run` and `make test` set everything up from a bare Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
## Test processes: most tests wait on brokers, sandboxes and subprocesses, so two share two
## cores well; a file stays in one process (its session fixtures and fixed ports with it).
TEST_WORKERS ?= 2

.PHONY: run test lint bench demo sandbox clean

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## The whole pipeline on one machine: SQLite and the embedded broker under var/, and the provider
## sandboxes on 8081 and 8082 when no Google or Microsoft app is configured (README "Try it").
run: $(STAMP)
	$(BIN)/calsync db upgrade
	$(BIN)/calsync run

## The whole suite. Integration tests need PostgreSQL and RabbitMQ; under CI=true they fail when unreachable.
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --config .ci/ruff.toml .
	$(BIN)/ruff format --config .ci/ruff.toml --check .
	$(BIN)/mypy --config-file setup.cfg
	$(BIN)/lint-imports --config setup.cfg

## Benchmarks print their figures as ratios against a baseline measured in the same run.
bench: $(STAMP)
	$(BIN)/python -m pytest tests/bench -s -p no:randomly -o addopts="" $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/calsync demo

sandbox: $(STAMP)
	$(BIN)/calsync sandbox

clean:
	rm -rf $(VENV) var build *.egg-info
