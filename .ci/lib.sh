# Shared by the .ci scripts (sourced). Everything goes to stderr: the
# callers' stdout is `eval`'d.

# apt_install PACKAGE... — installs Debian packages, non-interactively;
# `apt-get update` runs once per CI run (the scripts share the marker).
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${AGENTKIT_APT_UPDATED:-}" ]; then
        apt-get update -q >&2
        export AGENTKIT_APT_UPDATED=1
    fi
    apt-get install -y -q "$@" >&2
}
