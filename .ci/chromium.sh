#!/usr/bin/env bash
# Installs Debian's chromium for the agentd web-view test (tests/daemon/browser.rs in
# agentkit-server drives it headless over the DevTools protocol). Idempotent: does
# nothing when a chromium is on PATH. Prints `export AGENTKIT_CHROMIUM=...` for eval.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
if ! command -v chromium >/dev/null 2>&1; then
    apt_install chromium fonts-dejavu-core
fi
echo "export AGENTKIT_CHROMIUM=$(command -v chromium)"
