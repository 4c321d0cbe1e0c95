#!/usr/bin/env bash
# fuzz.sh [SECONDS] - builds the libFuzzer targets (clang, ASan + UBSan) in
# build-fuzz and runs each fuzz/fuzz-NAME.c for SECONDS (default 30) on a
# copy of its seed corpus fuzz/corpus/NAME/ (grown copies stay in
# fuzz/corpus-work/, crash inputs in build-fuzz/artifacts/), with the
# dictionary fuzz/NAME.dict when there is one.  Prints execs/s
# and corpus size per target; exits non-zero on any crash, leak, timeout or
# out-of-memory.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-30}"
BUILD=build-fuzz

if ! command -v clang >/dev/null; then
    echo "fuzz.sh: clang is needed (apt-get install clang libclang-rt-dev libomp-dev)" >&2
    exit 1
fi
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DANOMEM_FUZZ=ON -DANOMEM_TESTS=OFF >/dev/null
targets=()
for src in fuzz/fuzz-*.c; do
    targets+=("$(basename "$src" .c)")
done
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}"

mkdir -p "$BUILD/artifacts" fuzz/corpus-work
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
failed=0
summary=""
for t in "${targets[@]}"; do
    name="${t#fuzz-}"
    work="fuzz/corpus-work/$name"
    mkdir -p "$work"
    if [ -d "fuzz/corpus/$name" ]; then cp -n fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true; fi
    dict=()
    if [ -f "fuzz/$name.dict" ]; then dict=(-dict="fuzz/$name.dict"); fi
    log="$BUILD/$t.log"
    echo "== $t: ${SECONDS_PER_TARGET}s"
    status=0
    "$BUILD/$t" "$work" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" \
        "${dict[@]}" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    files=$(find "$work" -type f | wc -l)
    bytes=$(du -sb "$work" | cut -f1)
    line=$(printf '%-22s %10s execs %8s execs/s  corpus %5d files %9d bytes' \
        "$t" "${execs:-?}" "${rate:-?}" "$files" "$bytes")
    if [ "$status" -ne 0 ]; then
        line="$line  FAILED (exit $status, log $log)"
        failed=1
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -20 >&2 || true
    fi
    echo "$line"
    summary="$summary$line"$'\n'
done
echo "== fuzz summary"
printf '%s' "$summary"
exit "$failed"
