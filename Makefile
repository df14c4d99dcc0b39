# dpdk-vsock: the two commands (make run, make test) and their helpers.
# Each target does its own set-up (packages, hugepages) through
# scripts/setup.sh, which is idempotent.

BUILD ?= build
EAL ?= -l 0-1 --in-memory --no-pci --log-level=lib.eal:warning
TESTPMD = $(BUILD)/apps/vsock-testpmd/vsock-testpmd
PYTEST_ARGS ?=
# Debian's interpreter, where setup.sh installs python3-pytest.
PYTHON ?= /usr/bin/python3

.PHONY: all setup build run test test-unit test-py clean

all: build

setup:
	bash scripts/setup.sh

build: setup
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)

# The main job: verify, then ping-pong, over the in-process loopback device.
run: build
	$(TESTPMD) $(EAL) -- --dev loopback --mode verify --conns 100 \
		--size 1-262144 --duration 3
	$(TESTPMD) $(EAL) -- --dev loopback --mode pingpong --size 64 \
		--duration 3

test-unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

test-py: build
	VSOCK_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -v -rs \
		$(PYTEST_ARGS) tests/pytest

# Unit tests first, then pytest, whose summary line ends the output.
test: build
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-py

clean:
	rm -rf $(BUILD)
