# Shared by cluster/up, cluster/down and cluster/status (sourced, not run).
#
# Node i (1-based) of a local cluster, all on 127.0.0.1:
#   default:                 MQTT 1883+10(i-1), metrics 8080+10(i-1), raft 7000+10(i-1), bus 7001+10(i-1),
#                            gossip 7002+10(i-1)
#   CLUSTER_BASE_PORT=B:     MQTT B+10(i-1), metrics B+10(i-1)+1, raft B+10(i-1)+2, bus B+10(i-1)+3,
#                            gossip B+10(i-1)+4
# Environment: FLOTILLA_BIN (default .build/release/flotilla), CLUSTER_DATA (default cluster/.data),
# CLUSTER_BASE_PORT, CLUSTER_LOG_LEVEL (default info), CLUSTER_WAIT (seconds to wait for a leader, default 30).
CLUSTER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLOTILLA_BIN="${FLOTILLA_BIN:-$CLUSTER_ROOT/.build/release/flotilla}"
CLUSTER_DATA="${CLUSTER_DATA:-$CLUSTER_ROOT/cluster/.data}"
CLUSTER_HOST=127.0.0.1

# node_ports I → sets MQTT_PORT METRICS_PORT RAFT_PORT BUS_PORT GOSSIP_PORT
node_ports() {
    local k=$(( ($1 - 1) * 10 ))
    if [ -n "${CLUSTER_BASE_PORT:-}" ]; then
        MQTT_PORT=$(( CLUSTER_BASE_PORT + k )); METRICS_PORT=$(( CLUSTER_BASE_PORT + k + 1 ))
        RAFT_PORT=$(( CLUSTER_BASE_PORT + k + 2 )); BUS_PORT=$(( CLUSTER_BASE_PORT + k + 3 ))
        GOSSIP_PORT=$(( CLUSTER_BASE_PORT + k + 4 ))
    else
        MQTT_PORT=$(( 1883 + k )); METRICS_PORT=$(( 8080 + k )); RAFT_PORT=$(( 7000 + k )); BUS_PORT=$(( 7001 + k ))
        GOSSIP_PORT=$(( 7002 + k ))
    fi
}

# The nodes cluster/up started: one node-I.ports file each ("mqtt metrics raft bus").
started_nodes() {
    local f
    for f in "$CLUSTER_DATA"/node-*.ports; do
        [ -e "$f" ] || continue
        f="${f##*/node-}"; echo "${f%.ports}"
    done | sort -n
}

# status_json I → the node's GET /cluster/status body (empty if it does not answer)
status_json() {
    local metrics
    read -r _ metrics _ _ < "$CLUSTER_DATA/node-$1.ports"
    curl -fsS --max-time 2 "http://$CLUSTER_HOST:$metrics/cluster/status" 2>/dev/null || true
}
