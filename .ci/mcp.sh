#!/usr/bin/env bash
# A real MCP server from npm for crates/agentkit-tools/tests/mcp.rs:
# @modelcontextprotocol/server-filesystem (needs no network at run time).
#
#   eval "$(.ci/mcp.sh)"   installs what is missing (idempotent, quick when
#                          present) and prints `export AGENTKIT_MCP_NPM_DIR=...`
#
# Layout: ${XDG_CACHE_HOME:-$HOME/.cache}/agentkit/mcp-npm/node_modules/.bin/mcp-server-filesystem
set -euo pipefail

VERSION=2026.8.31
DIR="${AGENTKIT_MCP_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentkit/mcp-npm}"
BIN="$DIR/node_modules/.bin/mcp-server-filesystem"

. "$(dirname "$0")/lib.sh"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
if [ ! -x "$BIN" ] || ! grep -q "\"version\": \"$VERSION\"" \
        "$DIR/node_modules/@modelcontextprotocol/server-filesystem/package.json" 2>/dev/null; then
    mkdir -p "$DIR"
    echo "mcp: installing @modelcontextprotocol/server-filesystem@$VERSION into $DIR" >&2
    npm install --no-audit --no-fund --silent --prefix "$DIR" \
        "@modelcontextprotocol/server-filesystem@$VERSION" >&2
fi
echo "export AGENTKIT_MCP_NPM_DIR='$DIR'"
