#!/usr/bin/env bash
# Sluice test suite: formatting, lints, tests, doc tests. `.ci/run` runs this script.
# Respects CARGO_TARGET_DIR. Uses cargo-nextest when it is installed, else `cargo test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format: cargo fmt --all --check"
cargo fmt --all --check

step "lint: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The workspace build turns the `kafka` feature on; the crates must also build and lint without it.
step "lint without kafka: cargo clippy -p sluice-connect -p sluice-sql --no-default-features --all-targets"
cargo clippy -p sluice-connect -p sluice-sql --no-default-features --all-targets -- -D warnings

# The Kafka tests talk to a real Kafka-protocol broker (tansu, see scripts/kafka-broker.sh):
# started here, stopped on exit, failed or not. With SLUICE_KAFKA_BOOTSTRAP set, a Kafka test
# that cannot reach the broker fails instead of skipping.
step "kafka test broker: scripts/kafka-broker.sh start"
export SLUICE_KAFKA_DIR="${SLUICE_KAFKA_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka.XXXXXX")}"
export SLUICE_S3_DIR="${SLUICE_S3_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sluice-s3.XXXXXX")}"
trap 'bash scripts/kafka-broker.sh stop || true; bash scripts/s3-server.sh stop || true' EXIT
SLUICE_KAFKA_BOOTSTRAP="$(bash scripts/kafka-broker.sh start)"
export SLUICE_KAFKA_BOOTSTRAP
echo "SLUICE_KAFKA_BOOTSTRAP=$SLUICE_KAFKA_BOOTSTRAP"
# A third-party client on the other side of the Kafka job test (Python confluent-kafka).
SLUICE_KAFKA_PYTHONPATH="$(bash scripts/kafka-broker.sh client)"
export SLUICE_KAFKA_PYTHONPATH

# Checkpoints in an S3-compatible store (feature `s3`): a real S3 server (moto), started here.
step "s3 test server: scripts/s3-server.sh start"
SLUICE_S3_ENDPOINT="$(bash scripts/s3-server.sh start)"
export SLUICE_S3_ENDPOINT
echo "SLUICE_S3_ENDPOINT=$SLUICE_S3_ENDPOINT"

if cargo nextest --version >/dev/null 2>&1; then
    step "tests: cargo nextest run --workspace --no-fail-fast"
    cargo nextest run --workspace --no-fail-fast
else
    step "tests: cargo test --workspace (cargo-nextest not installed)"
    cargo test --workspace --no-fail-fast
fi

step "doc tests: cargo test --workspace --doc"
cargo test --workspace --doc

step "all checks passed"
