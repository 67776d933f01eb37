# Set-up and everyday commands. Each target builds its own virtual environment in .venv
# (git-ignored) the first time, and again whenever pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench docs lint typecheck check clean venv

venv: $(STAMP)

# The sandbox platform is its own distribution (sandbox/): given to pip beside the SDK,
# it is what the SDK's sandbox extra resolves to.
$(STAMP): pyproject.toml sandbox/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[async,sandbox,report,postgres,examples,otel,dev,docs]" -e ./sandbox
	@for p in plugins/*/; do \
		if [ -f "$$p/pyproject.toml" ]; then $(BIN)/python -m pip install --quiet -e "$$p" || exit 1; fi; \
	done
	touch $(STAMP)

## The whole test suite (what CI runs), with lint, type checks and the docs build first.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory docs
	$(BIN)/pytest -q

## The documentation site, into site/; any warning (a broken link, a docstring that does
## not render) fails the build. Needs no network once the docs extra is installed.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict

## The end-to-end demo against the embedded sandbox platform.
demo: $(STAMP)
	$(BIN)/python examples/demo.py

## Benchmarks: prints tables; figures go into docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check credit_check_sdk sandbox tests plugins examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist site
