//! Connection profiles, as rpk has them: `weir profile create NAME` saves the
//! connection flags given with it (`--brokers`, `-X ...`, `--registry`,
//! `--registry-user`, `--registry-ca`), `weir profile use NAME` makes one
//! current, and every command then starts from the current profile (or
//! `--profile NAME` / `WEIR_PROFILE`). A flag or environment variable given
//! overrides the profile's value; `-X` properties add to the profile's, a
//! later one winning.
//!
//! The file is TOML at `$WEIR_PROFILES`, else `$XDG_CONFIG_HOME/weir/profiles.toml`,
//! else `~/.config/weir/profiles.toml`, written with mode 0600 (it may hold
//! passwords):
//!
//! ```toml
//! current = "prod"
//! [profiles.prod]
//! brokers = "kafka-1:9093"
//! properties = ["security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512"]
//! registry = "https://registry:8081"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{print_json, print_table, Conn, Format};

#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// Save the connection flags given with it as a profile (and make it current).
    /// e.g. weir profile create prod --brokers kafka-1:9093 -X security.protocol=SASL_SSL
    Create { name: String },
    /// Make a profile the current one.  e.g. weir profile use prod
    Use { name: String },
    /// List the profiles (* marks the current one).
    List,
    /// Delete a profile.
    Delete { name: String },
}

#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brokers: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_ca: Option<String>,
}

#[derive(Serialize, Deserialize, Default, Debug)]
struct File {
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

fn path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WEIR_PROFILES") {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME").context("no HOME for the profile file; set WEIR_PROFILES")?)
            .join(".config"),
    };
    Ok(base.join("weir").join("profiles.toml"))
}

fn load() -> Result<File> {
    let p = path()?;
    match std::fs::read_to_string(&p) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("bad profile file {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

fn save(f: &File) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let p = path()?;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = toml::to_string(f).context("cannot write the profiles as TOML")?;
    // Written aside and renamed: a crash leaves the old file, never half of one.
    let tmp = p.with_extension("toml.tmp");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&tmp, &p).with_context(|| format!("cannot replace {}", p.display()))
}

/// The profile a command runs with: `--profile`/`WEIR_PROFILE`, else the
/// current one; None when there is none. Naming a missing profile is an error.
pub fn selected(name: Option<&str>) -> Result<Option<Profile>> {
    let f = load()?;
    match name {
        Some(n) => match f.profiles.get(n) {
            Some(p) => Ok(Some(p.clone())),
            None => bail!("no profile named '{n}' (see `weir profile list`)"),
        },
        None => Ok(f.current.and_then(|c| f.profiles.get(&c).cloned())),
    }
}

pub fn run(cmd: ProfileCmd, conn: &Conn, given: Profile) -> Result<()> {
    let mut f = load()?;
    match cmd {
        ProfileCmd::Create { name } => {
            if given == Profile::default() {
                bail!("give the connection flags to save, e.g. --brokers HOST:PORT -X security.protocol=SSL");
            }
            f.profiles.insert(name.clone(), given);
            f.current = Some(name.clone());
            save(&f)?;
            eprintln!("profile '{name}' saved in {} and made current", path()?.display());
        }
        ProfileCmd::Use { name } => {
            if !f.profiles.contains_key(&name) {
                bail!("no profile named '{name}' (see `weir profile list`)");
            }
            f.current = Some(name.clone());
            save(&f)?;
            eprintln!("profile '{name}' is now current");
        }
        ProfileCmd::Delete { name } => {
            if f.profiles.remove(&name).is_none() {
                bail!("no profile named '{name}'");
            }
            if f.current.as_deref() == Some(&name) {
                f.current = None;
            }
            save(&f)?;
            eprintln!("profile '{name}' deleted");
        }
        ProfileCmd::List => {
            let current = f.current.as_deref();
            // Passwords stay in the file; listings show that one is set.
            let hide =
                |v: &Option<String>| v.as_ref().map(|u| u.split(':').next().unwrap_or_default().to_string() + ":***");
            match conn.format {
                Format::Json | Format::Yaml => print_json(
                    conn.format,
                    &json!(f
                        .profiles
                        .iter()
                        .map(|(n, p)| json!({"name": n, "current": Some(n.as_str()) == current, "brokers": p.brokers,
                        "properties": p.properties.iter().map(|kv| redact(kv)).collect::<Vec<_>>(),
                        "registry": p.registry, "registry_user": hide(&p.registry_user)}))
                        .collect::<Vec<_>>()),
                ),
                Format::Table => print_table(
                    &["NAME", "BROKERS", "REGISTRY", "PROPERTIES"],
                    &f.profiles
                        .iter()
                        .map(|(n, p)| {
                            let mark = if Some(n.as_str()) == current { "*" } else { "" };
                            vec![
                                format!("{n}{mark}"),
                                p.brokers.clone().unwrap_or_default(),
                                p.registry.clone().unwrap_or_default(),
                                p.properties.iter().map(|kv| redact(kv)).collect::<Vec<_>>().join(" "),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
    }
    Ok(())
}

/// `sasl.password=x` shown as `sasl.password=***`.
fn redact(kv: &str) -> String {
    match kv.split_once('=') {
        Some((k, _)) if k.contains("password") || k.contains("secret") => format!("{k}=***"),
        _ => kv.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_through_toml() {
        let mut f = File { current: Some("prod".into()), ..Default::default() };
        let p = Profile {
            brokers: Some("k:9093".into()),
            properties: vec!["security.protocol=SSL".into()],
            ..Default::default()
        };
        f.profiles.insert("prod".into(), p.clone());
        let back: File = toml::from_str(&toml::to_string(&f).unwrap()).unwrap();
        assert_eq!(back.current.as_deref(), Some("prod"));
        assert_eq!(back.profiles["prod"], p);
        assert_eq!(redact("sasl.password=hunter2"), "sasl.password=***");
        assert_eq!(redact("sasl.username=alice"), "sasl.username=alice");
    }
}
