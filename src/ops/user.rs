//! `weir user create|list|delete`: SCRAM credentials (KIP-554), as `rpk
//! security user` and `kafka-configs.sh --alter --add-config
//! 'SCRAM-SHA-256=[password=...]'` manage them. `create` also changes an
//! existing user's password (an upsert, as the protocol has it).

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use super::native::acl::Scram;
use super::native::Native;
use super::{print_json, print_table, Conn, Format};

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a SCRAM user, or set its password.  e.g. weir user create alice --password s3cret
    Create {
        user: String,
        /// The password (or set WEIR_USER_PASSWORD)
        #[arg(long, env = "WEIR_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, value_enum, default_value = "SCRAM-SHA-256")]
        mechanism: Scram,
        /// PBKDF2 iterations (Kafka's minimum is 4096)
        #[arg(long, default_value_t = 4096)]
        iterations: i32,
    },
    /// List SCRAM users with their mechanisms.  e.g. weir user list --format json
    List,
    /// Delete users' SCRAM credentials (every mechanism unless --mechanism).
    Delete {
        #[arg(required = true)]
        users: Vec<String>,
        #[arg(long, value_enum)]
        mechanism: Option<Scram>,
    },
}

pub async fn run(cmd: UserCmd, conn: Conn) -> Result<()> {
    tokio::task::block_in_place(|| run_blocking(cmd, &conn))
}

fn run_blocking(cmd: UserCmd, conn: &Conn) -> Result<()> {
    let native = Native::new(conn)?;
    let changes = match cmd {
        UserCmd::List => {
            let mut users = Vec::new();
            for (user, creds) in native.describe_users(&[])? {
                match creds {
                    Ok(mut c) => {
                        c.sort();
                        users.push((user, c));
                    }
                    Err(r) => bail!("DescribeUserScramCredentials of '{user}': {r}"),
                }
            }
            users.sort();
            match conn.format {
                Format::Json | Format::Yaml => print_json(
                    conn.format,
                    &Value::Array(
                        users
                            .iter()
                            .map(|(u, c)| {
                                let mechs: Vec<Value> =
                                    c.iter().map(|(m, i)| json!({"mechanism": m.name(), "iterations": i})).collect();
                                json!({"user": u, "credentials": mechs})
                            })
                            .collect(),
                    ),
                ),
                Format::Table => print_table(
                    &["USER", "MECHANISMS"],
                    &users
                        .iter()
                        .map(|(u, c)| {
                            let mechs: Vec<String> = c.iter().map(|(m, i)| format!("{} ({i})", m.name())).collect();
                            vec![u.clone(), mechs.join(", ")]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
            return Ok(());
        }
        UserCmd::Create { user, password, mechanism, iterations } => {
            if password.is_empty() {
                bail!("the password must not be empty");
            }
            vec![(user, mechanism, iterations, Some(password))]
        }
        UserCmd::Delete { users, mechanism } => {
            let mut changes = Vec::new();
            for user in users {
                let mechs = match mechanism {
                    Some(m) => vec![m],
                    None => match native.describe_users(std::slice::from_ref(&user))?.into_iter().next() {
                        Some((_, Ok(creds))) if !creds.is_empty() => creds.into_iter().map(|(m, _)| m).collect(),
                        Some((_, Err(r))) => bail!("user '{user}': {r}"),
                        _ => bail!("RESOURCE_NOT_FOUND: user '{user}' has no SCRAM credentials"),
                    },
                };
                changes.extend(mechs.into_iter().map(|m| (user.clone(), m, 0, None)));
            }
            changes
        }
    };
    // Kafka refuses a request that names a user twice (DUPLICATE_RESOURCE), so
    // each change (one mechanism of one user) is a request of its own.
    let mut results = Vec::new();
    for change in &changes {
        results.extend(native.alter_users(std::slice::from_ref(change))?);
    }
    let failed = results.iter().filter(|(_, r)| r.is_some()).count();
    let done = if changes.iter().all(|c| c.3.is_none()) { "deleted" } else { "OK" };
    match conn.format {
        Format::Json | Format::Yaml => print_json(conn.format, &Value::Array(
            results
                .iter()
                .map(|(u, r)| {
                    json!({"user": u, "error": r.as_ref().map(|r| json!({"code": r.code, "message": r.message}))})
                })
                .collect(),
        )),
        Format::Table => print_table(
            &["USER", "STATUS"],
            &results
                .iter()
                .map(|(u, r)| vec![u.clone(), r.as_ref().map_or(done.to_string(), |r| r.to_string())])
                .collect::<Vec<_>>(),
        ),
    }
    if failed > 0 {
        bail!("{failed} of {} credential changes failed", results.len());
    }
    Ok(())
}
