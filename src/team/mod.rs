//! Teams, as plain data: projects, roles and what each role may do, who is acting, and the
//! review states a template goes through. Pure code: the SQL is in [`crate::store::team`],
//! the HTTP checks in `http::access`, both derived from [`CAPABILITIES`].

pub mod review;

pub use review::{ReviewError, ReviewState};

use std::fmt;
use std::str::FromStr;

/// A role a principal holds in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Designer,
    Publisher,
    Operator,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Owner,
        Role::Admin,
        Role::Designer,
        Role::Publisher,
        Role::Operator,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Designer => "designer",
            Role::Publisher => "publisher",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// Whether this role may do `capability` (one row of [`CAPABILITIES`]).
    pub fn may(self, capability: Capability) -> bool {
        let column = Role::ALL.iter().position(|r| *r == self).expect("listed");
        CAPABILITIES
            .iter()
            .find(|(c, _)| *c == capability)
            .is_some_and(|(_, row)| row[column])
    }

    /// Everything this role may do.
    pub fn capabilities(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(move |c| self.may(*c))
    }

    /// Whether a holder of this role may do everything `other` may (a key never holds more
    /// than the principal that made it).
    pub fn covers(self, other: Role) -> bool {
        other.capabilities().all(|c| self.may(c))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role '{s}': owner, admin, designer, publisher, operator or viewer")
            })
    }
}

/// Something a principal may be allowed to do in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Read templates, drafts, versions, reviews.
    View,
    /// Create and edit drafts, submit them for review.
    Edit,
    /// Upload pictures to the project's folder.
    Upload,
    /// Render drafts (previews).
    Preview,
    /// Approve or reject submitted drafts, publish, archive.
    Publish,
    /// Make signed and sealed URLs.
    MakeUrls,
    /// Read usage reports.
    ReadUsage,
    /// Purge cached renders.
    Purge,
    /// Read the audit trail.
    ReadAudit,
    /// Add and remove members and API keys (below owner).
    ManageMembers,
    /// Change project settings (four eyes, quotas, signing keys).
    Settings,
    /// Grant or revoke the owner role; delete the project.
    Ownership,
}

impl Capability {
    pub const ALL: [Capability; 12] = [
        Capability::View,
        Capability::Edit,
        Capability::Upload,
        Capability::Preview,
        Capability::Publish,
        Capability::MakeUrls,
        Capability::ReadUsage,
        Capability::Purge,
        Capability::ReadAudit,
        Capability::ManageMembers,
        Capability::Settings,
        Capability::Ownership,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::View => "view",
            Capability::Edit => "edit",
            Capability::Upload => "upload",
            Capability::Preview => "preview",
            Capability::Publish => "publish",
            Capability::MakeUrls => "make_urls",
            Capability::ReadUsage => "read_usage",
            Capability::Purge => "purge",
            Capability::ReadAudit => "read_audit",
            Capability::ManageMembers => "manage_members",
            Capability::Settings => "settings",
            Capability::Ownership => "ownership",
        }
    }
}

const Y: bool = true;
const N: bool = false;

/// The one capability table: columns in [`Role::ALL`] order (owner, admin, designer,
/// publisher, operator, viewer). README's "Teams" table is checked against it by a test.
pub const CAPABILITIES: &[(Capability, [bool; 6])] = &[
    (Capability::View, [Y, Y, Y, Y, Y, Y]),
    (Capability::Edit, [Y, Y, Y, N, N, N]),
    (Capability::Upload, [Y, Y, Y, N, N, N]),
    (Capability::Preview, [Y, Y, Y, Y, N, N]),
    (Capability::Publish, [Y, Y, N, Y, N, N]),
    (Capability::MakeUrls, [Y, Y, N, N, Y, N]),
    (Capability::ReadUsage, [Y, Y, N, N, Y, N]),
    (Capability::Purge, [Y, Y, N, N, Y, N]),
    (Capability::ReadAudit, [Y, Y, N, N, N, N]),
    (Capability::ManageMembers, [Y, Y, N, N, N, N]),
    (Capability::Settings, [Y, Y, N, N, N, N]),
    (Capability::Ownership, [Y, N, N, N, N, N]),
];

/// The project everything made before projects existed belongs to; its templates keep
/// unqualified names (`tpl~name~3`).
pub const DEFAULT_PROJECT: &str = "default";

/// Project ids: 1 to 32 lowercase letters, digits or `-`, starting with a letter — URL-safe
/// and never containing the `.` that joins a project to a template name.
pub fn valid_project(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The name a template is stored, cached and addressed under: `name` in the default project,
/// `project.name` elsewhere (`tpl~emea.webinar~2`).
pub fn qualified(project: &str, name: &str) -> String {
    if project == DEFAULT_PROJECT {
        name.to_string()
    } else {
        format!("{project}.{name}")
    }
}

/// The project and template name of a qualified name.
pub fn split_qualified(qualified: &str) -> (&str, &str) {
    qualified
        .split_once('.')
        .unwrap_or((DEFAULT_PROJECT, qualified))
}

/// Who is acting, as authentication established it (never from a header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `admin.token`: a break-glass owner of everything.
    Token,
    /// The command line on the server's own machine.
    Cli,
    User {
        id: i64,
        email: String,
    },
    Key {
        id: i64,
        prefix: String,
    },
}

impl Principal {
    /// The stable id stored in memberships and the audit trail: `user:3`, `key:tsk_ab12cd34`,
    /// `token`, `cli`.
    pub fn id(&self) -> String {
        match self {
            Principal::Token => "token".into(),
            Principal::Cli => "cli".into(),
            Principal::User { id, .. } => format!("user:{id}"),
            Principal::Key { prefix, .. } => format!("key:{prefix}"),
        }
    }

    /// A readable name for the audit trail.
    pub fn name(&self) -> String {
        match self {
            Principal::Token => "admin.token".into(),
            Principal::Cli => "command line".into(),
            Principal::User { email, .. } => email.clone(),
            Principal::Key { prefix, .. } => prefix.clone(),
        }
    }

    /// Whether this principal is an owner of everything (break-glass token, local CLI).
    pub fn is_superuser(&self) -> bool {
        matches!(self, Principal::Token | Principal::Cli)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_row_per_capability() {
        assert_eq!(CAPABILITIES.len(), Capability::ALL.len());
        for c in Capability::ALL {
            assert_eq!(CAPABILITIES.iter().filter(|(x, _)| *x == c).count(), 1);
        }
    }

    #[test]
    fn the_readme_table_is_this_table() {
        let readme = include_str!("../../README.md");
        let rows: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| capability | owner |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(
            rows.len(),
            CAPABILITIES.len(),
            "one README row per capability"
        );
        for ((capability, allowed), row) in CAPABILITIES.iter().zip(rows) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert!(
                cells[1].starts_with(&format!("`{}`", capability.as_str())),
                "{row}"
            );
            let marks: Vec<bool> = cells[2..8].iter().map(|c| *c == "✓").collect();
            assert_eq!(marks, allowed.to_vec(), "{row}");
        }
    }

    #[test]
    fn roles_follow_the_table() {
        assert!(Role::ALL.iter().all(|r| r.may(Capability::View)));
        assert!(Role::Owner.may(Capability::Ownership));
        assert!(!Role::Admin.may(Capability::Ownership));
        assert!(Role::Designer.may(Capability::Edit) && !Role::Designer.may(Capability::Publish));
        assert!(Role::Publisher.may(Capability::Publish) && !Role::Publisher.may(Capability::Edit));
        assert!(Role::Operator.may(Capability::MakeUrls) && Role::Operator.may(Capability::Purge));
        assert_eq!(Role::Viewer.capabilities().count(), 1);
        assert!(Role::Owner.covers(Role::Admin) && Role::Admin.covers(Role::Designer));
        assert!(!Role::Designer.covers(Role::Publisher));
        assert!(!Role::Admin.covers(Role::Owner));
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }

    #[test]
    fn qualified_names_keep_the_default_project_unqualified() {
        assert_eq!(qualified("default", "badge"), "badge");
        assert_eq!(qualified("emea", "badge"), "emea.badge");
        assert_eq!(split_qualified("badge"), ("default", "badge"));
        assert_eq!(split_qualified("emea.badge"), ("emea", "badge"));
        assert!(valid_project("emea-2") && !valid_project("Emea") && !valid_project("a.b"));
        assert!(!valid_project("") && !valid_project("1st"));
    }
}
