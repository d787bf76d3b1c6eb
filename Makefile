# The two set-up commands (see README.md): `make demo` and `make test`.
# Each creates .venv and installs what it needs; torch is pinned so pip takes the local CPU build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORK ?= work/demo
WORKERS ?= 2

.PHONY: install demo test clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

RELEASE := $(WORK)/releases/demo/1.0.0

demo: install
	$(BIN)/timelapse-d run pipelines/demo.toml --work $(WORK) --workers $(WORKERS)
	test -e $(RELEASE) || $(BIN)/timelapse-d release create --work $(WORK) --name demo --version 1.0.0 --root $(WORK)/releases
	$(BIN)/timelapse-d release verify $(RELEASE)
	$(BIN)/fgla demo --work $(WORK) --release $(RELEASE)

# The browser tests drive Debian's chromium (Playwright's own browser download cannot work offline).
test: install
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "make test: chromium could not be installed; the browser tests will be skipped (and say so)"
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) work .pytest_cache
