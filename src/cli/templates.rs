//! `handoff templates`: list the integration templates, or print one's
//! full guide.

use anyhow::{anyhow, bail};
use clap::Subcommand;

#[derive(clap::Args)]
pub(super) struct TemplatesCmd {
    #[command(flatten)]
    dir: crate::config::TemplatesArgs,
    /// Print the registry (or the one template) as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    show: Option<TemplatesShow>,
}

#[derive(Subcommand)]
pub(super) enum TemplatesShow {
    /// The full guide: permissions, portal steps, checklist, notes, az commands.
    Show {
        /// The template's id, as `handoff templates` lists it.
        id: String,
    },
}

/// Lists the templates, or shows one.
pub(super) fn run(args: &TemplatesCmd) -> anyhow::Result<()> {
    use crate::integration::guide;
    let all = args.dir.load().map_err(|e| anyhow!(e))?;
    for notice in all.notices() {
        eprintln!("note: {notice}");
    }
    match &args.show {
        Some(TemplatesShow::Show { id }) => {
            let Some(i) = all.get(id) else {
                let known: Vec<&str> = all.all().iter().map(|i| i.id.as_str()).collect();
                bail!("no template {id:?} (known: {})", known.join(", "));
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(i)?);
            } else {
                print!("{}", guide(i));
            }
        }
        None if args.json => println!("{}", serde_json::to_string_pretty(&all)?),
        None => {
            for i in all.all() {
                let custom = match &i.origin {
                    crate::integration::Origin::Builtin => "",
                    crate::integration::Origin::Custom {
                        replaces_builtin: true,
                        ..
                    } => " [custom, replaces built-in]",
                    crate::integration::Origin::Custom { .. } => " [custom]",
                };
                let perms: Vec<&str> = i.permissions.iter().map(|p| p.name.as_str()).collect();
                let targets: Vec<&str> = i.targets.iter().map(|t| t.as_str()).collect();
                println!("{}{custom}\n  {}", i.id, i.title);
                println!("  permissions: {}", perms.join(", "));
                println!("  targets: {}", targets.join(", "));
            }
            println!("\n`handoff templates show ID` prints a template's full guide.");
        }
    }
    Ok(())
}
