# fpstream: `make run` (a folder, or paths on stdin) and `make test`. Both set up .venv first.
#
#   make run MUSIC=~/Music                   walk a folder (spaces in its name are fine)
#   find ~/Music -type f -name '*.flac' | make run ANALYZERS=4
#   make test
#
# .venv is created with python3 if missing. `make run` installs only what running
# needs (the project and its dependencies); `make test` adds the test extra (pytest,
# ruff, and the reference libraries the tests compare with). Each install happens
# again only when pyproject.toml is newer than its stamp.

VENV      ?= .venv
PYTHON    := $(VENV)/bin/python
STAMP     := $(VENV)/.fpstream-installed
WARM      := $(VENV)/.fpstream-kernels
TEST_STAMP := $(VENV)/.fpstream-test-installed
MUSIC     ?=
LIST_IGNORED ?=
ANALYZERS ?= $(shell nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

.PHONY: run test lint setup

setup: $(WARM) $(TEST_STAMP)

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(TEST_STAMP): $(STAMP)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

# Compile the numba kernels into their on-disk cache (numba's cache=True, in the
# __pycache__ folders) at set-up, so a first `make run` loads them in well under
# 2 s instead of compiling them. Redone when a DSP module changes.
$(WARM): $(STAMP) $(wildcard dsp/*.py)
	@echo "compiling the analyzer's kernels (once; about 20 s)"
	@$(PYTHON) -c 'from dsp.chunk import warm_up; warm_up()'
	@touch $@

run: $(WARM)
	@$(PYTHON) -m ingest.run --analyzers $(ANALYZERS) $(if $(LIST_IGNORED),--list-ignored) -- $(if $(MUSIC),"$(MUSIC)")

test: $(WARM) $(TEST_STAMP)
	$(PYTHON) -m pytest -q

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
