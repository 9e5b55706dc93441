# The two commands of the README, and the steps they are made of.
#   make run   — installs what is missing, builds, and runs the main job (`llmops quickstart`)
#   make test  — installs what is missing, builds, runs the whole test suite, then runs it
#                again under AddressSanitizer + UndefinedBehaviorSanitizer
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-asan run test test-fast test-asan fuzz clean

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLO_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The whole loop on generated data, ending with the deployment served on :8080 until
# Ctrl-C; QUICKSTART_ARGS adds options (e.g. --no-serve, --port 9000, --minutes 5).
run: build
	@$(BUILD)/llmops quickstart $(QUICKSTART_ARGS)

# The PostgreSQL store tests run against a throwaway local server (scripts/pg-test-server.sh);
# `url=... &&` makes a server that fails to start fail the run instead of skipping them.
test-fast: build
	@url=$$(sh scripts/pg-test-server.sh) && LLMOPS_TEST_PG=$$url ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: build-asan
	@url=$$(sh scripts/pg-test-server.sh) && LLMOPS_TEST_PG=$$url ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

test: test-fast test-asan
	@sh scripts/pg-test-server.sh stop

fuzz:
	@sh scripts/deps.sh clang
	@cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLO_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_gguf

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
