#!/usr/bin/env bash
# Installs what the eval harness's tests need, into venvs under ~/.cache/agentkit (idempotent,
# quick when present), and prints the variables that point the tests at them (stdout is eval'd):
#   AGENTKIT_EVAL_PYTHON  a python with pytest, for the shipped Python tasks
#   AGENTKIT_MINI         the `mini` CLI of mini-swe-agent (PyPI), for the external-agent tests
# Usage: eval "$(.ci/mini-swe-agent.sh)"
set -euo pipefail
ROOT="${AGENTKIT_CACHE:-$HOME/.cache/agentkit}"
PYTHON="${PYTHON:-python3}"
MSA_SPEC="${MSA_SPEC:-mini-swe-agent==2.4.6}"
PYTEST_SPEC="${PYTEST_SPEC:-pytest==8.3.5 packaging==24.2 pretend==1.0.9}"
mkdir -p "$ROOT"
venv() {  # dir marker-spec pip-spec...
    local dir="$ROOT/$1" marker="$2"; shift 2
    if [ ! -f "$dir/.installed" ] || [ "$(cat "$dir/.installed")" != "$marker" ]; then
        rm -rf "$dir"
        "$PYTHON" -m venv "$dir" >&2
        "$dir/bin/pip" install -q --disable-pip-version-check "$@" >&2
        echo "$marker" > "$dir/.installed"
    fi
}
venv eval-python "$PYTEST_SPEC" $PYTEST_SPEC
venv mini-swe-agent "$MSA_SPEC" "$MSA_SPEC"
echo "export AGENTKIT_EVAL_PYTHON=$ROOT/eval-python/bin/python"
echo "export AGENTKIT_MINI=$ROOT/mini-swe-agent/bin/mini"
