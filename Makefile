# PharmaTrace — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VAR ?= var
HOST ?= 127.0.0.1
PORT ?= 8000
VENDOR := src/pharmatrace/web/static/vendor
export PHARMATRACE_VAR ?= $(abspath $(VAR))
# Python writes its compiled modules (__pycache__, ignored by git) even where the environment says not to: otherwise
# every test worker, template build and command-line subprocess compiles the whole package again (12 s each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test setup assets browser fonts lint typecheck pytest validation-report bench i18n clean

## make demo: set everything up, migrate and seed the SQLite demo plant, serve http://127.0.0.1:8000
demo: setup fonts
	$(BIN)/pharmatrace demo seed
	$(BIN)/pharmatrace serve --host $(HOST) --port $(PORT) --demo-scales --demo-simulators --collect

## make test: set everything up, run ruff, mypy --strict and the whole pytest suite (SQLite + PostgreSQL),
## then write the validation report (var/compliance/report/index.html)
test: setup browser lint typecheck pytest validation-report

setup: $(VENV)/.installed assets

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

assets: $(VENDOR)/.installed

# Front-end assets come from the npm registry and are served locally (the plant network is air-gapped).
$(VENDOR)/.installed: package.json
	npm install --no-audit --no-fund --silent
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/echarts.min.js
	touch $@

# Debian's Chromium drives the Playwright tests (Playwright's own browser download is not possible offline).
# fonts-noto-cjk is also the Chinese font the audit-trail PDF reports embed.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then \
	  echo "installing Debian chromium + CJK fonts for the browser tests and PDF reports"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

# The Chinese font embedded in printed PDF reports (the audit trail export); `make demo` needs it too.
fonts:
	@if [ ! -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] && [ -z "$$PHARMATRACE_PDF_FONT" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian fonts-noto-cjk for PDF reports"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; \
	  else echo "WARNING: no CJK font; PDF exports will refuse until fonts-noto-cjk is installed"; fi; \
	fi

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck:
	$(BIN)/mypy --strict src

# Three worker processes (pytest-xdist) on two cores: much of a test's time is spent waiting on PostgreSQL's
# disk writes, Chromium and devices, and a third process fills those waits (ADR 0003, addendum 2026-11-30).
# PYTEST_ARGS= runs it in one process. The 40 slowest set-ups and calls are printed at the end: where the
# 15 minutes go, in every CI log.
PYTEST_ARGS ?= -n 3 --durations=40

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

# The compliance matrix and validation report from the run pytest just recorded (docs/guide/validation.md).
validation-report:
	$(BIN)/pharmatrace compliance report --out $(VAR)/compliance/report

bench: setup
	PYTHONPATH=. $(BIN)/python -m bench
	PYTHONPATH=. $(BIN)/python -m bench.stock
	PYTHONPATH=. $(BIN)/python -m bench.ebr
	PYTHONPATH=. $(BIN)/python -m bench.trace
	PYTHONPATH=. $(BIN)/python -m bench.historian_layouts

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .mypy_cache .ruff_cache .pytest_cache

## make i18n: re-extract messages and merge them into the catalogues (then translate the new entries)
i18n: setup
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --omit-header -o src/pharmatrace/web/locale/messages.pot src
	$(BIN)/pybabel update --no-fuzzy-matching --omit-header -l zh_CN -d src/pharmatrace/web/locale -i src/pharmatrace/web/locale/messages.pot
