# The two commands a newcomer types: `make run` and `make test`. Both set up everything first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the test suite drives for real: promtool, headless Chromium, iproute2 for the lab,
# Java for the Nu HTML checker.
TEST_DEBS := prometheus chromium iproute2 procps shellcheck default-jre-headless strace
BENCH_DEBS := fping nginx wrk iproute2 procps
# npm tools the tests drive, pinned; reinstalled when this list changes (the stamp holds it).
# No install scripts: vnu-jar's would download a JRE (the tests use Debian's).
NPM_TOOLS := @redocly/cli@2.77.0 vnu-jar@26.9.27
NPM_DIR := .cache/npm
NPM_STAMP := $(NPM_DIR)/.installed

.PHONY: run test bench setup debian-test debian-bench npm-test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(STAMP)

debian-test:
	@tools/debian_deps.sh $(TEST_DEBS)

debian-bench:
	@tools/debian_deps.sh $(BENCH_DEBS)

npm-test:
	@if ! command -v npm >/dev/null; then \
	  echo "npm-test: no npm, not installing $(NPM_TOOLS) (tests that need them will skip)" >&2; \
	elif [ "$$(cat $(NPM_STAMP) 2>/dev/null)" != "$(NPM_TOOLS)" ]; then \
	  npm install --prefix $(NPM_DIR) --save-exact --no-audit --no-fund --ignore-scripts --loglevel=error $(NPM_TOOLS) \
	    && echo "$(NPM_TOOLS)" > $(NPM_STAMP); \
	fi

run: $(STAMP)
	$(BIN)/nettrace run

test: $(STAMP) debian-test npm-test
	$(BIN)/python -m pytest

bench: $(STAMP) debian-bench
	$(BIN)/python bench/collector.py
	$(BIN)/python bench/lab_rounds.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/central.py
	$(BIN)/python bench/proxy.py
	$(BIN)/python bench/disk.py

clean:
	rm -rf $(VENV) public private .nettrace .cache
