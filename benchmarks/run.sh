#!/usr/bin/env bash
# Flotilla vs mosquitto, in one run on one machine: builds both sides, starts both brokers on loopback, runs every
# scenario against each broker back to back, stops them, and writes benchmarks/results/<date>.md plus the results
# section of benchmarks/README.md. Everything stays on 127.0.0.1 and every wait below is bounded.
#
# Environment (defaults in brackets):
#   DURATION [10]  WARMUP [2]  PAYLOAD [64]  THREADS [nproc]  PAIRS [10]  FAN [100]  MAX_INFLIGHT [100]
#   LOAD_RATE [0 = as fast as backpressure allows; else msg/s per publisher]
#   SNDBUF [32768]  RCVBUF [65536]
#   IDLE_CONNECTIONS [10000]  SCENARIOS ["p2p:0 p2p:1 fanout:0 fanout:1 fanin:0 fanin:1 idle"]
#   FLOTILLA [run | skip]  BUILD [1 | 0 = use existing release binaries]  UPDATE_README [1 | 0]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PAYLOAD=${PAYLOAD:-64}
THREADS=${THREADS:-$(nproc)}
PAIRS=${PAIRS:-10}
FAN=${FAN:-100}
MAX_INFLIGHT=${MAX_INFLIGHT:-100}
LOAD_RATE=${LOAD_RATE:-0}
SNDBUF=${SNDBUF:-32768}
RCVBUF=${RCVBUF:-65536}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
SCENARIOS=${SCENARIOS:-"p2p:0 p2p:1 fanout:0 fanout:1 fanin:0 fanin:1 idle"}
FLOTILLA=${FLOTILLA:-run}
BUILD=${BUILD:-1}
UPDATE_README=${UPDATE_README:-1}

WORK=$(mktemp -d /tmp/flotilla-bench.XXXXXX)
JSONL="$WORK/results.jsonl"
MQTT_LOAD="$BENCH_DIR/.build/release/mqtt-load"
FLOTILLA_BIN="$ROOT/.build/release/flotilla"
MOSQ_PID=""
FLOT_PID=""
STATUS=0

LOG_TAG=run.sh
# shellcheck source=benchmarks/lib.sh
source "$BENCH_DIR/lib.sh"

cleanup() {
    stop_pid "$MOSQ_PID" mosquitto
    stop_pid "$FLOT_PID" flotilla
    rm -rf "$WORK/flotilla-data"
}
trap cleanup EXIT

# --- 1. tools ---------------------------------------------------------------------------------------------------
MOSQUITTO_BIN=$(command -v mosquitto || true)
[[ -z "$MOSQUITTO_BIN" && -x /usr/sbin/mosquitto ]] && MOSQUITTO_BIN=/usr/sbin/mosquitto
if [[ -z "$MOSQUITTO_BIN" ]]; then
    log "installing mosquitto (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
    MOSQUITTO_BIN=$(command -v mosquitto || echo /usr/sbin/mosquitto)
fi

# Each idle scenario holds IDLE_CONNECTIONS sockets in mqtt-load and as many in the broker; both inherit this limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
NOFILE=$(ulimit -n)
if (( NOFILE < IDLE_CONNECTIONS + 1024 )); then
    log "warning: ulimit -n is $NOFILE, below IDLE_CONNECTIONS + 1024; idle connections may fail"
fi

if [[ "$BUILD" == 1 ]]; then
    # One swift build at a time (2 shared cores).
    if [[ "$FLOTILLA" != skip ]]; then
        log "building flotilla (release)"
        swift build -c release --package-path "$ROOT" --product flotilla
    fi
    log "building mqtt-load (release)"
    swift build -c release --package-path "$BENCH_DIR" --product mqtt-load
fi
[[ -x "$MQTT_LOAD" ]] || { log "missing $MQTT_LOAD (run with BUILD=1)"; exit 1; }

# --- 2. brokers: both restarted fresh before every scenario, so no run inherits another's memory or backlog ---
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
PORTS=$(free_ports 3)
read -r MOSQ_PORT FLOT_PORT METRICS_PORT <<<"$PORTS"
cat >"$WORK/mosquitto.conf" <<EOF
listener $MOSQ_PORT 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 100
max_queued_messages 1000
log_dest stdout
EOF
FLOT_NOTE=""
FLOT_PID=""
MOSQ_PID=""
if [[ "$FLOTILLA" == skip ]]; then
    FLOT_PORT=""
    FLOT_NOTE="flotilla was skipped (FLOTILLA=skip); its column is empty."
fi

start_mosquitto() {
    "$MOSQUITTO_BIN" -c "$WORK/mosquitto.conf" >>"$WORK/mosquitto.log" 2>&1 &
    MOSQ_PID=$!
    wait_listening "$MOSQ_PORT" "$MOSQ_PID" mosquitto || { tail -20 "$WORK/mosquitto.log" >&2; exit 1; }
    log "mosquitto pid $MOSQ_PID on 127.0.0.1:$MOSQ_PORT"
}

start_flotilla() {
    [[ "$FLOTILLA" != skip ]] || return 0
    rm -rf "$WORK/flotilla-data"
    mkdir -p "$WORK/flotilla-data"
    "$FLOTILLA_BIN" serve --bind 127.0.0.1 --mqtt-port "$FLOT_PORT" --api-port "$METRICS_PORT" \
        --data-dir "$WORK/flotilla-data" --log-level warning >>"$WORK/flotilla.log" 2>&1 &
    FLOT_PID=$!
    if wait_listening "$FLOT_PORT" "$FLOT_PID" flotilla; then
        log "flotilla pid $FLOT_PID on 127.0.0.1:$FLOT_PORT (metrics $METRICS_PORT)"
    else
        tail -20 "$WORK/flotilla.log" >&2 || true
        FLOT_NOTE="flotilla did not start (\`flotilla serve\` failed); its column is empty."
        FLOT_PID=""
        STATUS=1
    fi
}

# Both brokers start fresh for every scenario: the same clean state for each, and RSS figures (idle) that
# measure only that scenario's connections.
restart_brokers() {
    if [[ -n "$MOSQ_PID" ]]; then stop_pid "$MOSQ_PID" mosquitto; MOSQ_PID=""; fi
    if [[ -n "$FLOT_PID" ]]; then stop_pid "$FLOT_PID" flotilla; FLOT_PID=""; fi
    start_mosquitto
    start_flotilla
}

# --- 3. scenarios: for each one, mosquitto then flotilla, back to back ---------------------------------------------
run_one() {  # run_one LABEL PORT PID SCENARIO [QOS]
    local label=$1 port=$2 pid=$3 scenario=$4 qos=${5:-0}
    local args=(--host 127.0.0.1 --port "$port" --label "$label" --broker-pid "$pid" --threads "$THREADS"
        --sndbuf "$SNDBUF" --rcvbuf "$RCVBUF")
    local limit
    if [[ "$scenario" == idle ]]; then
        args+=(--connections "$IDLE_CONNECTIONS")
        limit=300
    else
        args+=(--qos "$qos" --payload "$PAYLOAD" --duration "$DURATION" --warmup "$WARMUP" --pairs "$PAIRS"
            --fan "$FAN" --max-inflight "$MAX_INFLIGHT" --rate "$LOAD_RATE")
        limit=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 120 }')
    fi
    kill -0 "$pid" 2>/dev/null || { log "$label is no longer running; skipping $scenario"; STATUS=1; return 0; }
    # mqtt-load prints the JSON line on stdout and the human line on stderr; exit 1 means the run counted errors.
    if ! timeout --kill-after=10 "$limit" "$MQTT_LOAD" run "$scenario" "${args[@]}" >>"$JSONL"; then
        log "$label $scenario qos$qos: mqtt-load reported errors or timed out"
        STATUS=1
    fi
    sleep 2  # let the broker finish closing the clients before the next run
}

for item in $SCENARIOS; do
    scenario=${item%%:*}
    qos=0
    [[ "$item" == *:* ]] && qos=${item#*:}
    restart_brokers
    run_one mosquitto "$MOSQ_PORT" "$MOSQ_PID" "$scenario" "$qos"
    if [[ -n "$FLOT_PID" ]]; then run_one flotilla "$FLOT_PORT" "$FLOT_PID" "$scenario" "$qos"; fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

MOSQ_VERSION=$("$MOSQUITTO_BIN" -h 2>/dev/null | head -1 || true)
if [[ -n "$MOSQ_PID" ]]; then stop_pid "$MOSQ_PID" mosquitto; MOSQ_PID=""; fi
if [[ -n "$FLOT_PID" ]]; then stop_pid "$FLOT_PID" flotilla; FLOT_PID=""; fi

# --- 4. report ---------------------------------------------------------------------------------------------------
mkdir -p "$BENCH_DIR/results"
STAMP=$(date -u +%Y-%m-%d)
OUT="$BENCH_DIR/results/$STAMP.md"
[[ -e "$OUT" ]] && OUT="$BENCH_DIR/results/$STAMP-$(date -u +%H%M%S).md"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]] && COMMIT="$COMMIT (with uncommitted changes)"
CPU_MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)

{
    echo "### Results of $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    "$MQTT_LOAD" report --baseline mosquitto --candidate flotilla "$JSONL"
    echo
    echo "↑ higher is better, ↓ lower is better. Ratio = flotilla / mosquitto. \"err\" marks a run that counted errors."
    if [[ -n "$FLOT_NOTE" ]]; then echo; echo "**Note:** $FLOT_NOTE"; fi
    echo
    echo "- machine: $(nproc) cores ($CPU_MODEL), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
    echo "- load average (1/5/15 min): $LOAD_START at start, $LOAD_END at end; broker and load generator share all cores"
    echo "- versions: $MOSQ_VERSION; flotilla and mqtt-load at commit $COMMIT; $(swift --version 2>/dev/null | head -1)"
    echo "- client settings (same for both brokers): payload $PAYLOAD B, warm-up $WARMUP s, measured $DURATION s,"\
        "p2p $PAIRS pairs, fanout/fanin $FAN clients, QoS 1 in-flight $MAX_INFLIGHT per publisher,"\
        "rate per publisher $([[ "$LOAD_RATE" == 0 ]] && echo unlimited || echo "$LOAD_RATE msg/s"),"\
        "SO_SNDBUF $SNDBUF B, SO_RCVBUF $RCVBUF B, $THREADS event-loop threads, idle keepalive 300 s, ulimit -n $NOFILE"
    echo "- mosquitto: \`max_inflight_messages 100\`, \`max_queued_messages 1000\`, \`persistence false\`"
} >"$WORK/section.md"

{
    echo "# Broker benchmark $STAMP"
    echo
    cat "$WORK/section.md"
    echo
    echo "<details><summary>mqtt-load JSON lines</summary>"
    echo
    echo '```'
    cat "$JSONL"
    echo '```'
    echo "</details>"
} >"$OUT"
log "wrote $OUT"

if [[ "$UPDATE_README" == 1 ]]; then
    README="$BENCH_DIR/README.md"
    if grep -q '<!-- results:begin -->' "$README" && grep -q '<!-- results:end -->' "$README"; then
        printf '\nFull output: [results/%s](results/%s)\n' "$(basename "$OUT")" "$(basename "$OUT")" >>"$WORK/section.md"
        awk -v section="$WORK/section.md" '
            /<!-- results:begin -->/ { print; while ((getline line < section) > 0) print line; skip = 1; next }
            /<!-- results:end -->/ { skip = 0 }
            !skip { print }' "$README" >"$WORK/README.md"
        cp "$WORK/README.md" "$README"
        log "updated the results section of $README"
    else
        log "README.md has no results markers; left it alone"
    fi
fi
cat "$WORK/section.md"
if [[ "$STATUS" == 0 ]]; then rm -rf "$WORK"; else log "something failed: broker logs kept in $WORK"; fi
exit "$STATUS"
