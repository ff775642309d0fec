#!/usr/bin/env bash
# A private Docker daemon and the `docker` sandbox backend's test image, with no registry.
#
#   .ci/docker.sh start   install docker.io if dockerd is missing, start a private dockerd
#                         (if it is not already answering), build the image if it is
#                         missing or stale; prints `export ...` lines (idempotent,
#                         non-interactive, runs as root)
#   .ci/docker.sh env     print those `export ...` lines without doing anything
#   .ci/docker.sh stop    stop the private dockerd started by `start`
#
# Use it as `eval "$(.ci/docker.sh start)"` (that is what .ci/run does).
#
# The daemon is private to agentkit, so it never meets another dockerd on the machine:
#   socket     /run/agentkit-docker/docker.sock      (AGENTKIT_DOCKER_RUN)
#   exec-root  /run/agentkit-docker/exec
#   data-root  /var/lib/agentkit-docker/data         (AGENTKIT_DOCKER_HOME)
#   log        /var/lib/agentkit-docker/dockerd.log
# and it runs with `--bridge=none --iptables=false --ip6tables=false --ip-forward=false`: there
# is no docker0 bridge, no NAT and no change to the host's firewall or sysctls. Containers get
# either no network at all (network mode `none`, what the backend uses for NetworkPolicy::Deny)
# or, for NetworkPolicy::Full, the host's network namespace (see the backend's module docs).
# Its own containerd runs under the exec-root, in its own namespace.
#
# Storage driver: overlay2 when an overlay mount works here (probed with a real mount), vfs
# otherwise (this machine may itself be a container). AGENTKIT_DOCKER_STORAGE_DRIVER overrides.
#
# The image `agentkit-sandbox:local` (AGENTKIT_DOCKER_IMAGE) is a skeleton made with
# `docker import` from a tarball built here: the host's top-level symlinks (bin -> usr/bin, ...)
# or empty mount points, /etc/passwd and /etc/group with root and nobody, and empty /root, /tmp,
# /run and /workspace. It holds no programs: the backend bind-mounts the host's /usr (and /bin,
# /lib, /lib64, /sbin where they are real directories) and a safe part of /etc read-only, so
# commands get the host's bash, coreutils, git, curl and perl. It is rebuilt only when the
# host's layout changes (its hash is the image's `agentkit.rootfs` label).
#
# Variables printed:
#   DOCKER_HOST            unix:///run/agentkit-docker/docker.sock
#   AGENTKIT_DOCKER_IMAGE  agentkit-sandbox:local
set -euo pipefail

HOME_DIR="${AGENTKIT_DOCKER_HOME:-/var/lib/agentkit-docker}"
RUN_DIR="${AGENTKIT_DOCKER_RUN:-/run/agentkit-docker}"
SOCK="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
LOG="$HOME_DIR/dockerd.log"
IMAGE="${AGENTKIT_DOCKER_IMAGE:-agentkit-sandbox:local}"
START_TIMEOUT=60

. "$(dirname "$0")/lib.sh"
log() { echo "docker.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

print_env() {
    printf 'export DOCKER_HOST=%q\n' "unix://$SOCK"
    printf 'export AGENTKIT_DOCKER_IMAGE=%q\n' "$IMAGE"
}

# The docker CLI against the private daemon (any client version negotiates down).
dk() { DOCKER_HOST="unix://$SOCK" docker "$@"; }

answers() { [ -S "$SOCK" ] && dk info >/dev/null 2>&1; }

ensure_installed() {
    if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "dockerd is missing and installing it needs root"
    log "installing Debian's docker.io"
    # Keep the package's init script from starting a system dockerd with the default bridge
    # and iptables rules (the standard policy-rc.d guard; left alone if one exists).
    local guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        guard=/usr/sbin/policy-rc.d
    fi
    apt_install --no-install-recommends docker.io
    [ -z "$guard" ] || rm -f "$guard"
    command -v dockerd >/dev/null 2>&1 || die "docker.io is installed but dockerd is not on PATH"
}

# overlay2 when the kernel mounts an overlay on the data-root's filesystem, else vfs.
storage_driver() {
    if [ -n "${AGENTKIT_DOCKER_STORAGE_DRIVER:-}" ]; then
        echo "$AGENTKIT_DOCKER_STORAGE_DRIVER"
        return
    fi
    local probe ok=vfs
    probe="$(mktemp -d "$HOME_DIR/overlay-probe.XXXXXX")"
    mkdir -p "$probe"/{lower,upper,work,merged}
    echo x >"$probe/lower/f"
    if mount -t overlay overlay \
        -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" \
        2>/dev/null; then
        if [ "$(cat "$probe/merged/f" 2>/dev/null)" = x ] && touch "$probe/merged/g" 2>/dev/null; then
            ok=overlay2
        fi
        umount "$probe/merged" || true
    fi
    rm -rf "$probe"
    echo "$ok"
}

start_daemon() {
    local driver="$1" pid
    log "starting dockerd (storage driver $driver), log in $LOG"
    # setsid + nohup: the daemon outlives this script (CI runs the tests after it). It must
    # not inherit fd 9, the start lock, or the next `start` would wait for it forever.
    setsid nohup dockerd \
        --host "unix://$SOCK" \
        --data-root "$HOME_DIR/data" \
        --exec-root "$RUN_DIR/exec" \
        --pidfile "$PIDFILE" \
        --containerd-namespace agentkit \
        --containerd-plugins-namespace agentkit-plugins \
        --storage-driver "$driver" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --no-new-privileges \
        --log-driver none \
        >>"$LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    local waited=0
    while ! answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "dockerd exited; the end of its log:"
            tail -n 20 "$LOG" >&2
            return 1
        fi
        if [ "$waited" -ge $((START_TIMEOUT * 4)) ]; then
            log "dockerd did not answer within ${START_TIMEOUT}s; the end of its log:"
            tail -n 20 "$LOG" >&2
            kill "$pid" 2>/dev/null || true
            return 1
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
    log "dockerd is up (pid $pid, $(dk info --format '{{.ServerVersion}} {{.Driver}} cgroup v{{.CgroupVersion}}' 2>/dev/null))"
}

ensure_daemon() {
    if answers; then
        log "dockerd already answers on $SOCK"
        return
    fi
    mkdir -p "$HOME_DIR" "$RUN_DIR"
    chmod 0711 "$RUN_DIR"
    # A daemon of ours that died leaves its pidfile and socket behind; dockerd refuses to
    # start over a live pidfile, so only a stale one is removed.
    if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        rm -f "$PIDFILE" "$SOCK"
    fi
    local driver
    driver="$(storage_driver)"
    if ! start_daemon "$driver"; then
        [ "$driver" != vfs ] || die "dockerd does not start; see $LOG"
        log "retrying with --storage-driver=vfs"
        start_daemon vfs || die "dockerd does not start with vfs either; see $LOG"
    fi
}

# The rootfs of the skeleton image, in "$1" (an empty directory).
build_rootfs() {
    local root="$1" d
    mkdir -p "$root"/{etc,root,tmp,run,workspace,usr,proc,sys,dev}
    chmod 0700 "$root/root"
    chmod 1777 "$root/tmp"
    # The host's merged-/usr symlinks are reproduced, so a bind of the host's /usr gives
    # /bin, /lib, ... too; real host directories get an empty mount point instead.
    for d in bin sbin lib lib32 lib64 libx32; do
        if [ -L "/$d" ]; then
            ln -s "$(readlink "/$d")" "$root/$d"
        elif [ -d "/$d" ]; then
            mkdir "$root/$d"
        fi
    done
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
    # Mount points for the /etc files the backend binds, so the read-only root needs no
    # new entries at start.
    touch "$root/etc/ld.so.cache" "$root/etc/nsswitch.conf" "$root/etc/services" \
        "$root/etc/protocols" "$root/etc/localtime" "$root/etc/hosts" "$root/etc/hostname" \
        "$root/etc/resolv.conf"
    mkdir -p "$root/etc/ssl" "$root/etc/ca-certificates" "$root/etc/alternatives"
}

ensure_image() {
    local tmp sum have
    tmp="$(mktemp -d)"
    build_rootfs "$tmp/rootfs"
    # Deterministic tarball: sorted names, fixed owner and time.
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
        -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
    sum="$(sha256sum "$tmp/rootfs.tar" | cut -c1-16)"
    have="$(dk image inspect --format '{{index .Config.Labels "agentkit.rootfs"}}' "$IMAGE" 2>/dev/null || true)"
    if [ "$have" = "$sum" ]; then
        log "image $IMAGE is up to date ($sum)"
    else
        log "building $IMAGE with docker import (rootfs $sum)"
        dk import \
            --change "LABEL agentkit.rootfs=$sum" \
            --change 'WORKDIR /workspace' \
            --change 'CMD ["perl", "-e", "sleep"]' \
            "$tmp/rootfs.tar" "$IMAGE" >/dev/null
    fi
    rm -rf "$tmp"
}

start() {
    local started=$SECONDS
    mkdir -p "$HOME_DIR"
    exec 9>"$HOME_DIR/.start.lock"
    flock 9
    ensure_installed
    ensure_daemon
    ensure_image
    log "ready in $((SECONDS - started)) s"
    print_env
}

stop() {
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        local pid
        pid="$(cat "$PIDFILE")"
        log "stopping dockerd (pid $pid)"
        kill "$pid"
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || { log "stopped"; return; }
            sleep 0.5
        done
        die "dockerd (pid $pid) did not stop within 30 s"
    fi
    log "no dockerd of ours is running"
}

case "${1:-}" in
start) start ;;
env) print_env ;;
stop) stop ;;
*)
    echo "usage: $0 start | env | stop" >&2
    exit 2
    ;;
esac
