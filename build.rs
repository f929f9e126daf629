//! Bundles the browser's one third-party library (npm `age-encryption`, pinned
//! by package-lock.json) into `$OUT_DIR/age.js`, which the binary embeds.
//!
//! Needs Node.js 20+ and npm. `npm ci` runs only when node_modules lacks the
//! packages, so an offline rebuild works once they are installed.

use std::env;
use std::error::Error;
use std::path::PathBuf;
use std::process::Command;

fn main() -> Result<(), Box<dyn Error>> {
    for path in [
        "migrations",
        "static",
        "templates",
        "package.json",
        "package-lock.json",
        "openapi.json",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let esbuild = root.join("node_modules/.bin/esbuild");
    if !esbuild.exists()
        || !root
            .join("node_modules/age-encryption/package.json")
            .exists()
    {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&root),
            "npm ci",
        )?;
    }
    run(
        Command::new(&esbuild)
            .arg(root.join("static/js/age-entry.js"))
            .args([
                "--bundle",
                "--format=esm",
                "--minify",
                "--log-level=warning",
                "--legal-comments=eof",
            ])
            .arg(format!("--outfile={}", out.join("age.js").display()))
            .current_dir(&root),
        "esbuild",
    )?;
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), Box<dyn Error>> {
    let status = cmd.status().map_err(|e| {
        format!("{what} could not start ({e}); building handoff needs Node.js 20+ and npm on PATH")
    })?;
    if !status.success() {
        return Err(format!("{what} failed with {status}").into());
    }
    Ok(())
}
