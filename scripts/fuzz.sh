#!/usr/bin/env bash
# Fuzz every parser a user can feed (fuzz/: model files, safetensors checkpoints, training
# states, IDX, CIFAR, shards, JPEG/PNG through the image-folder reader) with libFuzzer, ASan
# and UBSan.
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (60); all targets by default
# Builds build-fuzz with clang (-DZF_FUZZ=ON), makes the seed corpora with the project's own
# tools (fuzz/make_corpus.py), then runs each target on build-fuzz/corpus/TARGET (the seeds
# and what earlier runs found) and fuzz/regress/TARGET (inputs that once failed). Exits
# non-zero if any target crashed, leaked, timed out or ran out of memory; the input that did
# is in build-fuzz/crashes/TARGET/ (keep it in fuzz/regress/TARGET/ once fixed). A table of
# executions, coverage and corpus sizes goes to stdout and build-fuzz/fuzz-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model safetensors state idx cifar shard image onnx serve)
dir=build-fuzz
CC=clang cmake -S . -B $dir -G Ninja -DZF_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C $dir >/dev/null
missing=0
for t in "${targets[@]}"; do [ -d $dir/corpus/$t ] || missing=1; done
if [ $missing -eq 1 ]; then
    echo "== seed corpora"
    ASAN_OPTIONS=detect_leaks=0 /usr/bin/python3 fuzz/make_corpus.py $dir/zfnet $dir/corpus
fi
summary=$dir/fuzz-summary.txt
printf '%-12s %8s %10s %9s %7s %7s  %s\n' target seconds executions coverage features corpus \
    result | tee $summary
failed=0
for t in "${targets[@]}"; do
    mkdir -p $dir/crashes/$t fuzz/regress/$t
    log=$dir/fuzz-$t.log
    rc=0
    # -rss_limit_mb also bounds any single allocation: a file that makes us allocate 2 GB fails
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        $dir/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix=$dir/crashes/$t/ \
        $dir/corpus/$t fuzz/regress/$t >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    corp=$(ls $dir/corpus/$t | wc -l)
    result=ok
    if [ $rc -ne 0 ]; then
        result="FAILED (rc $rc): $(grep -m1 -E 'ERROR|SUMMARY|runtime error' "$log" || true)"
        failed=1
    fi
    printf '%-12s %8s %10s %9s %7s %7s  %s\n' "$t" "$secs" "${execs:-?}" "${cov:-?}" \
        "${ft:-?}" "$corp" "$result" | tee -a $summary
done
[ $failed -eq 0 ] || { echo "fuzz: failures above; logs in $dir/fuzz-*.log" >&2; exit 1; }
echo "fuzz: no crash, leak, timeout or out-of-memory in ${#targets[@]} target(s)"
