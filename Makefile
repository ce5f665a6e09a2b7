# Japan–Korea Joint R&D Fund: `make run` starts everything, `make test` checks everything.
SHELL := /bin/bash
# The virtualenv's interpreter: a CPython 3.11 built with profile-guided and link-time
# optimisation, as the production image's (python:3.11-slim) is. Debian's
# /usr/bin/python3.11 is one (with python3.11-venv installed); a plain source build, such
# as pyenv's default, runs the same Python ~20 % slower (bench/README.md). Otherwise
# python3; `make PYTHON=… install` (after `make clean`) chooses another.
PYTHON ?= $(shell /usr/bin/python3.11 -c "import ensurepip" >/dev/null 2>&1 \
	&& echo /usr/bin/python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)

.PHONY: install run test lint typecheck pytest messages compilemessages browser-deps clean bench bench-quick

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium drives the browser tests; never a downloaded browser.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "Installing Debian chromium for the browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi
	@# Japanese and Korean glyphs: the browser sweep measures and photographs real text.
	@if ! fc-list :lang=ja | grep -q .; then \
		echo "Installing Debian's Noto CJK fonts for the browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null; \
	fi

# Regenerate the catalogues after changing strings; translate, then `make compilemessages`.
messages: install
	$(BIN)/python manage.py makemessages -l ja -l ko --no-obsolete --ignore=.venv --ignore=var --ignore=tests --ignore=bench --ignore=node_modules
	$(BIN)/python manage.py makemessages -d djangojs -l ja -l ko --no-obsolete --ignore=.venv --ignore=var --ignore=node_modules --ignore=static/vendor

compilemessages: install
	@if compgen -G "locale/*/LC_MESSAGES/*.po" >/dev/null; then \
		$(BIN)/python manage.py compilemessages --ignore=.venv --ignore=var >/dev/null; fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

typecheck: install
	$(BIN)/mypy fundapp projects ip_licensing mobility tests bench

# In parallel, one pytest-xdist worker per core (at most 4); each worker has a test database
# and a Redis database of its own (fundapp/settings.py). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= auto
pytest: install browser-deps
	$(BIN)/python -m fundapp.testenv $(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: install browser-deps compilemessages lint typecheck pytest

run: install
	$(BIN)/python -m fundapp.runstack

# §19 benchmarks on a database of their own (jkfund_bench, dropped afterwards); not part of
# `make test`. BENCH_ARGS passes options, e.g. BENCH_ARGS="--only gates --repeat 5".
bench: install
	$(BIN)/python -m fundapp.testenv $(BIN)/python -m bench --scale 1.0 $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m fundapp.testenv $(BIN)/python -m bench --scale 0.1 $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/static
