# `make run` and `make test` install whatever is missing first (Debian packages
# with apt, Python packages into .venv), so both work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8080

# What serving needs, and what the whole test suite needs on top.
RUN_PACKAGES := iputils-ping traceroute mtr-tiny iputils-tracepath
TEST_PACKAGES := $(RUN_PACKAGES) nginx-light redis-server chromium nftables iproute2 \
	procps util-linux systemd fonts-dejavu-core wrk strace valgrind
# axe-core, which the browser tests run inside the page, from npm (its lock file pins it).
AXE_DIR := tests/browser/axe

.PHONY: run test test-lowest lint bench profile fuzz soak deps test-deps system-run-deps system-test-deps system-node-deps \
	clean

# ALLOW: networks this server may probe besides the public internet, e.g.
# `make run ALLOW=127.0.0.0/8` to try the page against this machine (never on a public deployment).
ALLOW ?=
run: deps
	$(if $(ALLOW),WEBTRACE_ALLOW_NETWORKS=$(ALLOW)) $(PY) -m webtrace --host $(HOST) --port $(PORT)

test: test-deps lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Style, types and the house's shape (setup.cfg's import contracts): part of
# make test, so CI refuses what they refuse. Needs only the virtual environment.
lint: $(VENV)/.installed
	$(PY) -m flake8 webtrace tests benchmarks
	$(PY) -m mypy webtrace benchmarks tests
	$(VENV)/bin/lint-imports

# The unit and service tests against the lowest versions setup.cfg allows for
# webtrace's own dependencies (.ci/floors.py pins each to its floor), so that
# the floors are versions it really runs on. CI runs it after make test.
LOWEST_VENV ?= .venv-lowest
UNIT_AND_SERVICE := tests --ignore=tests/browser --ignore=tests/netlab --ignore=tests/edge \
	--ignore=tests/deploy --ignore=tests/test_packaging.py --ignore=tests/test_benchmarks.py \
	--ignore=tests/test_soak.py --ignore=tests/test_fuzz.py
test-lowest: system-test-deps
	rm -rf $(LOWEST_VENV)
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(PYTHON) .ci/floors.py setup.cfg > $(LOWEST_VENV)/floors.txt
	$(LOWEST_VENV)/bin/python -m pip install -q -c $(LOWEST_VENV)/floors.txt -e '.[test]'
	$(LOWEST_VENV)/bin/python -m pytest $(UNIT_AND_SERVICE) $(PYTEST_ARGS)

bench: test-deps
	$(PY) -m benchmarks $(BENCH_ARGS)

# Where a crowd's CPU goes: py-spy samples the server through two crowd scenarios and a
# front relaying a crowd's runs from two nodes, and writes the stacks and their top costs under benchmarks/results/ (profile-*.txt).
profile: test-deps
	$(PY) -m benchmarks.profile $(PROFILE_ARGS)

# schemathesis against a real server for longer than make test does (its
# tests/test_fuzz.py tries 150 requests an operation; this, FUZZ_EXAMPLES).
FUZZ_EXAMPLES ?= 3000
fuzz: test-deps
	WEBTRACE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/test_fuzz.py $(PYTEST_ARGS)

# Mixed load for SOAK_S seconds, failing if anything grows (make test soaks 60 s).
SOAK_S ?= 600
soak: test-deps
	$(PY) -m benchmarks.soak --duration $(SOAK_S) $(SOAK_ARGS)

# Serving needs webtrace alone; the tests and benchmarks add their own tools (make test).
deps: system-run-deps $(VENV)/.served

test-deps: system-test-deps system-node-deps $(VENV)/.installed $(AXE_DIR)/node_modules/.installed

system-run-deps:
	@$(call apt_install,$(RUN_PACKAGES))

system-test-deps:
	@$(call apt_install,$(TEST_PACKAGES))

# Node.js with npm, for axe-core: Debian's (nodejs and npm) unless an npm is there already
# (NodeSource's nodejs carries its own npm, and conflicts with Debian's npm package).
system-node-deps:
	@if command -v npm >/dev/null; then :; else $(call apt_install,nodejs npm); fi

# Installs only the packages dpkg does not already know as installed; python3-venv
# too when this python cannot make a virtual environment.
define apt_install
	missing=""; \
	for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv python3-pip"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

$(VENV)/.served: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@ $(VENV)/.served

$(AXE_DIR)/node_modules/.installed: $(AXE_DIR)/package.json $(AXE_DIR)/package-lock.json
	npm ci --prefix $(AXE_DIR) --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) $(LOWEST_VENV) build dist *.egg-info artifacts .pytest_cache $(AXE_DIR)/node_modules
