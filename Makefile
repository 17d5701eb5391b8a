# setback: `make demo` runs the main job, `make test` runs the fast test suite.
# Both create .venv with a Python >= 3.12 when it is missing and install the package into it.
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
NOTEBOOKS := $(wildcard notebooks/*.ipynb)

.PHONY: help demo test test-slow notebooks bench lint clean

help:
	@echo "make demo       set up .venv if needed and run the main job (writes demo-output/)"
	@echo "make test       set up .venv if needed and run the fast test suite and the notebooks"
	@echo "make test-slow  the slow statistical checks (parameter recovery, calibration, full notebooks)"
	@echo "make notebooks  run the notebooks and write them with their outputs to docs/notebooks/*.html"
	@echo "make bench      speed benchmarks (results in benchmarks/RESULTS.md)"
	@echo "make lint       ruff"

$(PY):
	@interp=$$(sh scripts/find-python) || exit 1; \
	echo "Creating $(VENV) with $$interp ($$($$interp --version))"; \
	$$interp -m venv $(VENV) && $(PIP) install --upgrade pip

# One stamp per extra set, rebuilt when pyproject.toml changes.
$(VENV)/.installed-base: pyproject.toml | $(PY)
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -e ".[dev]"
	@touch $@ $(VENV)/.installed-base

$(VENV)/.installed-notebooks: pyproject.toml | $(PY)
	$(PIP) install -e ".[notebooks]"
	@touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(VENV)/bin/setback demo --out demo-output

# The notebooks run inside the suite (tests/test_notebooks.py): fast sizes here, full sizes
# in test-slow; a warning or an error in any output fails the test.
test: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not slow" -q tests --doctest-modules trajectories simulations analyses

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -m slow -q --run-slow

# Executed copies for browsing (the .ipynb files stay without outputs); FAST_NOTEBOOKS=1 for
# the small sizes.
notebooks: $(VENV)/.installed-notebooks
	$(VENV)/bin/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=1800 \
		--output-dir docs/notebooks $(NOTEBOOKS)

bench: $(VENV)/.installed-dev
	$(PY) -m benchmarks.simulate
	$(PY) -m benchmarks.fit

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check trajectories simulations analyses tests benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache docs/notebooks
