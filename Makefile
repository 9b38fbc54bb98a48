# notifyd: `make run` and `make test` work from a fresh Debian 12 machine.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CTEST_JOBS ?= 2
# ccache hits across clones: paths under the checkout are hashed relative.
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all setup test-setup configure build run test clean format

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

test: test-setup configure
	@cmake --build $(BUILD)
	@cd $(BUILD) && ctest --output-on-failure -j $(CTEST_JOBS)

format:
	@find server storage edge tools tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
