//! API users: who may call the API, with which token, in which roles. `admin` may do
//! everything, `readonly` may only read; any other role name is a group that approvals
//! name (`approval: {role: release-managers}`) and may read and approve.
//!
//! ```yaml
//! apiVersion: driftless.dev/v1alpha1
//! kind: User
//! metadata: {name: alice}
//! spec: {token: {env: ALICE_TOKEN}, roles: [release-managers]}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object;
use crate::repository::SecretValue;

pub const ADMIN: &str = "admin";
pub const READONLY: &str = "readonly";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub name: String,
    pub token: SecretValue,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl User {
    pub fn is_definition(doc: &Value) -> bool {
        matches!(
            (object::api_version(doc), object::kind(doc)),
            (Some("driftless.dev/v1alpha1"), Some("User"))
        )
    }

    pub fn from_doc(doc: &Value, origin: &str) -> Result<User, String> {
        let name =
            object::name(doc).ok_or_else(|| format!("{origin}: user without metadata.name"))?;
        crate::names::validate("user", name).map_err(|e| format!("{origin}: {e}"))?;
        let mut u: User = serde_json::from_value(doc.get("spec").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("{origin}: user {name}: spec: {e} (token is required: {{env: VAR}}, {{file: PATH}} or a value)"))?;
        u.name = name.to_string();
        if u.roles.is_empty() {
            return Err(format!(
                "{origin}: user {name}: spec.roles is empty; give admin, readonly or an approval role"
            ));
        }
        Ok(u)
    }

    /// Who this user is when calling the API.
    pub fn caller(&self) -> Caller {
        Caller {
            name: self.name.clone(),
            roles: self.roles.clone(),
        }
    }
}

/// Who called: a user's name and roles (no token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub name: String,
    pub roles: Vec<String>,
}

impl Caller {
    /// The engine itself and the single API token: may do everything.
    pub fn admin(name: &str) -> Caller {
        Caller {
            name: name.to_string(),
            roles: vec![ADMIN.to_string()],
        }
    }

    /// May this caller change anything (sync, rollback, set...)?
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ADMIN)
    }

    /// May this user approve a promotion that asks for `role` (None: any non-readonly user)?
    pub fn may_approve(&self, role: Option<&str>) -> bool {
        self.is_admin()
            || match role {
                Some(role) => self.roles.iter().any(|r| r == role),
                None => self.roles.iter().any(|r| r != READONLY),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[&str]) -> Caller {
        User {
            name: "u".into(),
            token: SecretValue::Value("t".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
        .caller()
    }

    #[test]
    fn roles_decide_who_acts_and_who_approves() {
        assert!(user(&["admin"]).may_approve(Some("release")));
        assert!(user(&["release"]).may_approve(Some("release")));
        assert!(!user(&["release"]).is_admin());
        assert!(!user(&["readonly"]).may_approve(None));
        assert!(!user(&["dev"]).may_approve(Some("release")));
        let doc = serde_json::json!({"apiVersion": "driftless.dev/v1alpha1", "kind": "User",
            "metadata": {"name": "bob"}, "spec": {"token": {"env": "BOB"}, "roles": []}});
        assert!(
            User::from_doc(&doc, "u.yaml#0")
                .unwrap_err()
                .contains("u.yaml#0: user bob: spec.roles")
        );
    }
}
