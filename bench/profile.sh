#!/usr/bin/env bash
# Profile every Tollgate worker with py-spy during one plain run (c=16, BENCH_PROFILE_CONCURRENCY) (called by run.sh with
# BENCH_PROFILE=1). Writes collapsed stacks per worker and a summary (profile_summary.py).
# The request body is BENCH_BODY_FILE when set (run.sh: the workload profiled), else the tiny prompt.
# Usage: profile.sh OUT_DIR UVICORN_MASTER_PID URL API_KEY LABEL
set -euo pipefail
OUT=$1 MASTER=$2 URL=$3 KEY=$4 LABEL=${5:-tollgate}
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
SPY=$ROOT/.venv/bin/py-spy
SECS=${BENCH_PROFILE_SECONDS:-10}
CONC=${BENCH_PROFILE_CONCURRENCY:-16}
if [ ! -x "$SPY" ]; then
  "$ROOT/.venv/bin/pip" install -q py-spy==0.4.3 >/dev/null 2>&1
fi
workers=$(pgrep -P "$MASTER" -f 'multiprocessing.spawn' || true)
[ -z "$workers" ] && { echo "no uvicorn workers under $MASTER" >&2; exit 1; }
pids=()
for w in $workers; do
  timeout $((SECS + 30)) "$SPY" record --pid "$w" --duration "$SECS" --rate 250 --nonblocking \
    --format raw -o "$OUT/profile-$LABEL-$w.txt" >"$OUT/py-spy-$LABEL-$w.log" 2>&1 &
  pids+=($!)
done
sleep 1
BENCH_STREAM=${BENCH_PROFILE_STREAM:-0} BENCH_MODEL=auto BENCH_KEY=$KEY BENCH_LABEL=profile timeout $((SECS + 30)) \
  wrk -t$((CONC > 1 ? 2 : 1)) -c"$CONC" -d"$((SECS + 1))s" --latency -s "$BENCH/post.lua" "$URL" | grep '^BENCH_RESULT' \
  >"$OUT/profile-$LABEL-wrk.txt" || true
wait "${pids[@]}" || true
cat "$OUT"/profile-"$LABEL"-[0-9]*.txt >"$OUT/profile-$LABEL-all.txt"
{
  echo "## py-spy profile: $LABEL, c=$CONC $([ "${BENCH_PROFILE_STREAM:-0}" = 1 ] && echo stream || echo plain), ${SECS} s, all workers"
  echo
  sed 's/^BENCH_RESULT /wrk during the profile: /' "$OUT/profile-$LABEL-wrk.txt"
  echo
  "$ROOT/.venv/bin/python" "$BENCH/profile_summary.py" "$OUT/profile-$LABEL-all.txt"
} >"$OUT/profile-$LABEL.md"
echo "profile summary: $OUT/profile-$LABEL.md" >&2
