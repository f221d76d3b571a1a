# fpstream: `make run` (paths on stdin) and `make test`. Both set up .venv first.
#
#   find ~/Music -type f -name '*.flac' | make run ANALYZERS=4
#   make test
#
# .venv is created with python3 if missing; the project is (re)installed into it
# only when pyproject.toml is newer than the install stamp.

VENV      ?= .venv
PYTHON    := $(VENV)/bin/python
STAMP     := $(VENV)/.fpstream-installed
ANALYZERS ?= $(shell nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

.PHONY: run test lint setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[test]'
	@touch $@

run: $(STAMP)
	@$(PYTHON) -m fpstream.run --analyzers $(ANALYZERS)

test: $(STAMP)
	$(PYTHON) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
