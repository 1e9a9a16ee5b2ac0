#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is needed, check formatting,
# build with -Wall -Wextra -Werror and run every test, then build again with AddressSanitizer +
# UndefinedBehaviorSanitizer and run every test a second time, then the threads under
# ThreadSanitizer, then each fuzz target briefly (libFuzzer through clang), then the Debian
# package. Each stage prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
t_all=$SECONDS
t_stage=$SECONDS
stage() { # the time of the stage that ended, then the next one's name
    [ -n "${stage_name:-}" ] && echo "== $stage_name: $((SECONDS - t_stage)) s"
    stage_name=$1 t_stage=$SECONDS
    [ -n "$1" ] && echo "== $1"
    return 0
}
stage "install what the tests need"
bash scripts/install-deps.sh --tests

stage "formatting (clang-format)"
# the project's own sources (not what npm put under tests/*/node_modules)
files=$(git ls-files '*.c' '*.h' 2>/dev/null ||
        find src tools tests include examples fuzz bench -name '*.[ch]' -not -path '*/node_modules/*')
clang-format --dry-run --Werror $files

jobs=$(nproc)
stage "build and test (-Werror)"
bash scripts/build.sh build -DBUILD_TESTING=ON
(cd build && ctest --output-on-failure -j"$jobs")

stage "build and test under ASan + UBSan"
bash scripts/build.sh build-asan -DBUILD_TESTING=ON -DZF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs")

stage "ThreadSanitizer: the loader's threads beside the compute, a reader failing mid-run"
bash scripts/build.sh build-tsan -DZF_TSAN=ON -DBUILD_TESTING=OFF
/usr/bin/python3 tests/tsan_check.py build-tsan/zfnet build-tsan/work

stage "fuzzing, briefly: each target 10 s from its seeds (scripts/fuzz.sh 600 for a long run)"
bash scripts/fuzz.sh 10

stage "the Debian package: built, its files, the CLI, man pages and completion from it"
bash scripts/package.sh
bash tests/install/deb_contents.sh build-deb/zfnet_*.deb build-deb/contents
if [ "${ZF_DEB_CHECK:-0}" = 1 ]; then # apt-get install in a clean Debian 12 chroot (root)
    bash tests/install/deb_check.sh build-deb/zfnet_*.deb
fi
stage ""
echo "all tests passed (plain and sanitized builds, fuzz targets, the package) in $((SECONDS - t_all)) s"
