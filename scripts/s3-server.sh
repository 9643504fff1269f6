#!/usr/bin/env bash
# An S3-compatible test server on 127.0.0.1 for Sluice's checkpoint-store tests.
#
#   scripts/s3-server.sh start   # install if missing, start on a free port, create the bucket
#                                # `sluice-test`, print the endpoint (http://127.0.0.1:PORT)
#   scripts/s3-server.sh stop    # stop the server started by `start`
#
# The server is `moto_server` from the PyPI package moto[server] (an in-memory S3 emulation),
# installed with pip into SLUICE_MOTO_DIR (default $HOME/.cache/sluice/moto). SLUICE_S3_DIR
# (default $HOME/.cache/sluice/s3-server) holds its pid and log.
set -euo pipefail

MOTO_PKG="moto[server]==5.2.5"
MOTO_DIR="${SLUICE_MOTO_DIR:-$HOME/.cache/sluice/moto}"
STATE_DIR="${SLUICE_S3_DIR:-$HOME/.cache/sluice/s3-server}"
PID_FILE="$STATE_DIR/pid"
LOG_FILE="$STATE_DIR/server.log"

die() { echo "s3-server: $*" >&2; exit 1; }

install() {
    if ! PYTHONPATH="$MOTO_DIR" python3 -c 'import moto.server' 2>/dev/null; then
        echo "s3-server: installing $MOTO_PKG into $MOTO_DIR" >&2
        python3 -m pip install --quiet --disable-pip-version-check --target "$MOTO_DIR" "$MOTO_PKG" >&2 \
            || die "pip install $MOTO_PKG failed"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    install
    mkdir -p "$STATE_DIR"
    stop_quietly
    local port endpoint
    port="$(free_port)"
    endpoint="http://127.0.0.1:$port"
    PYTHONPATH="$MOTO_DIR" nohup python3 -m moto.server -H 127.0.0.1 -p "$port" >"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 100); do
        if curl -sf -X PUT "$endpoint/sluice-test" >/dev/null 2>&1; then
            echo "$endpoint"
            return 0
        fi
        sleep 0.1
    done
    cat "$LOG_FILE" >&2 || true
    die "moto_server did not answer on $endpoint"
}

stop_quietly() {
    if [ -f "$PID_FILE" ]; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
        rm -f "$PID_FILE"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop_quietly ;;
    *) die "usage: $0 start|stop" ;;
esac
