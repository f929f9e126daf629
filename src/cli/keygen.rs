//! `handoff keygen`: an age identity for the SOC's collector, written to a
//! private file, and its recipient for the server.

use anyhow::Context;

#[derive(clap::Args)]
pub(super) struct KeygenArgs {
    /// Where to write the identity; must not exist yet. A relative path is
    /// taken from the working directory.
    #[arg(long, short)]
    output: std::path::PathBuf,
}

/// Writes a new identity to `args.output` and prints its recipient.
pub(super) fn run(args: &KeygenArgs) -> anyhow::Result<()> {
    use age::secrecy::ExposeSecret;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.output)
        .with_context(|| {
            format!(
                "cannot create {} (it must not exist yet)",
                args.output.display()
            )
        })?;
    let text = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote the identity to {} (mode 0600); keep it on the collector host only.",
        args.output.display()
    );
    eprintln!("give the server this recipient (HANDOFF_SOC_RECIPIENTS):");
    println!("{recipient}");
    Ok(())
}
