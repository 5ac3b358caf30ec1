# The two commands a newcomer types: `make run` and `make test`. Both set up everything first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the test suite drives for real: promtool, headless Chromium, iproute2 for the lab,
# Java for the Nu HTML checker.
TEST_DEBS := prometheus chromium iproute2 procps shellcheck default-jre-headless strace
BENCH_DEBS := fping nginx wrk iproute2 procps

.PHONY: run test bench setup debian-test debian-bench clean

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

run: $(STAMP)
	$(BIN)/nettrace run

test: $(STAMP) debian-test
	$(BIN)/python -m pytest

bench: $(STAMP) debian-bench
	$(BIN)/python bench/collector.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/proxy.py

clean:
	rm -rf $(VENV) public private .nettrace
