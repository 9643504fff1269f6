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
