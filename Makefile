# dpdk-vsock: the two commands (make run, make test) and their helpers.
# make run, make test and make bench* do their own set-up (packages,
# hugepages) through scripts/setup.sh run|test|bench, which is idempotent;
# make build, make install and make doc install nothing: they name what
# is missing (scripts/check-deps.sh).

BUILD ?= build
BUILD_SAN ?= build-sanitize
BUILD_FUZZ ?= build-fuzz
# What make install installs: a build with the default options, so without
# the driver's test hooks (fault injection, virtio_vsock_inject_event),
# which make test's builds above need (-Dtest_hooks=true).
BUILD_INSTALL ?= build-install
# make bench*: this CPU's instruction set (-Dcpu_instruction_set=native),
# apart from make test's portable build.
BUILD_NATIVE ?= build-native
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 2
FUZZ_RUNS ?= 0
FUZZ_TARGETS ?=
EAL ?= -l 0-1 --in-memory --no-pci --log-level=lib.eal:warning
TESTPMD = $(BUILD)/apps/vsock-testpmd
PYTEST_ARGS ?=
# Debian's interpreter, where setup.sh installs python3-pytest.
PYTHON ?= /usr/bin/python3

.PHONY: all setup build build-test build-sanitize build-native \
	run test test-unit test-py test-vm test-long test-sanitize clean bench bench-quick \
	bench-compare build-fuzz fuzz test-fuzz soak doc install test-trixie \
	deb

all: build

# make test's set-up (make run and make bench* do their own).
setup:
	@bash scripts/setup.sh test

# make test's builds carry the test hooks, and BUILD the tests and the
# microbenchmarks too; a build directory configured without them (by
# make build, or before an option existed) is reconfigured.
HOOKS = -Dtest_hooks=true
FULL = -Dtests=true -Dperf=true
# What make build and make install need no more than setup.sh run for.
LIGHT = -Dtests=false -Dperf=false
# $(call opts_on,DIR,-Dname=value...): reconfigure DIR with the options
# unless it holds each already.
opts_on = for o in $(2); do o=$${o\#-D}; \
	meson configure $(1) | grep -Eq "^ *$${o%%=*} +$${o\#*=}( |$$)" || \
	{ meson setup --reconfigure $(1) $(2) >/dev/null; break; }; done

# The libraries and apps (no tests, no microbenchmarks) in a new BUILD;
# one make test configured keeps its options.
build:
	@bash scripts/check-deps.sh run
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) $(HOOKS) $(LIGHT)
	@$(call opts_on,$(BUILD),$(HOOKS))
	ninja -C $(BUILD)

build-test: setup
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) $(HOOKS) $(FULL)
	@$(call opts_on,$(BUILD),$(HOOKS) $(FULL))
	ninja -C $(BUILD)

# The same code with AddressSanitizer and UndefinedBehaviorSanitizer.
build-sanitize: setup
	@[ -f $(BUILD_SAN)/build.ninja ] || meson setup $(BUILD_SAN) \
		-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
		$(HOOKS)
	@$(call opts_on,$(BUILD_SAN),$(HOOKS))
	ninja -C $(BUILD_SAN)

# libFuzzer targets (tests/fuzz): clang, ASan and UBSan, the fuzz
# executables only.
build-fuzz: setup
	@[ -f $(BUILD_FUZZ)/build.ninja ] || CC=clang CXX=clang++ meson setup \
		$(BUILD_FUZZ) -Dbuildtype=debugoptimized -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true \
		$(HOOKS)
	@$(call opts_on,$(BUILD_FUZZ),$(HOOKS))
	ninja -C $(BUILD_FUZZ) $(addprefix tests/fuzz/fuzz_,rx_device \
		stack_input vhost_user_reply dev_spec vsockd_app)

# Each target FUZZ_SECONDS from the checked-in seeds, after its
# regressions; non-zero on any finding. Prints execs and coverage.
# A campaign: FUZZ_RUNS=10000000 (inputs per target) with FUZZ_SECONDS
# as its bound; FUZZ_TARGETS picks targets (all five by default).
fuzz: build-fuzz
	$(SAN_ENV) $(PYTHON) tests/fuzz/run_fuzz.py --build $(BUILD_FUZZ) \
		--seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) \
		--runs $(FUZZ_RUNS) $(FUZZ_TARGETS)

test-fuzz:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

# The main job: verify, then ping-pong, over the in-process loopback
# device; set-up for this alone (setup.sh run), then make build.
run:
	@bash scripts/setup.sh run
	@$(MAKE) --no-print-directory build
	$(TESTPMD) $(EAL) -- --dev loopback --mode verify --conns 100 \
		--size 1-262144 --duration 3
	$(TESTPMD) $(EAL) -- --dev loopback --mode pingpong --size 64 \
		--duration 3

test-unit: build-test
	meson test -C $(BUILD) --print-errorlogs

# --durations: where a run's time went (its slowest tests, before the
# summary line).
test-py: build-test
	VSOCK_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -v -rs \
		--durations=25 $(PYTEST_ARGS) tests/pytest

SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# Unit, in-process and cross-process tests on the sanitizer build (the
# guests run once, on the normal build); any report fails them.
test-sanitize: build-sanitize
	$(SAN_ENV) meson test -C $(BUILD_SAN) --print-errorlogs
	$(SAN_ENV) VSOCK_BUILD=$(abspath $(BUILD_SAN)) $(PYTHON) -m pytest \
		-q -m "not vm" --durations=15 $(PYTEST_ARGS) tests/pytest

# The QEMU guest suites (pytest -m vm) on the normal build: make test
# runs every other pytest module once, under the sanitizers. Those
# marked long (more minutes than make test can spare) run in test-long.
test-vm: build-test
	VSOCK_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -v -rs \
		--durations=25 -m "vm and not long" $(PYTEST_ARGS) tests/pytest

test-long: build-test
	VSOCK_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -v -rs \
		--durations=25 -m long $(PYTEST_ARGS) tests/pytest

# Sanitizer run (every pytest module but the guests'), fuzzers, unit
# tests, Debian 13 (DPDK 24.11 and the packages), then the guest suites
# with pytest's summary line. Each step says how long it took.
step = @t=$$(date +%s); $(MAKE) --no-print-directory $(1) && \
	echo "make test: $(1) took $$(($$(date +%s) - t)) s"
test: build-test build-sanitize
	$(call step,test-sanitize)
	$(call step,test-fuzz)
	$(call step,test-unit)
	$(call step,test-trixie)
	$(call step,test-vm)

# The same code against Debian 13's DPDK 24.11, in a Debian 13 root made
# once by mmdebstrap (cached in .cache/trixie-root): build-trixie, the
# unit and stack suites, the pytest modules that need no guest; then
# make deb there, and its packages installed and run in a clean root.
test-trixie: setup
	bash scripts/test-trixie.sh

# Debian packages of this tree, for the DPDK installed here, into
# build-deb/ (debian/, scripts/make-deb.sh); lintian warnings fail it.
# Installs nothing: make test builds them in its Debian 13 root.
deb:
	bash scripts/make-deb.sh

# The benchmark suite against its peers (perf/bench.py): perf/results/.
# The cold-source rows take two patterns larger than the LLC (up to 1 GiB
# each) beside the pools: 3 GiB of hugepages.
BENCH_HUGEPAGES_MB ?= 3072
# Default options but the instruction set: the preload rows run in
# tests/guard's vsock-guard.
build-native:
	@HUGEPAGES_MB=$(BENCH_HUGEPAGES_MB) bash scripts/setup.sh bench
	@[ -f $(BUILD_NATIVE)/build.ninja ] || meson setup $(BUILD_NATIVE) \
		-Dcpu_instruction_set=native
	ninja -C $(BUILD_NATIVE)

bench: build-native
	$(PYTHON) perf/bench.py --build $(abspath $(BUILD_NATIVE))

bench-quick: build-native
	$(PYTHON) perf/bench.py --quick --build $(abspath $(BUILD_NATIVE))

# Every target for this tree and for REV (built in a git worktree under
# .bench-baseline/), interleaved in one quick run: ours/baseline per row.
# perf/bench_procs.py configures REV with its default options; CFLAGS
# and CXXFLAGS, which meson puts after the project's -march, give it
# ours' instruction set. A baseline configured before keeps its flags.
REV ?= HEAD~1
bench-compare: build-native
	CFLAGS=-march=native CXXFLAGS=-march=native $(PYTHON) perf/bench.py \
		--quick --baseline $(REV) --build $(abspath $(BUILD_NATIVE))

# 10 GB over 1,000 connections through the bridge's echo, every byte and
# digest checked, the bridge killed every 2 s (make test runs --quick).
soak: build-test
	$(PYTHON) perf/soak.py --build $(abspath $(BUILD))

# The libraries, their public headers and libdpdk-vsock.pc under the
# build's prefix (/usr/local unless PREFIX=... is given); DESTDIR=...
# stages them. Built in BUILD_INSTALL with the default options: no test
# hooks in what is installed. examples/hello_vsock builds on what this installs.
install:
	@bash scripts/check-deps.sh run
	@[ -f $(BUILD_INSTALL)/build.ninja ] || meson setup $(BUILD_INSTALL) \
		$(LIGHT)
	$(if $(PREFIX),meson configure $(BUILD_INSTALL) -Dprefix=$(PREFIX))
	ninja -C $(BUILD_INSTALL)
	meson install -C $(BUILD_INSTALL) --no-rebuild \
		$(if $(DESTDIR),--destdir $(abspath $(DESTDIR)))

# API documentation of the public headers into $(BUILD)/doc/html (doxygen,
# doc/Doxyfile); any warning fails it. pytest runs it too (test_doc.py).
doc:
	@bash scripts/check-deps.sh doc
	@mkdir -p $(BUILD)/doc
	(cat doc/Doxyfile; echo "OUTPUT_DIRECTORY = $(BUILD)/doc") | doxygen -
	@echo "doc: $(BUILD)/doc/html/index.html"

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ) $(BUILD_INSTALL) \
		$(BUILD_NATIVE) build-trixie build-deb build-deb-trixie \
		.bench-baseline
	git worktree prune
