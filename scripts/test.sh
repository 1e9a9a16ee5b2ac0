#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is needed, check formatting,
# build with -Wall -Wextra -Werror and run every test, then build again with AddressSanitizer +
# UndefinedBehaviorSanitizer and run every test a second time, then the threads under
# ThreadSanitizer, then each fuzz target briefly (libFuzzer through clang).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests

echo "== formatting (clang-format)"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src tools tests include -name '*.[ch]')
clang-format --dry-run --Werror $files

jobs=$(nproc)
echo "== build and test (-Werror)"
bash scripts/build.sh build -DBUILD_TESTING=ON
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build and test under ASan + UBSan"
bash scripts/build.sh build-asan -DBUILD_TESTING=ON -DZF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs")
echo "== ThreadSanitizer: the loader's threads beside the compute, a reader failing mid-run"
bash scripts/build.sh build-tsan -DZF_TSAN=ON -DBUILD_TESTING=OFF
/usr/bin/python3 tests/tsan_check.py build-tsan/zfnet build-tsan/work

echo "== fuzzing, briefly: each target 10 s from its seeds (scripts/fuzz.sh 600 for a long run)"
bash scripts/fuzz.sh 10
echo "all tests passed (plain and sanitized builds, fuzz targets)"
