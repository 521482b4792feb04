# Shell helpers shared by benchmarks/run.sh and benchmarks/tls.sh (sourced, not run). The caller sets LOG_TAG
# before sourcing. Everything stays on 127.0.0.1 and every wait is bounded.

log() { printf '[%s %s] %s\n' "${LOG_TAG:-bench}" "$(date -u +%H:%M:%S)" "$*" >&2; }

stop_pid() {  # stop_pid PID NAME: TERM, wait up to 10 s, then KILL. Only ever our own child processes.
    local pid=$1 name=$2
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { log "stopped $name ($pid)"; return 0; }; sleep 0.2; done
    log "$name ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# free_ports N: N distinct free TCP ports in 20000-32000, on one line. Below the ephemeral range (32768+), so 10k
# client sockets never collide with a listener. One call for all of a run's ports: a function run in $(…) cannot
# remember across calls which ports it already handed out.
free_ports() {
    local n=$1 port picked=" " count=0
    for _ in $(seq 1 $((200 * n))); do
        port=$((20000 + RANDOM % 12000))
        [[ "$picked" == *" $port "* ]] && continue
        if [[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]; then
            picked="$picked$port "
            count=$((count + 1))
            if (( count == n )); then echo $picked; return 0; fi
        fi
    done
    log "no $n free ports found"; return 1
}

wait_listening() {  # wait_listening PORT PID NAME: up to 30 s
    local port=$1 pid=$2 name=$3
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || { log "$name exited during start-up"; return 1; }
        [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && return 0
        sleep 0.2
    done
    log "$name is not listening on $port after 30 s"; return 1
}
