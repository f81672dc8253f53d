# hsimin: two commands on a fresh machine.
#   make demo   set up .venv, then run the main job on the bundled real sample tray
#   make test   set up .venv, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.hsimin-installed
DEMO_OUT ?= demo_out
# GUI tests need a virtual X server with software OpenGL (see docs/ and ENVIRONMENT notes).
XVFB := $(shell command -v xvfb-run 2>/dev/null)
ifneq ($(XVFB),)
  GUI_RUN := xvfb-run -a -s "-screen 0 1280x1024x24"
else
  GUI_RUN :=
endif

.PHONY: demo test venv bench docs lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch: the exact CPU wheel that lies on disk (an unpinned torch downloads a multi-GB CUDA build)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev,explain,napari,dask,geo]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py --out $(DEMO_OUT)

test: lint
	$(GUI_RUN) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The layer contracts (import-linter) and ruff's error checks; `make test` runs this first, so a broken contract
# or an unused import fails the build.
LINT_PATHS := hsimin plugins tests scripts benchmarks
lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check --quiet $(LINT_PATHS)

# Every benchmark, one after the other (about 45 minutes on 2 cores; results in benchmarks/results/*.json).
# `make bench BENCHES="io_bench preprocess_bench"` runs some. Run them on a quiet machine: they time the peers
# (SPy, scipy, hylite) in the same run and report ratios, which a busy machine skews.
BENCHES ?= io_bench preprocess_bench identify_accuracy models_bench batch_bench prospect_bench ssl_dann_bench realdata_bench classify_bench gate_bench tsg_bench
bench: $(STAMP)
	$(PIP) install --quiet -e ".[bench]"
	set -e; for b in $(BENCHES); do echo "== $$b"; $(PY) benchmarks/$$b.py; done

docs: $(STAMP)
	$(PY) scripts/gen_cli_docs.py
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(DEMO_OUT) .pytest_cache build dist
