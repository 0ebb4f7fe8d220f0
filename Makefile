# vmkit: two commands set everything up on a machine with Python 3 and make.
#   make lab    create .venv if missing, install, start JupyterLab on notebooks/
#   make test   create .venv if missing, install, run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# JupyterLab refuses to run as root unless told to (CI and containers run as root).
ROOTFLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test install bench lint html clean help

help:
	@echo "make lab    - start JupyterLab on notebooks/ (creates .venv and installs on first use)"
	@echo "make test   - run the whole test suite (creates .venv and installs on first use)"
	@echo "make bench  - run the performance benchmarks"
	@echo "make lint   - ruff"
	@echo "make html   - execute every notebook into html/ for reading"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ROOTFLAG)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py

html: $(STAMP)
	mkdir -p html
	$(VENV)/bin/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=300 \
		--output-dir html notebooks/*.ipynb

lint: $(STAMP)
	$(VENV)/bin/ruff check vmkit tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info html
