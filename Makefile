# The two commands of the README: `make demo` runs Tenure, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install

$(BIN)/tenure: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/tenure

install: $(BIN)/tenure

demo: $(BIN)/tenure
	$(BIN)/tenure serve --demo

test: $(BIN)/tenure
	$(BIN)/pytest

lint: $(BIN)/tenure
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
