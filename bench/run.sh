#!/usr/bin/env bash
# Benchmark: direct-to-mock vs Tollgate (production shape) vs LiteLLM proxy, in one sitting,
# interleaved per cell, at concurrency 1/16/64, plain and streaming. See bench/README.md.
#
# Environment (all optional):
#   BENCH_WARMUP=3 BENCH_DURATION=10     seconds per cell (warm-up is discarded)
#   BENCH_CONCURRENCY="1 16 64"          BENCH_MODES="plain stream"
#   BENCH_TARGETS="direct tollgate litellm"  (also: tollgate_lean, see bench/lean_asgi.py)
#   BENCH_WORKERS=$(nproc)               gateway processes (uvicorn workers, LiteLLM workers: 2)
#   BENCH_LITELLM_UPGRADE=1              upgrade LiteLLM to the latest release before running
#   BENCH_CELERY=1                       also run a Celery worker, as in production (default 1)
#   BENCH_PROFILE=1                      after the cells, py-spy one Tollgate worker for a c=16 run
#   BENCH_REDIS_TRACE=1                  before the cells, count Redis commands per request
# Loopback only; every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
PY=$ROOT/.venv/bin/python
LLVENV=$BENCH/.venv-litellm

WARMUP=${BENCH_WARMUP:-3}
DURATION=${BENCH_DURATION:-10}
CONCURRENCY=${BENCH_CONCURRENCY:-1 16 64}
MODES=${BENCH_MODES:-plain stream}
TARGETS=${BENCH_TARGETS:-direct tollgate litellm}
WORKERS=${BENCH_WORKERS:-$(nproc)}
LITELLM_WORKERS=${BENCH_LITELLM_WORKERS:-2}
DB_NAME=tg_bench
REDIS_DB=10
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH/results/run-$RUN_ID
mkdir -p "$OUT"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS=$OUT/cells.tsv
: >"$RESULTS"
log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- Install what is missing -------------------------------------------------------------------
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || [ ! -f "$ECHO_MODULE" ]; then
  log "installing nginx, its echo module and wrk (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-http-echo wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ " $TARGETS " == *" litellm "* ]]; then
  if [ ! -x "$LLVENV/bin/litellm" ]; then
    log "installing LiteLLM proxy (latest) into bench/.venv-litellm"
    { python3 -m venv "$LLVENV" && "$LLVENV/bin/pip" install -q --upgrade pip &&
      "$LLVENV/bin/pip" install -q 'litellm[proxy]'; } >"$OUT/pip-litellm.log" 2>&1 ||
      log "LiteLLM install failed: the litellm target will be reported as not measured"
  elif [ "${BENCH_LITELLM_UPGRADE:-0}" = 1 ]; then
    log "upgrading LiteLLM proxy"
    "$LLVENV/bin/pip" install -q --upgrade 'litellm[proxy]' >"$OUT/pip-litellm.log" 2>&1 ||
      log "LiteLLM upgrade failed: measuring the installed version"
  fi
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() { # url, seconds, [curl args...]: wait until the URL answers 2xx
  local url=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until curl -sf -o /dev/null --max-time 2 "$@" "$url"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.25
  done
}

# --- Cleanup: stop every server we started -----------------------------------------------------
PIDS=()
NGINX_PREFIX=""
TOLLGATE_KEY=""
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  if [ -n "$NGINX_PREFIX" ] && [ -f "$NGINX_PREFIX/nginx.pid" ]; then
    kill -TERM "$(cat "$NGINX_PREFIX/nginx.pid")" 2>/dev/null
  fi
  local deadline=$((SECONDS + 10))
  for pid in "${PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Mock upstream: nginx ----------------------------------------------------------------------
MOCK_PORT=$(free_port)
NGINX_PREFIX=$OUT/nginx
mkdir -p "$NGINX_PREFIX"
python3 "$BENCH/render_nginx.py" "$MOCK_PORT" "$NGINX_PREFIX" auto >"$NGINX_PREFIX/nginx.conf"
"$NGINX" -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log"
MOCK_URL=http://127.0.0.1:$MOCK_PORT/v1
wait_http "$MOCK_URL/models" 10 || { log "nginx mock did not start"; exit 1; }
log "mock upstream (nginx $("$NGINX" -v 2>&1 | sed 's/.*\///')) on $MOCK_URL"

declare -A URL KEY MODEL STATUS PROC_ROOT
URL[direct]=$MOCK_URL/chat/completions
KEY[direct]=""
MODEL[direct]=gpt-4o-mini
STATUS[direct]=ok

# --- Tollgate: PostgreSQL + Redis + uvicorn, one worker per core -------------------------------
# One database and tenant for both Tollgate targets: `tollgate` serves config.asgi (the project
# as shipped); the optional `tollgate_lean` serves bench/lean_asgi.py (the /v1 routes without
# Django's middleware stack, an experiment measuring a proposed fix).
TOLLGATE_READY=""
setup_tollgate() {
  [ -n "$TOLLGATE_READY" ] && return 0
  export DATABASE_URL=$PG/$DB_NAME
  export REDIS_URL=redis://127.0.0.1:6379/$REDIS_DB
  export SECRET_KEY=bench-secret-key-not-for-production-$RUN_ID
  export TOLLGATE_ENCRYPTION_KEYS
  TOLLGATE_ENCRYPTION_KEYS=$($PY -m config.keygen)
  export DEBUG=false ALLOWED_HOSTS=127.0.0.1,localhost
  export TOLLGATE_OPENAI_BASE_URL=$MOCK_URL OPENAI_API_KEY=sk-bench
  export TOLLGATE_ALLOW_PRIVATE_UPSTREAMS=true
  log "tollgate: fresh database $DB_NAME, Redis DB $REDIS_DB"
  psql "$PG/postgres" -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null
  redis-cli -n "$REDIS_DB" flushdb >/dev/null
  if {
    $PY manage.py migrate --noinput &&
      $PY manage.py collectstatic --noinput --verbosity 0 &&
      $PY manage.py load_catalog &&
      $PY manage.py create_tenant bench --name "Bench Inc" &&
      $PY manage.py create_api_key bench --scopes inference,read --name bench >"$OUT/key.txt" &&
      $PY manage.py shell <"$BENCH/setup_tollgate.py"
  } >"$OUT/tollgate-setup.log" 2>&1; then
    TOLLGATE_READY=ok
  else
    TOLLGATE_READY="setup failed: $(tail -n 1 "$OUT/tollgate-setup.log")"
    return 0
  fi
  grep '^SETUP' "$OUT/tollgate-setup.log" | sed 's/^/[bench] tollgate /' >&2 || true
  TOLLGATE_KEY=$(tail -n 1 "$OUT/key.txt")
  if [ "${BENCH_CELERY:-1}" = 1 ]; then
    # Worker with beat embedded: beat schedules the usage ingestion (Redis stream -> UsageEvent).
    "$ROOT/.venv/bin/celery" -A config worker -B --loglevel=WARNING --concurrency=1 \
      --schedule "$OUT/celerybeat-schedule" >"$OUT/celery.log" 2>&1 &
    PIDS+=($!)
  fi
}

start_tollgate() { # target, then uvicorn's app arguments
  local t=$1 port
  shift
  setup_tollgate
  if [ "$TOLLGATE_READY" != ok ]; then
    STATUS[$t]=$TOLLGATE_READY
    return 0
  fi
  port=$(free_port)
  KEY[$t]=$TOLLGATE_KEY
  MODEL[$t]=auto
  URL[$t]=http://127.0.0.1:$port/v1/chat/completions
  $PY -m uvicorn "$@" --host 127.0.0.1 --port "$port" --workers "$WORKERS" \
    --loop uvloop --http httptools --no-access-log --lifespan on >"$OUT/$t.log" 2>&1 &
  PIDS+=($!)
  PROC_ROOT[$t]=$!
  if ! wait_http "http://127.0.0.1:$port/v1/models" 60 -H "Authorization: Bearer ${KEY[$t]}"; then
    STATUS[$t]="GET /v1/models: $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
      -H "Authorization: Bearer ${KEY[$t]}" "http://127.0.0.1:$port/v1/models")"
  fi
  STATUS[$t]=${STATUS[$t]:-ok}
  log "$t (uvicorn x$WORKERS: $*) on port $port: ${STATUS[$t]}"
}

# --- LiteLLM proxy -----------------------------------------------------------------------------
start_litellm() {
  local port
  if [ ! -x "$LLVENV/bin/litellm" ]; then
    STATUS[litellm]="not installed (see ${OUT#"$ROOT"/}/pip-litellm.log)"
    return 0
  fi
  port=$(free_port)
  sed "s#__MOCK_URL__#$MOCK_URL#" "$BENCH/litellm_config.yaml.template" >"$OUT/litellm.yaml"
  # No database, no telemetry, the bundled price map (no network fetch at start-up).
  env -C "$OUT" -u DATABASE_URL -u REDIS_URL LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_TELEMETRY=False LITELLM_LOG=ERROR "$LLVENV/bin/litellm" --config "$OUT/litellm.yaml" \
    --host 127.0.0.1 --port "$port" --num_workers "$LITELLM_WORKERS" >"$OUT/litellm.log" 2>&1 &
  PIDS+=($!)
  PROC_ROOT[litellm]=$!
  KEY[litellm]=sk-litellm-bench
  MODEL[litellm]=gpt-4o-mini
  URL[litellm]=http://127.0.0.1:$port/v1/chat/completions
  local t0=$SECONDS
  if wait_http "http://127.0.0.1:$port/health/liveliness" 120; then
    STATUS[litellm]=ok
  else
    STATUS[litellm]="did not start: $(tail -n 1 "$OUT/litellm.log")"
  fi
  LITELLM_VERSION=$("$LLVENV/bin/pip" show litellm 2>/dev/null | awk '/^Version/ {print $2}')
  log "litellm $LITELLM_VERSION (x$LITELLM_WORKERS) on port $port: ${STATUS[litellm]} ($((SECONDS - t0)) s)"
}

# One request per target and mode before measuring: a target that answers an error is reported
# with that error and left out of the cells instead of being measured as fast failures.
smoke() { # target mode
  local t=$1 mode=$2 body stream=false code
  [ "$mode" = stream ] && stream=true
  body='{"model":"'${MODEL[$t]}'","messages":[{"role":"user","content":"hi"}],"stream":'$stream'}'
  local auth=()
  [ -n "${KEY[$t]}" ] && auth=(-H "Authorization: Bearer ${KEY[$t]}")
  code=$(curl -s -o "$OUT/smoke-$t-$mode.txt" -D "$OUT/smoke-$t-$mode.headers" -w '%{http_code}' \
    --max-time 15 -X POST -H 'Content-Type: application/json' "${auth[@]}" -d "$body" "${URL[$t]}")
  if [ "$code" != 200 ] || { [ "$mode" = stream ] && ! grep -q '\[DONE\]' "$OUT/smoke-$t-$mode.txt"; }
  then
    echo "HTTP $code: $(head -c 300 "$OUT/smoke-$t-$mode.txt" | tr '\n' ' ')"
  fi
}

for t in $TARGETS; do
  case $t in
    direct) ;;
    tollgate) start_tollgate tollgate config.asgi:application ;;
    tollgate_lean) start_tollgate tollgate_lean lean_asgi:application --app-dir "$BENCH" ;;
    litellm) start_litellm ;;
    *) log "unknown target $t" && exit 2 ;;
  esac
done

declare -A SMOKE
for t in $TARGETS; do
  for mode in $MODES; do
    if [ "${STATUS[$t]}" = ok ]; then
      SMOKE[$t/$mode]=$(smoke "$t" "$mode")
    else
      SMOKE[$t/$mode]=${STATUS[$t]}
    fi
    [ -n "${SMOKE[$t/$mode]}" ] && log "$t $mode: NOT MEASURED: ${SMOKE[$t/$mode]}"
    printf '%s\t%s\t%s\n' "$t" "$mode" "${SMOKE[$t/$mode]:-ok}" >>"$OUT/smoke.tsv"
  done
done

# --- Optional: Redis commands per gateway request (MONITOR, only DB $REDIS_DB lines kept) --------
if [ "${BENCH_REDIS_TRACE:-0}" = 1 ] && [ -z "${SMOKE[tollgate/plain]-x}" ]; then
  for mode in plain stream; do
    timeout 8 redis-cli monitor 2>/dev/null | grep --line-buffered " \[$REDIS_DB " \
      >"$OUT/redis-monitor-$mode.txt" &
    mon=$!
    sleep 1
    for _ in $(seq 20); do smoke tollgate "$mode" >/dev/null; done
    sleep 2
    kill "$mon" 2>/dev/null || true
    wait "$mon" 2>/dev/null || true
    echo "Redis, $mode request (20 sequential, warm tenant): $($PY "$BENCH/redis_trace_summary.py" \
      "$OUT/redis-monitor-$mode.txt" 20 | tr '\n' ';')" | tee -a "$OUT/redis-commands.txt" >&2
  done
fi

# --- Cells: for each (mode, concurrency), every target takes its turn ---------------------------
run_wrk() { # target mode conc seconds label
  local t=$1 mode=$2 c=$3 secs=$4 threads=2
  [ "$c" -lt 2 ] && threads=1
  BENCH_MODEL=${MODEL[$t]} BENCH_KEY=${KEY[$t]} BENCH_LABEL=$5 \
    BENCH_STREAM=$([ "$mode" = stream ] && echo 1 || echo 0) \
    timeout $((secs + 30)) wrk -t"$threads" -c"$c" -d"${secs}s" --timeout 10s --latency \
    -s "$BENCH/post.lua" "${URL[$t]}"
}
descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }
worker_hwm() { # target: largest VmHWM (KiB) so far among its worker processes, or -
  local root=${PROC_ROOT[$1]:-} pid best=0 hwm
  [ -z "$root" ] && { echo -; return; }
  for pid in $(descendants "$root"); do
    grep -qa 'multiprocessing' "/proc/$pid/cmdline" 2>/dev/null || continue
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$hwm" ] && [ "$hwm" -gt "$best" ] && best=$hwm
  done
  echo "$best"
}
for mode in $MODES; do
  for c in $CONCURRENCY; do
    for t in $TARGETS; do
      [ -n "${SMOKE[$t/$mode]}" ] && continue
      run_wrk "$t" "$mode" "$c" "$WARMUP" "$t/$mode/$c/warmup" | grep '^BENCH_RESULT' \
        >>"$OUT/warmup.txt" || true
      line=$(run_wrk "$t" "$mode" "$c" "$DURATION" "$t/$mode/$c" | grep '^BENCH_RESULT' || true)
      log "$t $mode c=$c: ${line#BENCH_RESULT }"
      printf '%s\t%s\t%s\t%s rss_worker_kib=%s\n' "$t" "$mode" "$c" "$line" "$(worker_hwm "$t")" \
        >>"$RESULTS"
    done
  done
done

# --- Peak RSS of every server process (VmHWM is the high-water mark since start) ---------------
: >"$OUT/rss.tsv"
for t in tollgate tollgate_lean litellm; do
  root=${PROC_ROOT[$t]:-}
  [ -z "$root" ] && continue
  for pid in $root $(descendants "$root"); do
    [ -r "/proc/$pid/status" ] || continue
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-120)
    [ -n "$hwm" ] && printf '%s\t%s\t%s\t%s\n' "$t" "$pid" "$hwm" "$cmd" >>"$OUT/rss.tsv"
  done
done

# --- Metering evidence: usage events that reached the database (ingested every 5 s) ----------
METERING=""
if [ -n "$TOLLGATE_KEY" ]; then
  sleep "${BENCH_INGEST_WAIT:-8}"
  sent=$(cat "$RESULTS" "$OUT/warmup.txt" | grep -o 'label=tollgate[a-z_]*/[^ ]* requests=[0-9]*' |
    awk -F'requests=' '{s += $2} END {print s + 0}')
  sent=$((sent + $(grep -c '^tollgate.*ok$' "$OUT/smoke.tsv")))
  METERING="requests_answered=$sent usage_events_in_db=$(psql "$PG/$DB_NAME" -Atc 'select count(*) from billing_usageevent' \
    2>/dev/null) usage_stream_backlog=$(redis-cli -n "$REDIS_DB" xlen tollgate:usage 2>/dev/null)"
  log "tollgate metering: $METERING"
fi

# --- Optional profile of one Tollgate worker under c=16 ----------------------------------------
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
  for t in tollgate tollgate_lean; do
    [ -z "${SMOKE[$t/plain]-x}" ] || continue
    log "profiling $t (py-spy, c=${BENCH_PROFILE_CONCURRENCY:-16} plain)"
    "$BENCH/profile.sh" "$OUT" "${PROC_ROOT[$t]}" "${URL[$t]}" "${KEY[$t]}" "$t" || true
  done
fi

{
  echo "run_id=$RUN_ID"
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  # The command that reproduces this run: the BENCH_* settings it was given, then make bench.
  echo "command=$(env | grep '^BENCH_' | sort | sed -E 's/^([^=]*)=(.*)$/\1="\2"/' |
    tr '\n' ' ')make bench"
  echo "warmup=$WARMUP duration=$DURATION workers=$WORKERS litellm_workers=$LITELLM_WORKERS"
  echo "litellm_version=${LITELLM_VERSION:-}"
  echo "nginx=$("$NGINX" -v 2>&1 | sed 's/.*\///') wrk=$(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
  echo "cpu=$(nproc) loadavg_at_start=$LOAD_START loadavg_at_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  [ -n "$METERING" ] && echo "tollgate_metering=$METERING"
  [ -f "$OUT/redis-commands.txt" ] && sed 's/^/redis_trace=/' "$OUT/redis-commands.txt"
} >"$OUT/meta.txt"
$PY "$BENCH/report.py" "$OUT"
cp "$OUT/report.md" "$BENCH/results/latest.md"
log "table written to bench/results/latest.md (raw data in ${OUT#"$ROOT"/})"
