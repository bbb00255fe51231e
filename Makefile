# Two set-up commands (see README): `make demo` and `make test`.
# TORCH_SPEC picks the torch build. torch==2.13.0 is a CPU build where a local wheel is at hand;
# elsewhere pass e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu".
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test install install-dev lint clean

$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_SPEC)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PIP) install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.core
install-dev: $(VENV)/.dev

demo: $(VENV)/.core
	$(VENV)/bin/pixelwise demo --out runs/demo --overwrite

test: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
