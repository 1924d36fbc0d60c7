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

# In parallel processes (pytest-xdist): the tests mostly wait on servers, browsers and PostgreSQL,
# so on 2 cores 3 workers finish first (`make test TEST_WORKERS=0`: all in one process), handed out
# two at a time (tests/conftest.py starts the slow ones first). Then the few `serial` tests, which
# time things, alone. Both runs always run; either failing (or collecting nothing) fails.
TEST_WORKERS ?= 3
test: $(BIN)/tenure
	$(BIN)/pytest -n $(TEST_WORKERS) --dist load --maxschedchunk 2 -m "not serial" --durations=20; \
	parallel=$$?; \
	$(BIN)/pytest -m serial; serial=$$?; \
	test $$parallel -eq 0 && test $$serial -eq 0

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
