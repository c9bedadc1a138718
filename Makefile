# vocoder_train: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help install ffmpeg chromium test test-fast test-gpu demo bench bench-quality lint clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

ffmpeg: ## Install Debian's ffmpeg if FFmpeg's shared libraries are missing (torchcodec needs them)
	@if ldconfig -p 2>/dev/null | grep -q 'libavcodec\.so\.'; then \
	  echo "FFmpeg libraries: present"; \
	else \
	  echo "FFmpeg libraries missing: installing Debian package ffmpeg"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q ffmpeg; \
	fi

chromium: ## Install Debian's chromium and chromium-driver if missing (the browser tests of the HTML pages)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "chromium and chromedriver: present"; \
	else \
	  echo "chromium or chromedriver missing: installing Debian packages chromium chromium-driver"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; \
	fi

install: ffmpeg chromium $(STAMP) ## Create .venv and install the project (editable) with its dev tools; idempotent

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	@touch $(STAMP)

test: install ## Run the test suite (CPU, a few minutes)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install ## Run the tests not marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-gpu: install ## Every CUDA path (pytest -m gpu; skipped without a GPU), then the CUDA kernels under numba's simulator
	$(BIN)/python -m pytest -m gpu $(PYTEST_ARGS)
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python tests/kernels_cudasim_check.py

demo: install ## Train the demo recipe on the shipped corpus, export and synthesize (CPU, < 10 min)
	bash recipes/demo/run.sh

bench: install ## Performance harness, side by side with the peers (add ARGS=--quick for a short run)
	$(BIN)/python -m benchmarks.run $(ARGS)

bench-quality: install ## Time-to-quality benchmark on the demo corpus (ARGS=--budget 600)
	$(BIN)/python -m benchmarks.quality $(ARGS)

lint: install ## ruff: lint rules and formatting (line length 110) over the package, tests and benchmarks
	$(BIN)/ruff check vocoder_train tests benchmarks
	$(BIN)/ruff format --check vocoder_train tests benchmarks

clean: ## Remove caches and the demo run (keeps .venv)
	rm -rf .pytest_cache runs/demo build *.egg-info
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
