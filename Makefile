# notifyd: `make run` and `make test` work from a fresh Debian 12 machine.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CTEST_JOBS ?= 2
# The whole suite again under ASan+UBSan (minus browser, interop and
# packaging), and the libFuzzer targets (tests/fuzz), each in its own build
# tree.
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
TSA_BUILD ?= build-tsa
FUZZ_TEST_SECONDS ?= 20
FUZZ_SECONDS ?= 300
# Any sanitizer report fails the test that triggered it.
SANITIZER_ENV := ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# ccache hits across clones: paths under the checkout are hashed relative.
export CCACHE_BASEDIR := $(CURDIR)
# With -g, ccache hashes the working directory unless told not to; paths in
# commands are relative to CCACHE_BASEDIR, so build trees and clones share
# entries.
export CCACHE_NOHASHDIR := 1

.PHONY: all setup test-setup configure build run deb test check-threads \
  test-asan test-fuzz run-fuzz \
  fuzz clean format

all: build

setup:
	@bash scripts/setup.sh

test-setup:
	@NOTIFYD_TEST_DEPS=1 bash scripts/setup.sh
	@cd tests/browser && npm ci --no-audit --no-fund --loglevel=error

configure:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: setup configure
	@cmake --build $(BUILD)

# Starts notifyd in the foreground on its defaults (SQLite under ./var/).
run: build
	@mkdir -p var
	@bash scripts/run.sh $(BUILD)

# The Debian package (packaging/): $(BUILD)/notifyd_<version>_<arch>.deb,
# checked by lintian when it is installed (make test-setup installs it).
deb: build
	@cd $(BUILD) && cpack -G DEB
	@if command -v lintian >/dev/null; then \
	  lintian --fail-on error $(BUILD)/notifyd_*.deb; fi

test: test-setup configure
	@cmake --build $(BUILD)
	@cd $(BUILD) && ctest --output-on-failure -j $(CTEST_JOBS)
	@$(MAKE) --no-print-directory check-threads
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-fuzz

# The binaries and the benchmark tools (not the tests) once more with
# clang's thread-safety analysis: a member marked ABSL_GUARDED_BY used
# without its mutex, or a lock taken or released where the annotations say
# otherwise, fails the build. Debug (-O0): only the analysis matters here.
check-threads:
	@cmake -S . -B $(TSA_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
	  -DNOTIFYD_THREAD_SAFETY=ON >/dev/null
	@cmake --build $(TSA_BUILD) --target notifyd notifyctl benches

# Debug: the fastest to compile, and sanitizer reports point at exact lines.
test-asan:
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DNOTIFYD_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD)
	@cd $(ASAN_BUILD) && $(SANITIZER_ENV) \
	  ctest --output-on-failure -j $(CTEST_JOBS) -LE "browser|interop|packaging|web|style"

# Each fuzz target for FUZZ_TEST_SECONDS; `make fuzz` for FUZZ_SECONDS.
test-fuzz:
	@$(MAKE) --no-print-directory run-fuzz FUZZ_RUN_SECONDS=$(FUZZ_TEST_SECONDS)

fuzz: setup
	@$(MAKE) --no-print-directory run-fuzz FUZZ_RUN_SECONDS=$(FUZZ_SECONDS)

run-fuzz:
	@cmake -S tests/fuzz -B $(FUZZ_BUILD) -G Ninja \
	  -DCMAKE_CXX_COMPILER=clang++ -DFUZZ_SECONDS=$(FUZZ_RUN_SECONDS) >/dev/null
	@cmake --build $(FUZZ_BUILD)
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(CTEST_JOBS) -L fuzz

format:
	@bash scripts/format.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSA_BUILD)
