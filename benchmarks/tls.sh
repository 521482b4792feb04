#!/usr/bin/env bash
# TLS benchmarks of issue 4, in one run on one machine, all on 127.0.0.1:
#   1. mutual-TLS handshakes/s, Flotilla's MQTTS listener vs `openssl s_server`, same server certificate and key,
#      same client CA, same client (`openssl s_time`, CLIENTS processes in parallel): full handshakes (TLS 1.3 and
#      TLS 1.2) and resumed handshakes (TLS 1.2 session id; see README.md for why not TLS 1.3 tickets);
#   2. MQTT QoS 0 throughput over mutual TLS, Flotilla's MQTTS listener vs mosquitto's TLS listener, same certificates,
#      same client (`mqtt-load --tls`).
# Writes benchmarks/results/<date>-tls.md and the TLS results section of benchmarks/README.md. Every wait is bounded.
#
# Environment (defaults in brackets):
#   DURATION [10] seconds per measurement   CLIENTS [2] parallel s_time processes   WARMUP [2]  PAYLOAD [64]
#   THREADS [nproc]  PAIRS [10]  FAN [100]  SNDBUF [32768]  RCVBUF [65536]
#   SCENARIOS ["p2p:0 fanout:0"] (mqtt-load scenarios over TLS)   HANDSHAKES [1 | 0 = skip part 1]
#   BUILD [1 | 0 = use existing release binaries]  UPDATE_README [1 | 0]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-2}
WARMUP=${WARMUP:-2}
PAYLOAD=${PAYLOAD:-64}
THREADS=${THREADS:-$(nproc)}
PAIRS=${PAIRS:-10}
FAN=${FAN:-100}
SNDBUF=${SNDBUF:-32768}
RCVBUF=${RCVBUF:-65536}
SCENARIOS=${SCENARIOS:-"p2p:0 fanout:0"}
HANDSHAKES=${HANDSHAKES:-1}
BUILD=${BUILD:-1}
UPDATE_README=${UPDATE_README:-1}

WORK=$(mktemp -d /tmp/flotilla-tlsbench.XXXXXX)
CERTS="$WORK/certs"
JSONL="$WORK/results.jsonl"
HS="$WORK/handshakes.tsv"  # server, mode, connections, seconds, per_s, server_cpu_pct
MQTT_LOAD="$BENCH_DIR/.build/release/mqtt-load"
FLOTILLA_BIN="$ROOT/.build/release/flotilla"
FLOT_PID=""
SSERVER_PID=""
MOSQ_PID=""
STATUS=0

LOG_TAG=tls.sh
# shellcheck source=benchmarks/lib.sh
source "$BENCH_DIR/lib.sh"

cleanup() {
    stop_pid "$SSERVER_PID" "openssl s_server"
    stop_pid "$MOSQ_PID" mosquitto
    stop_pid "$FLOT_PID" flotilla
}
trap cleanup EXIT

cpu_ticks() {  # utime + stime of a process, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# --- 1. tools and builds ----------------------------------------------------------------------------------------
command -v openssl >/dev/null || { log "the openssl command is needed"; exit 1; }
MOSQUITTO_BIN=$(command -v mosquitto || true)
[[ -z "$MOSQUITTO_BIN" && -x /usr/sbin/mosquitto ]] && MOSQUITTO_BIN=/usr/sbin/mosquitto
if [[ -z "$MOSQUITTO_BIN" ]]; then
    log "installing mosquitto (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
    MOSQUITTO_BIN=$(command -v mosquitto || echo /usr/sbin/mosquitto)
fi
if [[ "$BUILD" == 1 ]]; then  # one swift build at a time (2 shared cores)
    log "building flotilla (release)"
    swift build -c release --package-path "$ROOT" --product flotilla
    log "building mqtt-load (release)"
    swift build -c release --package-path "$BENCH_DIR" --product mqtt-load
fi
[[ -x "$FLOTILLA_BIN" ]] || { log "missing $FLOTILLA_BIN (run with BUILD=1)"; exit 1; }
[[ -x "$MQTT_LOAD" ]] || { log "missing $MQTT_LOAD (run with BUILD=1)"; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 2. Flotilla, which makes the certificates everyone uses ----------------------------------------------------
# With --mqtts-port and no --tls-cert the node makes <data>/tls/{dev-ca,server}.{pem,key} on first start and
# registers dev-ca ACTIVE for the default tenant; ops/make-device-cert.sh signs the client certificate with it.
PORTS=$(free_ports 8)
read -r FLOT_MQTT FLOT_METRICS FLOT_RAFT FLOT_BUS FLOT_TLS SSERVER_PORT MOSQ_TLS FLOT_GOSSIP <<<"$PORTS"
DATA="$WORK/flotilla-data"
mkdir -p "$DATA"
"$FLOTILLA_BIN" serve --data-dir "$DATA" --bind 127.0.0.1 --mqtt-port "$FLOT_MQTT" --api-port "$FLOT_METRICS" \
    --raft-port "$FLOT_RAFT" --bus-port "$FLOT_BUS" --gossip-port "$FLOT_GOSSIP" --mqtts-port "$FLOT_TLS" --log-level notice \
    >>"$WORK/flotilla.log" 2>&1 &
FLOT_PID=$!
wait_listening "$FLOT_TLS" "$FLOT_PID" flotilla || { tail -20 "$WORK/flotilla.log" >&2; exit 1; }
for _ in $(seq 1 150); do  # the development CA must be registered before a client certificate can be accepted
    grep -q "development CA registered" "$WORK/flotilla.log" && break
    sleep 0.2
done
grep -q "development CA registered" "$WORK/flotilla.log" || { log "flotilla did not register its CA"; exit 1; }
log "flotilla pid $FLOT_PID, MQTTS on 127.0.0.1:$FLOT_TLS"

mkdir -p "$CERTS"
cp "$DATA/tls/dev-ca.pem" "$DATA/tls/server.pem" "$DATA/tls/server.key" "$CERTS/"
bash "$ROOT/ops/make-device-cert.sh" "$DATA" bench-client "$CERTS" >/dev/null
CA="$CERTS/dev-ca.pem"; SRV_CERT="$CERTS/server.pem"; SRV_KEY="$CERTS/server.key"
CLI_CERT="$CERTS/bench-client.pem"; CLI_KEY="$CERTS/bench-client.key"
SERVER_KEY_TYPE=$(openssl x509 -in "$SRV_CERT" -noout -text | sed -n 's/^ *Public Key Algorithm: *//p' | head -1)
SERVER_KEY_BITS=$(openssl x509 -in "$SRV_CERT" -noout -text | sed -n 's/^ *Public-Key: *//p' | head -1)

# --- 3. openssl s_server and mosquitto with the same certificate, key and client CA ------------------------------
# s_server: -Verify 1 requests a client certificate and fails without one; -verify_return_error fails the
# handshake on a bad one. It serves one connection at a time (single-threaded). Its session cache is on by default.
openssl s_server -accept "127.0.0.1:$SSERVER_PORT" -cert "$SRV_CERT" -key "$SRV_KEY" -CAfile "$CA" \
    -Verify 1 -verify_return_error -quiet >>"$WORK/s_server.log" 2>&1 </dev/null &
SSERVER_PID=$!
wait_listening "$SSERVER_PORT" "$SSERVER_PID" "openssl s_server" || { tail -20 "$WORK/s_server.log" >&2; exit 1; }
log "openssl s_server pid $SSERVER_PID on 127.0.0.1:$SSERVER_PORT"

cat >"$WORK/mosquitto.conf" <<EOF
listener $MOSQ_TLS 127.0.0.1
cafile $CA
certfile $SRV_CERT
keyfile $SRV_KEY
require_certificate true
allow_anonymous true
persistence false
max_inflight_messages 100
max_queued_messages 1000
log_dest stdout
EOF
# mosquitto started as root switches to the mosquitto user; let it read the copies of the certificates.
if id mosquitto >/dev/null 2>&1; then chmod 755 "$WORK" "$CERTS"; chmod 644 "$CERTS"/*; fi
"$MOSQUITTO_BIN" -c "$WORK/mosquitto.conf" >>"$WORK/mosquitto.log" 2>&1 &
MOSQ_PID=$!
wait_listening "$MOSQ_TLS" "$MOSQ_PID" mosquitto || { tail -20 "$WORK/mosquitto.log" >&2; exit 1; }
log "mosquitto pid $MOSQ_PID, TLS listener on 127.0.0.1:$MOSQ_TLS"

# --- 4. resumption really happens? (s_client -sess_out, then -sess_in must say "Reused") -------------------------
check_resumption() {  # check_resumption PORT VERSION(-tls1_2|-tls1_3) -> prints "yes" or "no"
    local port=$1 version=$2 sess="$WORK/session$1$2.pem"
    rm -f "$sess"
    # stdin stays open 1 s so s_client reads the TLS 1.3 tickets the server sends after the handshake.
    (sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" "$version" -cert "$CLI_CERT" -key "$CLI_KEY" \
        -CAfile "$CA" -verify_return_error -sess_out "$sess" >/dev/null 2>&1 || true
    [[ -s "$sess" ]] || { echo "no (no session saved)"; return 0; }
    if (sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" "$version" -cert "$CLI_CERT" \
        -key "$CLI_KEY" -CAfile "$CA" -verify_return_error -sess_in "$sess" 2>/dev/null | grep -q '^Reused'; then
        echo yes
    else
        echo no
    fi
}
declare -A RESUMES
for target in s_server:"$SSERVER_PORT" flotilla:"$FLOT_TLS"; do
    for version in -tls1_2 -tls1_3; do
        RESUMES["${target%%:*}$version"]=$(check_resumption "${target#*:}" "$version")
        log "resumption ${target%%:*} $version: ${RESUMES["${target%%:*}$version"]}"
    done
done

# --- 5. handshakes/s ---------------------------------------------------------------------------------------------
# s_time does not read after the handshake, so under TLS 1.3 it never sees the server's session tickets and
# `-reuse` silently makes full handshakes; resumption is therefore measured with TLS 1.2 (session id), where s_time
# marks each reused connection with 'r'. Both servers get the same clients: CLIENTS s_time processes in parallel.
measure_handshakes() {  # measure_handshakes NAME PORT PID MODE(full13|full12|resumed12)
    local name=$1 port=$2 pid=$3 mode=$4 flags
    case "$mode" in
        full13) flags=(-new -tls1_3) ;;
        full12) flags=(-new -tls1_2) ;;
        resumed12) flags=(-reuse -tls1_2) ;;
    esac
    kill -0 "$pid" 2>/dev/null || { log "$name is not running; skipping $mode"; STATUS=1; return 0; }
    local t0 t1 c0 c1 i total=0 reused=0 fresh=0 clients=()
    c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
    for i in $(seq 1 "$CLIENTS"); do
        timeout --kill-after=5 $((DURATION + 30)) openssl s_time -connect "127.0.0.1:$port" -cert "$CLI_CERT" \
            -key "$CLI_KEY" -CAfile "$CA" "${flags[@]}" -time "$DURATION" >"$WORK/s_time.$name.$mode.$i" 2>&1 &
        clients+=($!)
    done
    wait "${clients[@]}" || true
    t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
    for i in $(seq 1 "$CLIENTS"); do
        local f="$WORK/s_time.$name.$mode.$i" n
        # The last "N connections in" line is the measured phase (with -reuse, the first line is the priming one).
        n=$(grep -o '^[0-9]* connections in [0-9.]*s' "$f" | tail -1 | cut -d' ' -f1)
        [[ -n "$n" ]] || { log "$name $mode: s_time $i printed no result:"; tail -5 "$f" >&2; STATUS=1; n=0; }
        total=$((total + n))
        reused=$((reused + $(grep -E '^[r*]+$' "$f" | tr -cd 'r' | wc -c)))
        fresh=$((fresh + $(grep -E '^[r*]+$' "$f" | tr -cd '*' | wc -c)))
    done
    awk -v n="$name" -v m="$mode" -v c="$total" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" \
        -v hz="$(getconf CLK_TCK)" -v r="$reused" -v f="$fresh" \
        'BEGIN { s = t1 - t0; printf "%s\t%s\t%d\t%.2f\t%.1f\t%.0f\t%d\t%d\n", n, m, c, s, c / s, 100 * (c1 - c0) / hz / s, r, f }' \
        >>"$HS"
    log "$(tail -1 "$HS")"
    sleep 1
}
if [[ "$HANDSHAKES" == 1 ]]; then
    for mode in full13 full12 resumed12; do
        measure_handshakes s_server "$SSERVER_PORT" "$SSERVER_PID" "$mode"
        measure_handshakes flotilla "$FLOT_TLS" "$FLOT_PID" "$mode"
    done
fi
stop_pid "$SSERVER_PID" "openssl s_server"; SSERVER_PID=""

# --- 6. QoS 0 over TLS: mosquitto then Flotilla, same client and certificates -------------------------------------
run_load() {  # run_load LABEL PORT PID SCENARIO QOS
    local label=$1 port=$2 pid=$3 scenario=$4 qos=$5
    kill -0 "$pid" 2>/dev/null || { log "$label is not running; skipping $scenario"; STATUS=1; return 0; }
    if ! timeout --kill-after=10 $((DURATION + WARMUP + 120)) "$MQTT_LOAD" run "$scenario" --host 127.0.0.1 \
        --port "$port" --label "$label" --broker-pid "$pid" --threads "$THREADS" --qos "$qos" --payload "$PAYLOAD" \
        --duration "$DURATION" --warmup "$WARMUP" --pairs "$PAIRS" --fan "$FAN" --sndbuf "$SNDBUF" --rcvbuf "$RCVBUF" \
        --tls --ca "$CA" --cert "$CLI_CERT" --key "$CLI_KEY" --server-name localhost >>"$JSONL"; then
        log "$label $scenario qos$qos over TLS: mqtt-load reported errors or timed out"
        STATUS=1
    fi
    sleep 2
}
for item in $SCENARIOS; do
    scenario=${item%%:*}; qos=0
    [[ "$item" == *:* ]] && qos=${item#*:}
    run_load mosquitto "$MOSQ_TLS" "$MOSQ_PID" "$scenario" "$qos"
    run_load flotilla "$FLOT_TLS" "$FLOT_PID" "$scenario" "$qos"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
MOSQ_VERSION=$("$MOSQUITTO_BIN" -h 2>/dev/null | head -1 || true)
stop_pid "$MOSQ_PID" mosquitto; MOSQ_PID=""
stop_pid "$FLOT_PID" flotilla; FLOT_PID=""

# --- 7. report -------------------------------------------------------------------------------------------------
mkdir -p "$BENCH_DIR/results"
STAMP=$(date -u +%Y-%m-%d)
OUT="$BENCH_DIR/results/$STAMP-tls.md"
[[ -e "$OUT" ]] && OUT="$BENCH_DIR/results/$STAMP-$(date -u +%H%M%S)-tls.md"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n "$(git -C "$ROOT" status --porcelain -- Sources Package.swift benchmarks/Sources benchmarks/Package.swift 2>/dev/null)" ]] \
    && COMMIT="$COMMIT (with uncommitted changes)"
CPU_MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)

hs_rate() { awk -F'\t' -v n="$1" -v m="$2" '$1 == n && $2 == m { print $5 }' "$HS" 2>/dev/null; }
hs_row() {  # hs_row MODE LABEL
    local mode=$1 label=$2 s f
    s=$(hs_rate s_server "$mode"); f=$(hs_rate flotilla "$mode")
    local sc fc
    sc=$(awk -F'\t' -v m="$mode" '$1 == "s_server" && $2 == m { print $6 }' "$HS")
    fc=$(awk -F'\t' -v m="$mode" '$1 == "flotilla" && $2 == m { print $6 }' "$HS")
    awk -v l="$label" -v s="$s" -v f="$f" -v sc="$sc" -v fc="$fc" 'BEGIN {
        ratio = (s > 0 && f != "") ? sprintf("%.2f×", f / s) : "–"
        verdict = (s > 0 && f != "") ? (f / s >= 0.8 ? "met" : "**not met**") : "–"
        # CPU per handshake: % of one core / (handshakes/s) → ms of server CPU per handshake
        sms = (s > 0) ? sprintf(" (%.2f ms)", sc * 10 / s) : ""
        fms = (f > 0) ? sprintf(" (%.2f ms)", fc * 10 / f) : ""
        printf "| %s | %s | %s | %s | %s | %s%%%s | %s%%%s |\n", l, (s == "" ? "–" : sprintf("%.0f", s)),
            (f == "" ? "–" : sprintf("%.0f", f)), ratio, verdict, sc, sms, fc, fms }'
}

{
    echo "### TLS results of $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    if [[ -s "$HS" ]]; then
        echo "**Mutual-TLS handshakes/s** (\`openssl s_time\`, $CLIENTS processes in parallel, $DURATION s each; target ≥ 0.8× s_server)"
        echo
        echo "| handshake | s_server /s | flotilla /s | ratio | target | s_server CPU (per handshake) | flotilla CPU (per handshake) |"
        echo "|---|---:|---:|---:|---|---:|---:|"
        hs_row full13 "full, TLS 1.3"
        hs_row full12 "full, TLS 1.2"
        hs_row resumed12 "resumed, TLS 1.2 (session id)"
        echo
        echo "CPU = server CPU time over the measurement as % of one core, and per handshake. s_server is single-threaded"
        echo "and serves one connection at a time; Flotilla has 2 event loops. Resumed runs, connections s_time marked reused ('r') / full ('*'):"\
            "s_server $(awk -F'\t' '$1 == "s_server" && $2 == "resumed12" { print $7 " / " $8 }' "$HS"),"\
            "flotilla $(awk -F'\t' '$1 == "flotilla" && $2 == "resumed12" { print $7 " / " $8 }' "$HS")."
        echo "Resumption check with \`s_client -sess_out\`/\`-sess_in\` (\"Reused\"):"\
            "s_server TLS 1.2 ${RESUMES[s_server-tls1_2]}, TLS 1.3 ${RESUMES[s_server-tls1_3]};"\
            "flotilla TLS 1.2 ${RESUMES[flotilla-tls1_2]}, TLS 1.3 ${RESUMES[flotilla-tls1_3]}."
        echo
    fi
    if [[ -s "$JSONL" ]]; then
        echo "**MQTT QoS 0 over mutual TLS** (\`mqtt-load --tls\`; target ≥ 1.0× mosquitto)"
        echo
        "$MQTT_LOAD" report --baseline mosquitto --candidate flotilla "$JSONL"
        echo
        echo "↑ higher is better, ↓ lower is better. Ratio = flotilla / mosquitto."
        echo
    fi
    echo "- machine: $(nproc) cores ($CPU_MODEL), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r); shared with other jobs"
    echo "- load average (1/5/15 min): $LOAD_START at start, $LOAD_END at end; servers and clients share all cores"
    echo "- versions: $(openssl version); $MOSQ_VERSION; flotilla and mqtt-load at commit $COMMIT; $(swift --version 2>/dev/null | head -1)"
    echo "- certificates: the node's development CA and server certificate ($SERVER_KEY_TYPE, $SERVER_KEY_BITS),"\
        "client certificate from ops/make-device-cert.sh; the same files for s_server, mosquitto and Flotilla"
    echo "- mqtt-load: swift-nio-ssl (BoringSSL) client, TLS 1.2/1.3 offered, payload $PAYLOAD B,"\
        "warm-up $WARMUP s, measured $DURATION s, p2p $PAIRS pairs, fanout $FAN subscribers, SO_SNDBUF $SNDBUF B,"\
        "SO_RCVBUF $RCVBUF B, $THREADS event-loop threads"
} >"$WORK/section.md"

{
    echo "# TLS benchmark $STAMP"
    echo
    cat "$WORK/section.md"
    echo
    echo "<details><summary>raw figures</summary>"
    echo
    echo '```'
    echo "# handshakes: server mode connections seconds per_s server_cpu_pct reused full"
    cat "$HS" 2>/dev/null || true
    echo "# mqtt-load JSON lines"
    cat "$JSONL" 2>/dev/null || true
    echo '```'
    echo "</details>"
} >"$OUT"
log "wrote $OUT"

if [[ "$UPDATE_README" == 1 ]]; then
    README="$BENCH_DIR/README.md"
    if grep -q '<!-- tls-results:begin -->' "$README" && grep -q '<!-- tls-results:end -->' "$README"; then
        printf '\nFull output: [results/%s](results/%s)\n' "$(basename "$OUT")" "$(basename "$OUT")" >>"$WORK/section.md"
        awk -v section="$WORK/section.md" '
            /<!-- tls-results:begin -->/ { print; while ((getline line < section) > 0) print line; skip = 1; next }
            /<!-- tls-results:end -->/ { skip = 0 }
            !skip { print }' "$README" >"$WORK/README.md"
        cp "$WORK/README.md" "$README"
        log "updated the TLS results section of $README"
    else
        log "README.md has no tls-results markers; left it alone"
    fi
fi
cat "$WORK/section.md"
if [[ "$STATUS" == 0 ]]; then rm -rf "$WORK"; else log "something failed: logs kept in $WORK"; fi
exit "$STATUS"
