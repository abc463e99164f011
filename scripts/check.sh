#!/usr/bin/env bash
# Every build and test that CI runs (README's test command calls this after scripts/setup.sh):
#   1. g++, Release: every target, every test (the install/consumer tests included);
#   2. clang, Release: every target with -Werror, every test but the consumer ones (1 ran them);
#   3. clang with AddressSanitizer + UndefinedBehaviorSanitizer, tensors on the system allocator so
#      that ASan sees them: the library, tests and examples, every test but the consumer ones, and
#      the libFuzzer targets of the checkpoint loaders for TAPEGRAD_FUZZ_SECONDS each (30 s).
# Stops at the first failure. `scripts/check.sh gcc` (or clang, sanitize) runs one stage only.
# Build dirs: build/, build-clang/, build-sanitize/.
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# == 0)); then set -- gcc clang sanitize; fi

run() {
  echo "check: $*"
  "$@"
}

for stage in "$@"; do
  started=$SECONDS
  case "$stage" in
    gcc)
      run cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++
      run cmake --build build -j2
      run ctest --test-dir build --output-on-failure -j2
      ;;
    clang)
      run cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++
      run cmake --build build-clang -j2
      run ctest --test-dir build-clang --output-on-failure -j2 -LE consumer
      ;;
    sanitize)
      # -gline-tables-only: file and line in sanitizer reports at little build cost. Benchmarks
      # are left out: they time things and test nothing.
      run cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_CXX_FLAGS=-gline-tables-only -DTAPEGRAD_SANITIZE=address,undefined \
        -DTAPEGRAD_BUILD_FUZZERS=ON -DTAPEGRAD_BUILD_BENCH=OFF
      run cmake --build build-sanitize -j2
      # allocator_may_return_null: a test asks for 2^47 bytes and expects tapegrad's
      # OutOfMemoryError, which ASan's allocator would otherwise turn into an abort.
      run env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-sanitize --output-on-failure -j2 -LE consumer
      ;;
    *)
      echo "check: unknown stage '$stage' (gcc, clang, sanitize)" >&2
      exit 2
      ;;
  esac
  echo "check: stage $stage passed in $((SECONDS - started)) s"
done
