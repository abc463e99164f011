#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SEED_CORPUS WORK_DIR SECONDS
# Runs a libFuzzer target for SECONDS over a fresh copy of the seed corpus in WORK_DIR/corpus (what
# it finds stays there, never in the sources). Exits non-zero on a crash, a sanitizer report, a
# violated property or a slow input, and prints libFuzzer's closing statistics either way.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$seeds/." "$work/corpus/"
status=0
"$fuzzer" "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log" 2>&1 || status=$?
grep -E 'DONE|stat::number_of_executed_units|stat::peak_rss_mb' "$work/log" || true
if ((status != 0)); then
  tail -n 60 "$work/log"
  echo "run_fuzzer: $(basename "$fuzzer") failed (exit $status); inputs in $work/artifacts" >&2
fi
exit $status
