#!/usr/bin/env bash
# Real packages for the repository-setup tests and benchmark, fetched once from the
# registries so the tests themselves serve them from 127.0.0.1 and never reach the internet:
#
#   - wheels (six, iniconfig) for a PyPI "simple" index the tests serve themselves;
#   - a `cargo vendor` directory (itoa, ryu, memchr) that a fixture's .cargo/config.toml
#     uses as its crates.io source.
#
#   eval "$(.ci/setup-fixtures.sh)"   idempotent, quick when present; prints
#                                     `export AGENTKIT_SETUP_FIXTURES=...`
#
# Layout: ${XDG_CACHE_HOME:-$HOME/.cache}/agentkit/setup-fixtures/{wheels,vendor}
set -euo pipefail

DIR="${AGENTKIT_SETUP_FIXTURES:-${XDG_CACHE_HOME:-$HOME/.cache}/agentkit/setup-fixtures}"
WHEELS=(six==1.16.0 iniconfig==2.0.0)

. "$(dirname "$0")/lib.sh"
# The fixtures' setups make a venv with the system's python3.
if ! python3 -m venv --help >/dev/null 2>&1; then
    apt_install python3-venv
fi

if [ ! -f "$DIR/wheels/.done" ]; then
    mkdir -p "$DIR/wheels"
    echo "setup-fixtures: downloading ${WHEELS[*]} into $DIR/wheels" >&2
    python3 -m pip download --quiet --only-binary=:all: --no-deps -d "$DIR/wheels" "${WHEELS[@]}" >&2
    touch "$DIR/wheels/.done"
fi

if [ ! -f "$DIR/vendor/.done" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/src"
    cat > "$work/Cargo.toml" <<'TOML'
[package]
name = "setup-fixture-deps"
version = "0.1.0"
edition = "2021"

[dependencies]
itoa = "=1.0.11"
ryu = "=1.0.18"
memchr = { version = "=2.7.4", default-features = false, features = ["std"] }
TOML
    echo 'fn main() {}' > "$work/src/main.rs"
    echo "setup-fixtures: cargo vendor into $DIR/vendor" >&2
    rm -rf "$DIR/vendor"
    (cd "$work" && cargo generate-lockfile --quiet && cargo vendor --quiet --versioned-dirs "$DIR/vendor" >/dev/null)
    cp "$work/Cargo.lock" "$DIR/vendor/Cargo.lock.fixture"
    touch "$DIR/vendor/.done"
fi
echo "export AGENTKIT_SETUP_FIXTURES='$DIR'"
