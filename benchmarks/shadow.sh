#!/usr/bin/env bash
# Device shadow updates over MQTT (issue 6): DEVICES devices (default 1000), each a closed loop of one classic-shadow
# update at a time (`mqtt-load run shadow`), against one Flotilla node and against a local three-node cluster (the
# devices spread evenly over the three nodes, one mqtt-load per node, run at the same time). Reports accepted
# updates/s and update → accepted latency (p50/p99) to stdout and benchmarks/results/shadow-<time>.md.
# Release builds; loopback only; every wait bounded. No peer: mosquitto has no shadow service.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_TAG=bench-shadow
source benchmarks/lib.sh

DEVICES=${DEVICES:-1000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
QOS=${QOS:-1}
FLOTILLA_BIN=${FLOTILLA_BIN:-$PWD/.build/release/flotilla}
LOAD=benchmarks/.build/release/mqtt-load
[[ -x "$FLOTILLA_BIN" ]] || { log "building flotilla (release)"; swift build -c release --product flotilla >&2; }
[[ -x "$LOAD" ]] || { log "building mqtt-load (release)"; (cd benchmarks && swift build -c release >&2); }

WORK=$(mktemp -d /tmp/flotilla-bench-shadow.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do stop_pid "$p" flotilla; done; rm -rf "$WORK"; }
trap cleanup EXIT
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=benchmarks/results/shadow-$STAMP.md
mkdir -p benchmarks/results

# start_node ID MQTT API RAFT BUS GOSSIP PEERS
start_node() {
    local id=$1 mqtt=$2 api=$3 raft=$4 bus=$5 gossip=$6 peers=$7
    local args=(serve --node-id "$id" --data-dir "$WORK/node-$id" --bind 127.0.0.1 --mqtt-port "$mqtt"
                --api-port "$api" --raft-port "$raft" --bus-port "$bus" --gossip-port "$gossip" --log-level warning --no-default-credentials)
    if [[ -n "$peers" ]]; then args+=(--peers "$peers" --bootstrap); fi
    "$FLOTILLA_BIN" "${args[@]}" >"$WORK/node-$id.log" 2>&1 &
    PIDS+=($!)
    wait_listening "$mqtt" "$!" "node $id"
}

run_load() {  # run_load PORT DEVICES LABEL OUTFILE
    "$LOAD" run shadow --host 127.0.0.1 --port "$1" --pairs "$2" --qos "$QOS" --duration "$DURATION" \
        --warmup "$WARMUP" --label "$3" --connect-concurrency 100 >"$4" 2>&1
}

summary() {  # summary FILE…: accepted/s summed, the highest p50 and p99 (ms) among the loads
    python3 - "$@" <<'PYEOF'
import json, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.startswith("{")]
rate = sum(r["received_per_s"] for r in rows)
errors = sum(r["errors"] for r in rows)
p50 = max(r.get("p50_us", 0) for r in rows) / 1000
p99 = max(r.get("p99_us", 0) for r in rows) / 1000
print(f"{rate:,.0f} updates/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {errors}")
PYEOF
}

read -r M1 A1 R1 B1 G1 M2 A2 R2 B2 G2 M3 A3 R3 B3 G3 <<<"$(free_ports 15)"

log "one node, $DEVICES devices"
start_node 1 "$M1" "$A1" "$R1" "$B1" "$G1" ""
sleep 2
run_load "$M1" "$DEVICES" flotilla-1node "$WORK/one.json"
ONE=$(summary "$WORK/one.json")
log "one node: $ONE"
for p in "${PIDS[@]}"; do stop_pid "$p" flotilla; done
PIDS=()
rm -rf "$WORK"/node-*

log "three nodes, $DEVICES devices spread over them"
PEERS1="2@127.0.0.1:$R2:$B2:$G2,3@127.0.0.1:$R3:$B3:$G3"
PEERS2="1@127.0.0.1:$R1:$B1:$G1,3@127.0.0.1:$R3:$B3:$G3"
PEERS3="1@127.0.0.1:$R1:$B1:$G1,2@127.0.0.1:$R2:$B2:$G2"
start_node 1 "$M1" "$A1" "$R1" "$B1" "$G1" "$PEERS1"
start_node 2 "$M2" "$A2" "$R2" "$B2" "$G2" "$PEERS2"
start_node 3 "$M3" "$A3" "$R3" "$B3" "$G3" "$PEERS3"
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$A1/cluster/status" 2>/dev/null | grep -q '"leaderID":[1-3]' && break
    sleep 0.2
done
sleep 2
per=$(( (DEVICES + 2) / 3 ))
run_load "$M1" "$per" flotilla-3nodes-n1 "$WORK/three-1.json" &
L1=$!
run_load "$M2" "$per" flotilla-3nodes-n2 "$WORK/three-2.json" &
L2=$!
run_load "$M3" "$per" flotilla-3nodes-n3 "$WORK/three-3.json" &
L3=$!
wait "$L1" "$L2" "$L3"
THREE=$(summary "$WORK/three-1.json" "$WORK/three-2.json" "$WORK/three-3.json")
log "three nodes: $THREE"

{
    echo "# Shadow updates over MQTT ($STAMP)"
    echo
    echo "$DEVICES devices, QoS $QOS, each one update in flight; ${DURATION} s measured after ${WARMUP} s warm-up;"
    echo "commit $(git rev-parse --short HEAD); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| cluster | accepted updates/s, update → accepted latency |"
    echo "|---|---|"
    echo "| 1 node | $ONE |"
    echo "| 3 nodes (devices spread evenly; p50/p99: the highest of the three loads) | $THREE |"
} | tee "$OUT"
