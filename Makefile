# mtasts: the two commands of the quick start, and the steps they are made of.
#   make demo   install what is missing, build, bring up the demo world, run mtasts on it
#   make test   install what is missing, build (normal + ASan/UBSan), run every test
#   make deb-check build, lint, install and purge the Debian packages (debian/)
#   make install   cmake --install the build into PREFIX (default /usr/local), under DESTDIR
# Everything else is CMake (see CMakeLists.txt); this file only strings steps together.

JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
BUILD  ?= build
ASAN   ?= build-asan
MIN    ?= build-min
CMAKE_FLAGS ?=
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps build build-asan build-min demo test test-normal test-asan test-minimal \
        valgrind fuzz-smoke check-source bench install deb-check clean

all: build

deps:
	@sh scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DMTASTS_SANITIZE=ON -DMTASTS_BENCH=OFF \
		$(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

# Without the optional backends (PostgreSQL, Redis, GMime): what does not
# need them must build and pass without them.
build-min: deps
	@cmake -S . -B $(MIN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMTASTS_BENCH=OFF \
		-DMTASTS_WITH_PG=OFF -DMTASTS_WITH_REDIS=OFF -DMTASTS_WITH_GMIME=OFF \
		$(CMAKE_FLAGS) >/dev/null
	@cmake --build $(MIN) -j $(JOBS)

# The files are listed in README.md (Installing); DESTDIR stages them for a package.
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

demo: build
	@tests/rig/rig run --demo scripts/demo $(BUILD)/mtasts

check-source: build
	@BUILD=$(BUILD) sh scripts/check-source

# Unit tests under valgrind: the library must be leak-free without ASan too.
valgrind: build
	@sh scripts/valgrind-unit $(BUILD)

fuzz-smoke: deps
	@sh scripts/fuzz-smoke

# Build the Debian packages from a clean copy, lintian, install, check, purge.
deb-check: deps
	@sh scripts/deb-check

test-normal: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-minimal: build-min
	@cd $(MIN) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

# The sanitizer run comes last so that ctest's summary closes the output.
test: build check-source build-asan
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory test-minimal
	@$(MAKE) --no-print-directory deb-check
	@$(MAKE) --no-print-directory test-normal
	@$(MAKE) --no-print-directory test-asan

bench: build
	@for b in bench/run-*.sh; do [ -f "$$b" ] && bash "$$b"; done

clean:
	rm -rf $(BUILD) $(ASAN) $(MIN) build-fuzz build-bench
