#!/usr/bin/env bash
# Layering check (STYLE C1): pure modules (L0–L2) never import I/O, TLS, HTTP or C modules, and never read a
# clock or start a task on their own. Exits non-zero listing the offending lines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PURE=(Sources/IoTTypes Sources/MQTTCodec Sources/TopicTrie Sources/BusProtocol Sources/Broker Sources/ClusterState Sources/TLSConfig
      Sources/Policy Sources/SigV4 Sources/Shadow Sources/Gossip Sources/SimKit)
FORBIDDEN_IMPORTS='^\s*(@_implementationOnly\s+|internal\s+|public\s+)?import\s+(NIOPosix|NIOSSL|NIOHTTP1|NIOEmbedded|Hummingbird|CRaft|COpenSSL|CLZ4|Foundation|ServiceLifecycle|Metrics)\b'
FORBIDDEN_CALLS='(ContinuousClock\(\)\.now|SuspendingClock\(\)\.now|Date\(\)|DispatchTime\.now|NIODeadline\.now|Task\s*\{|Task\.detached)'
status=0
for dir in "${PURE[@]}"; do
    [ -d "$dir" ] || continue
    if grep -rnE "$FORBIDDEN_IMPORTS" "$dir" --include='*.swift'; then status=1; fi
    if grep -rnE "$FORBIDDEN_CALLS" "$dir" --include='*.swift' | grep -v '^\s*///'; then status=1; fi
done
# ControlPlane holds the API logic as pure mappings (it may use Foundation's JSON coders, nothing else of the
# system): no NIO, no raft or cluster shells, no clock, no tasks. Its HTTP shell and cluster backend live elsewhere.
NO_IO=(Sources/ControlPlane)
NO_IO_IMPORTS='^\s*(@_implementationOnly\s+|internal\s+|public\s+)?import\s+(NIO[A-Za-z0-9]*|Hummingbird|CRaft|RaftStore|ClusterNode|ClusterService|ClusterBus|BusProtocol|COpenSSL|CLZ4|ServiceLifecycle|Metrics|Logging)\b'
for dir in "${NO_IO[@]}"; do
    [ -d "$dir" ] || continue
    if grep -rnE "$NO_IO_IMPORTS" "$dir" --include='*.swift'; then status=1; fi
    if grep -rnE "$FORBIDDEN_CALLS" "$dir" --include='*.swift' | grep -v '^\s*///'; then status=1; fi
done
# STYLE C7: libraft stays behind RaftStore, so swapping it touches one target.
if grep -rnE '^\s*(@_implementationOnly\s+|internal\s+|public\s+)?import\s+CRaft\b' Sources --include='*.swift' | grep -v '^Sources/RaftStore/'; then
    echo "check-imports: only RaftStore may import CRaft (STYLE C7)" >&2
    status=1
fi
# STYLE C7: system OpenSSL stays behind the TLS shell (one TLS stack, C types never escape it).
if grep -rnE '^\s*(@_implementationOnly\s+|internal\s+|public\s+)?import\s+COpenSSL\b' Sources --include='*.swift' | grep -v '^Sources/TLS/'; then
    echo "check-imports: only TLS may import COpenSSL (STYLE C7)" >&2
    status=1
fi
if [ $status -ne 0 ]; then
    echo "check-imports: pure modules must take time and I/O from their shells (STYLE C1, C12)" >&2
else
    echo "check-imports: layering OK (${PURE[*]}; no I/O: ${NO_IO[*]})"
fi
exit $status
