#!/usr/bin/env bash
# Installs Debian's PostgreSQL server for agentkit-server's store tests and
# benchmarks (they start private servers themselves: initdb into a temporary
# directory, a unix socket there). Idempotent; quick when already present.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    # The server binaries only: the package's default cluster is not needed.
    mkdir -p /etc/postgresql-common
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    apt_install postgresql
fi
# As root, the tests run the server as the `postgres` user the package creates.
id postgres >/dev/null
