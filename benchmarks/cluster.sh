#!/usr/bin/env bash
# Cross-node routing on a local three-node cluster (issue 7, "Done when" 3), in one run: for each scenario the
# same load with publishers and subscribers on node 1 (same-node), with subscribers on node 2 (cross-node: every
# message crosses a forwarding link), and against mosquitto (the single-node peer), back to back. Two passes:
#   throughput — publishers as fast as backpressure allows;
#   latency    — a fixed rate (RATE msg/s per publisher), where p50/p99 mean delivery latency, not queueing.
# Then benchmarks/membership.py: route propagation and failure detection next to Serf.
# Writes benchmarks/results/cluster-<time>.md. Release builds; loopback only; every wait bounded.
#
# Environment: DURATION [10] WARMUP [3] PAIRS [10] FAN [100] RATE [1000] PAYLOAD [64]
#   SCENARIOS ["p2p:0 p2p:1 fanout:0 fanout:1"] MEMBERSHIP [1 | 0 = skip membership.py]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_TAG=bench-cluster
source benchmarks/lib.sh

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
PAIRS=${PAIRS:-10}
FAN=${FAN:-100}
RATE=${RATE:-1000}
PAYLOAD=${PAYLOAD:-64}
SCENARIOS=${SCENARIOS:-"p2p:0 p2p:1 fanout:0 fanout:1"}
MEMBERSHIP=${MEMBERSHIP:-1}
export FLOTILLA_BIN=${FLOTILLA_BIN:-$PWD/.build/release/flotilla}
LOAD=benchmarks/.build/release/mqtt-load
[[ -x "$FLOTILLA_BIN" ]] || { log "building flotilla (release)"; swift build -c release --product flotilla >&2; }
[[ -x "$LOAD" ]] || { log "building mqtt-load (release)"; (cd benchmarks && swift build -c release >&2); }
MOSQUITTO_BIN=$(command -v mosquitto || echo /usr/sbin/mosquitto)

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=benchmarks/results/cluster-$STAMP.md
mkdir -p benchmarks/results
WORK=$(mktemp -d /tmp/flotilla-bench-cluster.XXXXXX)
export CLUSTER_DATA="$WORK/cluster" CLUSTER_LOG_LEVEL=warning CLUSTER_WAIT=60
BASE=$(python3 -c "import sys; sys.path.insert(0, 'Tests/integration'); import cluster_kit; print(cluster_kit.free_port_block(30))")
export CLUSTER_BASE_PORT=$BASE
N1_MQTT=$BASE; N2_MQTT=$((BASE + 10))
read -r MOSQ_PORT <<<"$(free_ports 1)"
MOSQ_PID=""
cleanup() { cluster/down >/dev/null 2>&1 || true; stop_pid "$MOSQ_PID" mosquitto; rm -rf "$WORK"; }
trap cleanup EXIT

printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000\n' "$MOSQ_PORT" >"$WORK/mosquitto.conf"
"$MOSQUITTO_BIN" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
MOSQ_PID=$!
wait_listening "$MOSQ_PORT" "$MOSQ_PID" mosquitto
cluster/up 3 >&2
sleep 2

run() {  # run LABEL PORT SUBPORT SCENARIO QOS RATE FILE
    local args=(run "$4" --host 127.0.0.1 --port "$2" --label "$1" --qos "$5" --rate "$6" --payload "$PAYLOAD"
                --duration "$DURATION" --warmup "$WARMUP" --pairs "$PAIRS" --fan "$FAN" --max-inflight 100)
    [[ -n "$3" ]] && args+=(--sub-port "$3")
    timeout --kill-after=10 $((DURATION + WARMUP + 120)) "$LOAD" "${args[@]}" >>"$7" || log "$1 $4 qos$5: errors or timeout"
    sleep 1
}

for pass in throughput latency; do
    rate=0
    [[ $pass == latency ]] && rate=$RATE
    for item in $SCENARIOS; do
        scenario=${item%%:*}; qos=${item#*:}
        log "$pass: $scenario qos$qos"
        run mosquitto "$MOSQ_PORT" "" "$scenario" "$qos" "$rate" "$WORK/$pass.jsonl"
        run same-node "$N1_MQTT" "" "$scenario" "$qos" "$rate" "$WORK/$pass.jsonl"
        run cross-node "$N1_MQTT" "$N2_MQTT" "$scenario" "$qos" "$rate" "$WORK/$pass.jsonl"
    done
done
cluster/down >&2
stop_pid "$MOSQ_PID" mosquitto; MOSQ_PID=""

{
    echo "# Cross-node routing ($STAMP)"
    echo
    echo "Three local nodes (release), publishers on node 1; *cross-node*: subscribers on node 2. Payload $PAYLOAD B,"
    echo "p2p $PAIRS pairs, fanout $FAN subscribers, ${DURATION} s measured after ${WARMUP} s warm-up; commit"
    echo "$(git rev-parse --short HEAD); $(nproc) cores shared by the three nodes, mosquitto and the load generator."
    for pass in throughput latency; do
        echo
        if [[ $pass == throughput ]]; then
            echo "## Throughput (as fast as backpressure allows)"
        else
            echo "## Latency at a fixed rate ($RATE msg/s per publisher)"
        fi
        echo
        echo "cross-node / same-node:"
        echo
        "$LOAD" report --baseline same-node --candidate cross-node "$WORK/$pass.jsonl"
        echo
        echo "cross-node / mosquitto (one mosquitto process, no cluster):"
        echo
        "$LOAD" report --baseline mosquitto --candidate cross-node "$WORK/$pass.jsonl"
    done
    echo
    echo "<details><summary>mqtt-load JSON lines</summary>"
    echo
    echo '```'
    cat "$WORK"/*.jsonl
    echo '```'
    echo "</details>"
} >"$OUT"
log "wrote $OUT"
cat "$OUT"

if [[ $MEMBERSHIP == 1 ]]; then
    command -v serf >/dev/null || { log "installing serf (apt-get)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq serf >/dev/null; }
    python3 -m pip show paho-mqtt >/dev/null 2>&1 || python3 -m pip install -q paho-mqtt
    python3 benchmarks/membership.py | tee -a "$OUT"
fi
