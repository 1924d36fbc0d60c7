# The two commands of the README: `make demo` runs Tenure, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install i18n soak

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

# Re-extract customer-facing strings and list any that a catalog lacks. Each area keeps its own
# catalog, src/tenure/locales/<fr|de|id>/LC_MESSAGES/<area>.po: add new strings there, translated.
i18n: $(BIN)/tenure
	$(BIN)/pybabel extract -F babel.cfg -o src/tenure/locales/messages.pot --no-location --omit-header -k _ -k gettext .
	$(BIN)/pytest -q -p no:cacheprovider tests/web/test_translations.py

# The crash-consistency soak (not part of `make test`): 5 kill -9 rounds on SQLite and on PostgreSQL.
soak: $(BIN)/tenure
	TENURE_SOAK=1 $(BIN)/pytest tests/soak -p no:cacheprovider -s
