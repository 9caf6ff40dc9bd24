//! Reading a `gitops.*` argument table: typed fields with errors naming the function, the
//! field and the script line; fields the module does not know are logged as warnings (a
//! script written for another runner still runs, and says what was not used).

use std::cell::RefCell;
use std::collections::BTreeSet;

use mlua::{Lua, Table, Value};

use super::Gitops;
use super::spec::{Credentials, HealthCheck, Retry, Workflow};

pub(super) struct Opts<'a> {
    table: Table,
    func: &'static str,
    at: &'a str,
    seen: RefCell<BTreeSet<String>>,
}

impl<'a> Opts<'a> {
    pub fn new(
        _lua: &Lua,
        v: Option<Value>,
        func: &'static str,
        at: &'a str,
    ) -> mlua::Result<Self> {
        match v {
            Some(Value::Table(table)) => Ok(Opts {
                table,
                func,
                at,
                seen: RefCell::new(BTreeSet::new()),
            }),
            other => Err(mlua::Error::RuntimeError(format!(
                "{at}gitops.{func}: expects a table of options, got {}",
                other.map_or("nothing", |v| v.type_name())
            ))),
        }
    }

    fn err(&self, msg: String) -> mlua::Error {
        mlua::Error::RuntimeError(format!("{}gitops.{}: {msg}", self.at, self.func))
    }

    fn get(&self, key: &str) -> mlua::Result<Value> {
        self.seen.borrow_mut().insert(key.to_string());
        self.table.get::<Value>(key)
    }

    pub fn str(&self, key: &str) -> mlua::Result<Option<String>> {
        match self.get(key)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_str()?.to_string())),
            Value::Integer(i) => Ok(Some(i.to_string())),
            Value::Number(n) => Ok(Some(n.to_string())),
            other => Err(self.err(format!(
                "field {key} must be a string, not a {}",
                other.type_name()
            ))),
        }
    }

    pub fn bool(&self, key: &str) -> mlua::Result<Option<bool>> {
        match self.get(key)? {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            other => Err(self.err(format!(
                "field {key} must be true or false, not a {}",
                other.type_name()
            ))),
        }
    }

    fn sub(&self, key: &str) -> mlua::Result<Option<Opts<'a>>> {
        match self.get(key)? {
            Value::Nil => Ok(None),
            Value::Table(t) => Ok(Some(Opts {
                table: t,
                func: self.func,
                at: self.at,
                seen: RefCell::new(BTreeSet::new()),
            })),
            other => Err(self.err(format!(
                "field {key} must be a table, not a {}",
                other.type_name()
            ))),
        }
    }

    /// Logs the fields nobody read (`prefix` names where they sit).
    fn warn_unknown(&self, prefix: &str) -> mlua::Result<()> {
        for pair in self.table.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let k = k.to_string()?;
            if !self.seen.borrow().contains(&k) {
                tracing::warn!(target: "driftless::script", "{}gitops.{}: field {prefix}{k} is not used by Driftless", self.at, self.func);
            }
        }
        Ok(())
    }

    /// `workflow{...}` (`detailed`: `create_workflow{...}`, whose source is a registered
    /// repository id).
    pub fn workflow(self, g: &Gitops, detailed: bool) -> mlua::Result<Workflow> {
        let (repo, registered_branch) = if detailed {
            let id = self.str("repository")?.ok_or_else(|| {
                self.err("field repository (an id from register_repository) is missing".into())
            })?;
            g.repository_url(&id).map_err(|e| self.err(e))?
        } else {
            let repo = self
                .str("repo")?
                .ok_or_else(|| self.err("field repo (the repository URL) is missing".into()))?;
            (repo, None)
        };
        let auto_sync = self.bool("auto_sync")?.unwrap_or(false);
        let mut w = Workflow {
            name: self.str("name")?,
            branch: self.str("branch")?.or(registered_branch),
            target_path: self.str("target_path")?.unwrap_or_default(),
            auto_sync,
            auto_prune: self.bool("auto_prune")?.unwrap_or(false),
            self_heal: self.bool("self_heal")?.unwrap_or(true),
            sync_interval: self.str("sync_interval")?,
            diff_preview: self.bool("diff_preview")?.unwrap_or(false),
            rollback_on_failure: self.bool("rollback_on_failure")?.unwrap_or(false),
            namespace: self.str("namespace")?,
            cluster: self.str("cluster")?,
            project: self.str("project")?,
            repo,
            ..Workflow::default()
        };
        if let Some(i) = &w.sync_interval
            && driftless_core::app::parse_duration(i).is_none()
        {
            return Err(self.err(format!(
                "field sync_interval {i:?} is not a duration like 5m"
            )));
        }
        if let Some(p) = self.sub("sync_policy")? {
            if let Some(prune) = p.bool("auto_prune")? {
                w.auto_prune = prune;
            }
            if let Some(r) = p.sub("retry")? {
                let limit = r.str("limit")?.unwrap_or_else(|| "5".into());
                w.retry = Some(Retry {
                    limit: limit.parse().map_err(|_| {
                        self.err(format!(
                            "field sync_policy.retry.limit {limit:?} is not a number"
                        ))
                    })?,
                    backoff: r.str("backoff")?.unwrap_or_default(),
                });
                r.warn_unknown("sync_policy.retry.")?;
            }
            if let Some(h) = p.sub("health_check")? {
                let timeout = h.str("timeout")?;
                if let Some(t) = &timeout
                    && driftless_core::app::parse_duration(t).is_none()
                {
                    return Err(self.err(format!(
                        "field sync_policy.health_check.timeout {t:?} is not a duration like 10m"
                    )));
                }
                w.health_check = Some(HealthCheck {
                    enabled: h.bool("enabled")?.unwrap_or(true),
                    timeout,
                });
                h.warn_unknown("sync_policy.health_check.")?;
            }
            p.warn_unknown("sync_policy.")?;
        }
        self.warn_unknown("")?;
        Ok(w)
    }

    /// `register_repository{url, branch, credentials = {...}}`.
    pub fn repository(self) -> mlua::Result<(String, Option<String>, Credentials)> {
        let url = self
            .str("url")?
            .ok_or_else(|| self.err("field url is missing".into()))?;
        let branch = self.str("branch")?;
        let creds = match self.sub("credentials")? {
            None => Credentials::None,
            Some(c) => {
                let kind = c.str("type")?.unwrap_or_default();
                let need = |k: &str| -> mlua::Result<String> {
                    c.str(k)?.ok_or_else(|| {
                        self.err(format!("credentials of type {kind:?} need credentials.{k}"))
                    })
                };
                let creds = match kind.as_str() {
                    "token" => Credentials::Token {
                        username: c.str("username")?,
                        token: need("token")?,
                    },
                    "basic" | "password" | "userpass" => Credentials::Basic {
                        username: need("username")?,
                        password: need("password")?,
                    },
                    "ssh" | "ssh_key" => Credentials::Ssh {
                        key: need("ssh_key")?,
                    },
                    other => {
                        return Err(self.err(format!(
                            "credentials.type {other:?} is not token, basic or ssh"
                        )));
                    }
                };
                c.warn_unknown("credentials.")?;
                creds
            }
        };
        self.warn_unknown("")?;
        Ok((url, branch, creds))
    }
}
