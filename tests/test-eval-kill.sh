#!/usr/bin/env bash
# test-eval-kill.sh - no lost work: `anomem eval` killed with SIGKILL after
# its first category leaves only complete files under their final names
# (partial output exists only under hidden temporary .*.tmp.* names); a rerun
# removes those, resumes and produces the same final files as an uninterrupted
# run.  SIGINT stops
# cleanly at the next image with exit status 130.
set -u
cli=${ANOMEM_CLI:-./anomem}
shared=${ANOMEM_SHARED:-../shared}
clip=$shared/vectors/clip-tiny/model.safetensors
tmp=$(mktemp -d /tmp/anomem-kill-XXXXXX)
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

"$cli" synth --out "$tmp/data" --seed 4 --train 2 --good 6 --per-defect 3 --size 160 >/dev/null || bad synth
run_eval() { "$cli" eval --root "$tmp/data" --shots 1 --clip "$clip" --out "$1" >"$1.log" 2>&1; }

run_eval "$tmp/ref" && ok || bad "uninterrupted eval"

# kill -9 as soon as the first category is finished
"$cli" eval --root "$tmp/data" --shots 1 --clip "$clip" --out "$tmp/k" >"$tmp/first.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    [ -f "$tmp/k/bars/result.json" ] && break
    sleep 0.01
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [ -f "$tmp/k/metrics.json" ]; then bad "eval finished before it could be killed"; else ok; fi
# every file under a final name is complete: JSON ends with its closing
# brace, CSV with a newline, HTML with its closing tag
# nothing partial is visible: every temporary name is hidden
visible=$(find "$tmp/k" -name '*.tmp.*' ! -name '.*' | wc -l)
[ "$visible" -eq 0 ] && ok || bad "$visible visible temporary files"
for f in $(find "$tmp/k" -type f ! -name '.*.tmp.*'); do
    case "$f" in
        *.json) if [ "$(tail -c 1 "$f")" = '}' ]; then ok; else bad "partial $f"; fi ;;
        *.html) if tail -c 20 "$f" | grep -q '</html>'; then ok; else bad "partial $f"; fi ;;
        *.csv) if [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" = '\n' ]; then ok; else bad "partial $f"; fi ;;
    esac
done
# what a killed writer leaves behind (the killed eval's pid no longer runs) is
# removed by the rerun; a temporary file of a running process (this shell) stays
printf 'partial' >"$tmp/k/bars/.result.json.tmp.$pid.7"
printf 'partial' >"$tmp/k/.metrics.json.tmp.$pid.8"
printf 'busy' >"$tmp/k/.metrics.json.tmp.$$.9"
run_eval "$tmp/k" && ok || bad "resumed eval"
stale=$(find "$tmp/k" -name ".*.tmp.$pid.*" | wc -l)
[ "$stale" -eq 0 ] && ok || bad "$stale stale temporary files left after the rerun"
[ -f "$tmp/k/.metrics.json.tmp.$$.9" ] && ok || bad "a running writer's temporary file was removed"
rm -f "$tmp/k/.metrics.json.tmp.$$.9"
grep -q "^bars 1/" "$tmp/first.log" && ok || bad "the killed run scored bars"
for f in metrics.json metrics.csv metrics.md scores.csv report.html bars/result.json pills/result.json washers/result.json; do
    if cmp -s "$tmp/ref/$f" "$tmp/k/$f"; then ok; else bad "resumed $f differs from the uninterrupted run"; fi
done
# the resumed run did not recompute the finished category, only the others
! grep -q "^bars 1/" "$tmp/k.log" && ok || bad "resumed run recomputed bars"
grep -q "^pills 1/" "$tmp/k.log" && ok || bad "resumed run scored pills"

# a finished category whose result.json was damaged (a count that is no
# number) is computed again, not trusted; the final files are the same
sed -i 's/"normal": *[0-9]*/"normal": "many"/' "$tmp/k/pills/result.json"
grep -q '"normal": "many"' "$tmp/k/pills/result.json" && ok || bad "damaging pills/result.json"
run_eval "$tmp/k" && ok || bad "eval over a damaged result.json"
grep -q "^pills 1/" "$tmp/k.log" && ok || bad "damaged pills/result.json was trusted"
! grep -q "^bars 1/" "$tmp/k.log" && ok || bad "an intact category was recomputed"
for f in metrics.json metrics.csv report.html pills/result.json; do
    if cmp -s "$tmp/ref/$f" "$tmp/k/$f"; then ok; else bad "$f after recomputing pills differs"; fi
done

# SIGINT: stops at the next image, exit status 130, message
"$cli" eval --root "$tmp/data" --shots 1 --clip "$clip" --out "$tmp/i" >"$tmp/i.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    grep -q "bars 2/" "$tmp/i.log" 2>/dev/null && break
    sleep 0.01
done
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" = 130 ] && ok || bad "SIGINT exit status $rc"
grep -q "stopped" "$tmp/i.log" && ok || bad "SIGINT message"
[ ! -f "$tmp/i/metrics.json" ] && ok || bad "SIGINT run wrote metrics.json"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && rm -rf "$tmp"
[ "$failed" -eq 0 ]
