# The two commands of the README: `make demo` runs the whole stack, `make test` runs
# every check. Both create .venv from nothing with only Python 3.11+ installed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SRC    := src tests benchmarks

.PHONY: install check lint typecheck layers docs test test-fast demo clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "livedata needs Python 3.11+, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)

typecheck: install
	$(BIN)/mypy

layers: install
	$(BIN)/lint-imports

# Not --quiet: with it, mkdocs 1.6 exits 0 on warnings even in strict mode.
# NO_MKDOCS_2_WARNING hides mkdocs-material's end-of-life banner (not a warning).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

check: lint typecheck layers docs

test: check
	$(BIN)/pytest

# Unit tests only: no broker, no browser.
test-fast: install
	$(BIN)/pytest -m "not integration and not browser and not slow"

demo: install
	$(BIN)/livedata demo --instrument dummy

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
