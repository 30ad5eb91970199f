# ntkbook: `make book` builds the book, `make test` runs every test. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= default
STAMP := $(VENV)/.installed-stamp

.PHONY: book test install system-deps mathjax lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

# Debian's Fashion-MNIST and Chromium, when running as root and they are missing.
system-deps:
	@bash scripts/install-system-deps.sh

# A local MathJax 3 (the CDN is unreachable offline), from the npm registry.
mathjax: book/_static/mathjax/tex-chtml.js

book/_static/mathjax/tex-chtml.js:
	@bash scripts/fetch-mathjax.sh book/_static/mathjax

book: install system-deps mathjax
	$(PY) -m ntkbook build --profile $(PROFILE)

test: install system-deps mathjax
	$(PY) -m ruff check ntkbook tests benchmarks book
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -ra

bench: install
	$(PY) benchmarks/bench_kernel.py

clean:
	rm -rf _build
