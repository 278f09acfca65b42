# brainenc: the two set-up commands (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint install clean screenshot

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "installing torch, brainenc and its dependencies into $(VENV) (about 4 min and 6.3 GB)"
	$(BIN)/python -m pip install $(TORCH_PINS)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/brainenc demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The README's picture of the report: rerun whenever the demo changes.
screenshot: demo
	$(BIN)/brainenc report brainenc_results/demo --screenshot docs/images/demo_report.png

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) brainenc_results .pytest_cache
