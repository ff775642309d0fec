//! Builds `agentkit-bwrap-init`, the small program the `bwrap` backend runs
//! first inside every sandbox (see `src/bwrap/init/main.rs` for why), when
//! the `bwrap` feature is on and the target is Linux. It is compiled with
//! the same `rustc`, target, linker and flags as the crate itself, std only,
//! and embedded into the library with `include_bytes!`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SOURCE: &str = "src/bwrap/init/main.rs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={SOURCE}");
    let wanted = env::var_os("CARGO_FEATURE_BWRAP").is_some()
        && env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if !wanted {
        return;
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = out_dir.join("agentkit-bwrap-init");

    let mut cmd = Command::new(&rustc);
    cmd.args([
        "--crate-name",
        "agentkit_bwrap_init",
        "--crate-type",
        "bin",
        "--edition",
        "2021",
        "--cap-lints",
        "warn",
        "-C",
        "opt-level=s",
        "-C",
        "panic=abort",
        "-C",
        "debuginfo=0",
        "-C",
        "strip=symbols",
        "--target",
    ])
    .arg(&target)
    .arg("-o")
    .arg(&output)
    .arg(SOURCE);
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        cmd.arg("-C").arg({
            let mut arg = std::ffi::OsString::from("linker=");
            arg.push(linker);
            arg
        });
    }
    // The flags the crate itself is built with (sanitizers, static CRT,
    // linker choice) apply to the helper too.
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    let status = cmd.status().unwrap_or_else(|err| {
        panic!(
            "building agentkit-bwrap-init: could not run `{}`: {err}",
            PathBuf::from(&rustc).display()
        )
    });
    assert!(
        status.success(),
        "building agentkit-bwrap-init from {SOURCE} for {target} failed ({status}); \
         the `bwrap` feature needs a working linker for the target"
    );
}
