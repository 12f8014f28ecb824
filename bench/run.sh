#!/usr/bin/env bash
# Benchmark: direct-to-mock vs Tollgate (production shape) vs Portkey gateway vs LiteLLM proxy,
# in one sitting, interleaved per cell, per workload, at concurrency 1/16/64, plain and
# streaming. See bench/README.md.
#
# Environment (all optional):
#   BENCH_WARMUP=3 BENCH_DURATION=10     seconds per cell (warm-up is discarded)
#   BENCH_CONCURRENCY="1 16 64"          BENCH_MODES="plain stream"
#   BENCH_WORKLOADS="tiny rag conversation stream500"   request bodies (bench/workloads.py)
#   BENCH_TARGETS="direct tollgate portkey litellm"  (also: tollgate_lean, see bench/lean_asgi.py;
#                                        tollgate_nometrics: metrics recording off, README
#                                        "Metrics on and off"; tollgate_granian: the same app
#                                        under granian, README "ASGI server"; tollgate_base:
#                                        the checkout at BENCH_BASE_DIR, cell by cell beside
#                                        this one (an A/B in one run; same migrations))
#   BENCH_PORTKEY_VERSION=1.15.2         @portkey-ai/gateway from npm, into bench/.portkey/
#   BENCH_WORKERS=$(nproc)               gateway processes (uvicorn workers, LiteLLM workers: 2)
#   BENCH_LITELLM_UPGRADE=1              upgrade LiteLLM to the latest release before running
#   BENCH_CELERY=1                       also run a Celery worker, as in production (default 1)
#   BENCH_PROFILE=1                      after the cells, py-spy the Tollgate workers for a c=16 run
#   BENCH_PROFILE_WORKLOADS="rag conversation"  the workloads profiled (one plain run each)
#   BENCH_REDIS_TRACE=1                  before the cells, count Redis commands per request
#   BENCH_REDIS=socket                   Tollgate's Redis: `socket`, a redis-server of the run's own
#                                        on a Unix socket (REDIS_URL=unix://..., as a deployment
#                                        with Redis on the gateway's machine); `tcp`, the machine's
#                                        shared Redis on 127.0.0.1:6379 (README "Redis over a
#                                        Unix socket")
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
WORKLOADS=${BENCH_WORKLOADS:-tiny rag conversation stream500}
TARGETS=${BENCH_TARGETS:-direct tollgate portkey litellm}
PORTKEY_DIR=$BENCH/.portkey
PORTKEY_VERSION=${BENCH_PORTKEY_VERSION:-1.15.2}
# @hono/node-server is Portkey's HTTP server (a `^1.3.3` dependency): from 1.14.2 on, a response
# built as `new Response(stream, upstreamResponse)` keeps the upstream's immutable headers, and
# Portkey's header update then fails every OpenAI stream with `TypeError: immutable`
# (Portkey-AI/gateway#1389). 1.14.1 is the newest release Portkey's streaming works with.
PORTKEY_HONO_NODE_SERVER=${BENCH_PORTKEY_HONO_NODE_SERVER:-1.14.1}
WORKERS=${BENCH_WORKERS:-$(nproc)}
LITELLM_WORKERS=${BENCH_LITELLM_WORKERS:-2}
DB_NAME=tg_bench
REDIS_DB=10
REDIS_MODE=${BENCH_REDIS:-socket}
REDIS_CLI=(redis-cli) # the shared Redis; the run's own socket once it is started (setup_tollgate)
REDIS_SOCKET_DIR=""
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH/results/run-$RUN_ID
mkdir -p "$OUT"
RESULTS=$OUT/cells.tsv
: >"$RESULTS"
log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# One run at a time on this machine: every run drops and re-creates the same database and Redis
# DB, and two runs would also share the CPUs. A second run waits for the first (BENCH_LOCK_WAIT).
# The servers started below get `9>&-`, so none of them keeps the lock after the run.
exec 9>"${TMPDIR:-/tmp}/tollgate-bench.lock"
if ! flock -n 9; then
  log "another bench run holds ${TMPDIR:-/tmp}/tollgate-bench.lock: waiting"
  flock -w "${BENCH_LOCK_WAIT:-3600}" 9 || { log "gave up waiting"; exit 1; }
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- Install what is missing -------------------------------------------------------------------
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || [ ! -f "$ECHO_MODULE" ]; then
  log "installing nginx, its echo module and wrk (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-http-echo wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ " $TARGETS " == *" portkey "* ]]; then
  installed=$(cd "$PORTKEY_DIR/node_modules" 2>/dev/null && node -p \
    "require('./@portkey-ai/gateway/package.json').version + ' ' +
     require('./@hono/node-server/package.json').version" 2>/dev/null || true)
  if [ "$installed" != "$PORTKEY_VERSION $PORTKEY_HONO_NODE_SERVER" ]; then
    log "installing Portkey gateway $PORTKEY_VERSION (npm) into bench/.portkey"
    mkdir -p "$PORTKEY_DIR"
    printf '{"name": "tollgate-bench-portkey", "private": true,
  "dependencies": {"@portkey-ai/gateway": "%s"},
  "overrides": {"@hono/node-server": "%s"}}\n' "$PORTKEY_VERSION" "$PORTKEY_HONO_NODE_SERVER" \
      >"$PORTKEY_DIR/package.json"
    npm install --prefix "$PORTKEY_DIR" --no-audit --no-fund --loglevel=error \
      >"$OUT/npm-portkey.log" 2>&1 ||
      log "Portkey install failed: the portkey target will be reported as not measured"
  fi
fi
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
  [ -n "$REDIS_SOCKET_DIR" ] && rm -rf "$REDIS_SOCKET_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Mock upstream: nginx ----------------------------------------------------------------------
MOCK_PORT=$(free_port)
NGINX_PREFIX=$OUT/nginx
mkdir -p "$NGINX_PREFIX"
python3 "$BENCH/render_nginx.py" "$MOCK_PORT" "$NGINX_PREFIX" auto >"$NGINX_PREFIX/nginx.conf"
"$NGINX" -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log" 9>&-
MOCK_URL=http://127.0.0.1:$MOCK_PORT/v1
wait_http "$MOCK_URL/models" 10 || { log "nginx mock did not start"; exit 1; }
log "mock upstream (nginx $("$NGINX" -v 2>&1 | sed 's/.*\///')) on $MOCK_URL"

BODIES=$OUT/bodies
$PY "$BENCH/workloads.py" "$BODIES" gpt-4o-mini auto >"$OUT/workloads.txt"
sed 's/^/[bench] /' "$OUT/workloads.txt" >&2
workload_modes() { # workload: the modes it is measured in, of those asked for
  local m
  for m in $(awk -v w="$1" '$2 == w {sub("modes=", "", $3); gsub(",", " ", $3); print $3}' \
    "$OUT/workloads.txt"); do
    [[ " $MODES " == *" $m "* ]] && echo "$m"
  done
}

declare -A URL KEY MODEL STATUS PROC_ROOT HEADERS APP_DIR
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
  if [ "$REDIS_MODE" = socket ]; then
    # A short directory: a Unix socket's path is limited to about 100 bytes.
    REDIS_SOCKET_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tg-bench-redis.XXXXXX")
    redis-server --port 0 --unixsocket "$REDIS_SOCKET_DIR/redis.sock" --unixsocketperm 700 \
      --save "" --appendonly no >"$OUT/redis-server.log" 2>&1 9>&- &
    PIDS+=($!)
    REDIS_CLI=(redis-cli -s "$REDIS_SOCKET_DIR/redis.sock")
    local waited=0
    until "${REDIS_CLI[@]}" ping >/dev/null 2>&1; do
      sleep 0.1
      waited=$((waited + 1))
      if [ $waited -gt 100 ]; then
        TOLLGATE_READY="redis-server on a Unix socket did not start (redis-server.log)"
        return 0
      fi
    done
    export REDIS_URL="unix://$REDIS_SOCKET_DIR/redis.sock?db=$REDIS_DB"
  fi
  export SECRET_KEY
  SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
  export TOLLGATE_ENCRYPTION_KEYS
  TOLLGATE_ENCRYPTION_KEYS=$($PY -m config.keygen)
  export DEBUG=false ALLOWED_HOSTS=127.0.0.1,localhost
  export TOLLGATE_OPENAI_BASE_URL=$MOCK_URL OPENAI_API_KEY=sk-bench
  export TOLLGATE_ALLOW_PRIVATE_UPSTREAMS=true
  # Metrics as in production: multiprocess mode, web processes and worker counting into one dir.
  export PROMETHEUS_MULTIPROC_DIR=$OUT/prometheus
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  log "tollgate: fresh database $DB_NAME, Redis DB $REDIS_DB ($REDIS_MODE)"
  psql "$PG/postgres" -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null
  "${REDIS_CLI[@]}" -n "$REDIS_DB" flushdb >/dev/null
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
      --schedule "$OUT/celerybeat-schedule" >"$OUT/celery.log" 2>&1 9>&- &
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
  if [ "$t" = tollgate_granian ]; then # the same app under granian (Rust HTTP server), measured
    "$ROOT/.venv/bin/granian" --interface asgi --host 127.0.0.1 --port "$port" \
      --workers "$WORKERS" --loop uvloop --no-ws --log-level warning "$@" >"$OUT/$t.log" 2>&1 9>&- &
  else
    # From the served checkout: the workers import `config` from their working directory first
    # (uvicorn's --app-dir alone left tollgate_base's workers on this checkout's code).
    # bin/serve's HTTP protocol; a base checkout older than core/uvicorn_protocol.py: httptools.
    local http=httptools
    [ -f "${APP_DIR[$t]:-$ROOT}/core/uvicorn_protocol.py" ] &&
      http=core.uvicorn_protocol:JoinedHeadHttpToolsProtocol
    env -C "${APP_DIR[$t]:-$ROOT}" -u PYTHONPATH \
      $PY -m uvicorn "$@" --host 127.0.0.1 --port "$port" --workers "$WORKERS" \
      --loop uvloop --http "$http" --no-access-log --lifespan on >"$OUT/$t.log" 2>&1 9>&- &
  fi
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
    --host 127.0.0.1 --port "$port" --num_workers "$LITELLM_WORKERS" >"$OUT/litellm.log" 2>&1 9>&- &
  PIDS+=($!)
  PROC_ROOT[litellm]=$!
  KEY[litellm]=sk-litellm-bench
  MODEL[litellm]=gpt-4o-mini
  URL[litellm]=http://127.0.0.1:$port/v1/chat/completions
  local t0=$SECONDS
  if wait_http "http://127.0.0.1:$port/health/liveliness" "${BENCH_LITELLM_START_WAIT:-300}"; then
    STATUS[litellm]=ok
  else
    STATUS[litellm]="did not start: $(tail -n 1 "$OUT/litellm.log")"
  fi
  LITELLM_VERSION=$("$LLVENV/bin/pip" show litellm 2>/dev/null | awk '/^Version/ {print $2}')
  log "litellm $LITELLM_VERSION (x$LITELLM_WORKERS) on port $port: ${STATUS[litellm]} ($((SECONDS - t0)) s)"
}

# --- Portkey gateway: one Node process, as shipped, headless ----------------------------------
start_portkey() {
  local port entry=$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js
  if [ ! -f "$entry" ]; then
    STATUS[portkey]="not installed (see ${OUT#"$ROOT"/}/npm-portkey.log)"
    return 0
  fi
  port=$(free_port)
  # No budgets, metering or cache configured: Portkey's open-source gateway proxies with the
  # provider and upstream URL given per request (the headers below); the preload binds the
  # server to 127.0.0.1 (bench/portkey_loopback.mjs).
  env -C "$OUT" -u DATABASE_URL -u REDIS_URL node --import "$BENCH/portkey_loopback.mjs" "$entry" \
    --headless --port="$port" >"$OUT/portkey.log" 2>&1 9>&- &
  PIDS+=($!)
  PROC_ROOT[portkey]=$!
  KEY[portkey]=sk-bench
  MODEL[portkey]=gpt-4o-mini
  HEADERS[portkey]="x-portkey-provider=openai;x-portkey-custom-host=$MOCK_URL"
  URL[portkey]=http://127.0.0.1:$port/v1/chat/completions
  if wait_http "http://127.0.0.1:$port/" 30; then
    STATUS[portkey]=ok
  else
    STATUS[portkey]="did not start: $(tail -n 1 "$OUT/portkey.log")"
  fi
  log "portkey $PORTKEY_VERSION (@hono/node-server $PORTKEY_HONO_NODE_SERVER, 1 Node process) on port $port: ${STATUS[portkey]}"
}

header_args() { # target: its request headers as curl arguments, one per line
  local pair pairs
  [ -n "${KEY[$1]}" ] && printf '%s\n' -H "Authorization: Bearer ${KEY[$1]}"
  IFS=';' read -ra pairs <<<"${HEADERS[$1]:-}"
  for pair in "${pairs[@]}"; do
    [ -n "$pair" ] && printf '%s\n' -H "${pair%%=*}: ${pair#*=}"
  done
}

# One request per target, workload and mode before measuring: a target that answers an error is
# reported with that error and left out of those cells instead of being measured as fast
# failures. A stream must end with [DONE]; the 500-chunk one must arrive with its 500 chunks.
smoke() { # target workload mode
  local t=$1 w=$2 mode=$3 code events out=$OUT/smoke-$1-$2-$3
  local args=()
  mapfile -t args < <(header_args "$t")
  code=$(curl -s -o "$out.txt" -D "$out.headers" -w '%{http_code}' --max-time 30 -X POST \
    -H 'Content-Type: application/json' "${args[@]}" \
    --data-binary "@$BODIES/$w-$mode-${MODEL[$t]}.json" "${URL[$t]}")
  events=$(grep -c '^data: {' "$out.txt" || true)
  if [ "$code" != 200 ]; then
    echo "HTTP $code: $(head -c 300 "$out.txt" | tr '\n' ' ')"
  elif [ "$mode" = stream ] && ! grep -q '\[DONE\]' "$out.txt"; then
    echo "stream without [DONE]: $(head -c 300 "$out.txt" | tr '\n' ' ')"
  elif [ "$w" = stream500 ] && [ "$events" -lt 500 ]; then
    echo "stream of $events events, not the mock's 503"
  fi
}

for t in $TARGETS; do
  case $t in
    direct) ;;
    tollgate) start_tollgate tollgate config.asgi:application ;;
    tollgate_nometrics)
      TOLLGATE_METRICS_ENABLED=false start_tollgate tollgate_nometrics config.asgi:application ;;
    tollgate_lean) start_tollgate tollgate_lean lean_asgi:application --app-dir "$BENCH" ;;
    tollgate_base) # the same app from another checkout (BENCH_BASE_DIR, same migrations): A/B
      APP_DIR[tollgate_base]=$BENCH_BASE_DIR
      start_tollgate tollgate_base config.asgi:application ;;
    tollgate_granian) # an experiment (README "ASGI server"): granian is not a project dependency
      "$ROOT/.venv/bin/granian" --version >/dev/null 2>&1 || $PY -m pip install -q granian==2.8.9
      start_tollgate tollgate_granian config.asgi:application ;;
    portkey) start_portkey ;;
    litellm) start_litellm ;;
    *) log "unknown target $t" && exit 2 ;;
  esac
done

declare -A SMOKE
for w in $WORKLOADS; do
  for mode in $(workload_modes "$w"); do
    for t in $TARGETS; do
      if [ "${STATUS[$t]}" = ok ]; then
        SMOKE[$t/$w/$mode]=$(smoke "$t" "$w" "$mode")
      else
        SMOKE[$t/$w/$mode]=${STATUS[$t]}
      fi
      [ -n "${SMOKE[$t/$w/$mode]}" ] && log "$t $w $mode: NOT MEASURED: ${SMOKE[$t/$w/$mode]}"
      printf '%s\t%s\t%s\t%s\n' "$t" "$w" "$mode" "${SMOKE[$t/$w/$mode]:-ok}" >>"$OUT/smoke.tsv"
    done
  done
done

# --- Optional: Redis commands per gateway request (MONITOR, only DB $REDIS_DB lines kept) --------
if [ "${BENCH_REDIS_TRACE:-0}" = 1 ] && [ -z "${SMOKE[tollgate/tiny/plain]-x}" ]; then
  for mode in plain stream; do
    timeout 8 "${REDIS_CLI[@]}" monitor 2>/dev/null | grep --line-buffered " \[$REDIS_DB " \
      >"$OUT/redis-monitor-$mode.txt" &
    mon=$!
    sleep 1
    for _ in $(seq 20); do smoke tollgate tiny "$mode" >/dev/null; done
    sleep 2
    kill "$mon" 2>/dev/null || true
    wait "$mon" 2>/dev/null || true
    echo "Redis, $mode request (20 sequential, warm tenant): $($PY "$BENCH/redis_trace_summary.py" \
      "$OUT/redis-monitor-$mode.txt" 20 | tr '\n' ';')" | tee -a "$OUT/redis-commands.txt" >&2
  done
fi

# --- Cells: for each (mode, concurrency), every target takes its turn ---------------------------
run_wrk() { # target workload mode conc seconds label
  local t=$1 w=$2 mode=$3 c=$4 secs=$5 threads=2
  [ "$c" -lt 2 ] && threads=1
  BENCH_BODY_FILE=$BODIES/$w-$mode-${MODEL[$t]}.json BENCH_KEY=${KEY[$t]} BENCH_LABEL=$6 \
    BENCH_HEADERS=${HEADERS[$t]:-} \
    timeout $((secs + 30)) wrk -t"$threads" -c"$c" -d"${secs}s" --timeout 10s --latency \
    -s "$BENCH/post.lua" "${URL[$t]}"
}
descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }
cpu_ticks() { # pids...: their CPU time so far (utime + stime, clock ticks)
  local p sum=0 ticks
  for p in "$@"; do
    ticks=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
    sum=$((sum + ${ticks:-0}))
  done
  echo "$sum"
}
# A saturated server keeps working on requests wrk gave up on after its cell ends; that work
# would land in the next target's cell. So before the next cell, wait (at most
# BENCH_SETTLE_MAX s) until the target's processes use under a tenth of a core.
settle() { # target label
  local root=${PROC_ROOT[$1]:-} pids start=$SECONDS before after hz
  [ -z "$root" ] && return 0
  hz=$(getconf CLK_TCK)
  while [ $((SECONDS - start)) -lt "${BENCH_SETTLE_MAX:-30}" ]; do
    pids=$(echo "$root" $(descendants "$root"))
    before=$(cpu_ticks $pids)
    sleep 0.5
    after=$(cpu_ticks $pids)
    [ $((after - before)) -le $((hz / 20)) ] && break
  done
  [ $((SECONDS - start)) -ge 2 ] && echo "$2 settled after $((SECONDS - start)) s" >>"$OUT/settle.txt"
  return 0
}
tree_ticks() { # target: CPU ticks so far of its processes (server and workers), or -
  local root=${PROC_ROOT[$1]:-}
  [ -z "$root" ] && { echo -; return; }
  cpu_ticks "$root" $(descendants "$root")
}
worker_hwm() { # target: largest VmHWM (KiB) so far among its worker processes, or -
  local root=${PROC_ROOT[$1]:-} pid best=0 hwm
  [ -z "$root" ] && { echo -; return; }
  for pid in $root $(descendants "$root"); do
    # uvicorn and LiteLLM workers are multiprocessing children; Portkey is its one Node process.
    grep -qaE 'multiprocessing|start-server\.js' "/proc/$pid/cmdline" 2>/dev/null || continue
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$hwm" ] && [ "$hwm" -gt "$best" ] && best=$hwm
  done
  echo "$best"
}
for w in $WORKLOADS; do
  for mode in $(workload_modes "$w"); do
    for c in $CONCURRENCY; do
      for t in $TARGETS; do
        [ -n "${SMOKE[$t/$w/$mode]}" ] && continue
        run_wrk "$t" "$w" "$mode" "$c" "$WARMUP" "$t/$w/$mode/$c/warmup" | grep '^BENCH_RESULT' \
          >>"$OUT/warmup.txt" || true
        ticks=$(tree_ticks "$t")
        line=$(run_wrk "$t" "$w" "$mode" "$c" "$DURATION" "$t/$w/$mode/$c" |
          grep '^BENCH_RESULT' || true)
        log "$t $w $mode c=$c: ${line#BENCH_RESULT }"
        hwm=$(worker_hwm "$t") load1=$(cut -d' ' -f1 /proc/loadavg)
        settle "$t" "$t/$w/$mode/$c"
        # The target's CPU time over the cell and until it was idle again (report: per request).
        cpu=""
        [ "$ticks" != - ] && cpu=" cpu_ms=$((($(tree_ticks "$t") - ticks) * 1000 / $(getconf CLK_TCK)))"
        printf '%s\t%s\t%s\t%s\t%s rss_worker_kib=%s load1=%s%s\n' "$t" "$w" "$mode" "$c" "$line" \
          "$hwm" "$load1" "$cpu" >>"$RESULTS"
      done
    done
  done
done

# --- Peak RSS of every server process (VmHWM is the high-water mark since start) ---------------
: >"$OUT/rss.tsv"
for t in tollgate tollgate_base tollgate_lean tollgate_granian portkey litellm; do
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
    2>/dev/null) usage_stream_backlog=$("${REDIS_CLI[@]}" -n "$REDIS_DB" xlen tollgate:usage 2>/dev/null)"
  log "tollgate metering: $METERING"
fi

# --- Optional profile of the Tollgate workers under c=16, per workload ---------------------------
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
  for t in tollgate tollgate_lean tollgate_granian; do
    for w in ${BENCH_PROFILE_WORKLOADS:-rag conversation}; do
      # Plain when the workload has it (stream500 is streamed only).
      read -r mode _ <<<"$(workload_modes "$w" | tr '\n' ' ')"
      [ -n "$mode" ] && [ -z "${SMOKE[$t/$w/$mode]-x}" ] || continue
      log "profiling $t on $w (py-spy, c=${BENCH_PROFILE_CONCURRENCY:-16} $mode)"
      BENCH_BODY_FILE=$BODIES/$w-$mode-${MODEL[$t]}.json \
        BENCH_PROFILE_STREAM=$([ "$mode" = stream ] && echo 1 || echo 0) \
        "$BENCH/profile.sh" "$OUT" "${PROC_ROOT[$t]}" "${URL[$t]}" "${KEY[$t]}" "$t-$w" || true
    done
  done
fi

{
  echo "run_id=$RUN_ID"
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  # The command that reproduces this run: the BENCH_* settings it was given, then make bench.
  echo "command=$(env | grep '^BENCH_' | sort | sed -E 's/^([^=]*)=(.*)$/\1="\2"/' |
    tr '\n' ' ')make bench"
  echo "warmup=$WARMUP duration=$DURATION workers=$WORKERS litellm_workers=$LITELLM_WORKERS"
  echo "workloads=$WORKLOADS"
  awk '{print "workload=" $2 " " $4 " " $5}' "$OUT/workloads.txt"
  echo "litellm_version=${LITELLM_VERSION:-}"
  [ -n "${PROC_ROOT[portkey]:-}" ] &&
    echo "portkey_version=$PORTKEY_VERSION hono_node_server=$PORTKEY_HONO_NODE_SERVER node=$(node -v) processes=1"
  [ -n "$TOLLGATE_KEY" ] && echo "tollgate_redis=$REDIS_MODE"
  echo "nginx=$("$NGINX" -v 2>&1 | sed 's/.*\///') wrk=$(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
  echo "cpu=$(nproc) nice=$(nice) loadavg_at_start=$LOAD_START loadavg_at_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  [ -n "$METERING" ] && echo "tollgate_metering=$METERING"
  [ -f "$OUT/redis-commands.txt" ] && sed 's/^/redis_trace=/' "$OUT/redis-commands.txt"
} >"$OUT/meta.txt"
$PY "$BENCH/report.py" "$OUT"
cp "$OUT/report.md" "$BENCH/results/latest.md"
log "table written to bench/results/latest.md (raw data in ${OUT#"$ROOT"/})"
