//! What of the host an isolating backend shows commands besides the
//! workspace: an **allow-list**, never the host root minus a deny-list.
//!
//! - the system directories ([`SYSTEM_DIRS`]): programs and libraries;
//! - a secret-free part of `/etc` ([`ETC_ENTRIES`]): the dynamic linker's
//!   cache, CA certificates (not `/etc/ssl/private`), Debian's alternatives,
//!   name-service and service tables, the time zone, the OS release —
//!   never `shadow`, `gshadow`, `ssh`, `sudoers`, `pip.conf` or `gitconfig`
//!   (which can hold credentials);
//! - the toolchains (see `toolchains.rs`) and whatever the provider or the
//!   policy adds read-only (`SandboxPolicy::read_only_paths`).
//!
//! Each backend adds its own private `/tmp`, `/dev` and `/proc`, and the
//! workspace. Everything else of the host — other users' and the agent's
//! home, `/srv`, `/opt`, `/var`, `/run`, other checkouts, other sandboxes'
//! workspaces — is simply not there.

/// Top-level system directories: bound read-only where they are real
/// directories, recreated as the same symlink where they are symlinks (on a
/// merged-`/usr` system `/bin` is `usr/bin`).
pub(crate) const SYSTEM_DIRS: [&str; 7] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The secret-free part of `/etc` every isolating backend shows, each entry
/// only when it exists.
pub(crate) const ETC_ENTRIES: [&str; 14] = [
    "/etc/ld.so.cache",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/alternatives",
    "/etc/nsswitch.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/mime.types",
    "/etc/os-release",
    "/etc/debian_version",
];

/// Identity and name resolution files a backend without an image of its
/// own (bwrap) shows too: user and group names (no password hashes: those
/// are in `shadow`), the hosts table and the resolver configuration.
pub(crate) const ETC_IDENTITY: [&str; 6] = [
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
];
