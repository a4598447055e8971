use serde::{Deserialize, Serialize};

use super::UserId;
use std::{fmt, str::FromStr};

/// What a user may do. Admins manage users, tokens and settings; members run
/// agents and workflows; viewers only watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
    Viewer,
}

impl Role {
    /// Whether this role may do what `required` may (admin > member > viewer).
    pub const fn at_least(self, required: Role) -> bool {
        const fn rank(r: Role) -> u8 {
            match r {
                Role::Viewer => 0,
                Role::Member => 1,
                Role::Admin => 2,
            }
        }
        rank(self) >= rank(required)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// A user as anyone may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub role: Role,
}

/// A person with an account, as admins see them on the People page and
/// at `GET /api/v1/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    /// Whether they may sign in (a deactivated account keeps its history).
    pub active: bool,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    /// Their linked GitHub login, if any.
    pub github_login: Option<String>,
    /// Who they are at the single sign-on provider (email, else subject),
    /// if linked.
    #[serde(default)]
    pub sso_login: Option<String>,
}

/// How people may sign in here, for the login and invitation pages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SignInOptions {
    /// With a username and password.
    pub password: bool,
    /// With a linked GitHub account.
    pub github: bool,
    /// With the single sign-on provider of this name.
    pub sso: Option<String>,
}

/// Your single sign-on link, on your account page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SsoLink {
    /// The provider's name, as the sign-in button says it.
    pub provider: String,
    /// Who you are there (email, else subject); None: not linked.
    pub linked_as: Option<String>,
}

/// A change an admin makes to a person (`PATCH /api/v1/users/{id}`):
/// each field left out stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonChange {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// A place someone is signed in (a session token), as "Your account"
/// and `GET /api/v1/me/sessions` list them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SignedInSession {
    /// The token's id.
    pub id: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    /// The address it was signed in from.
    pub client: Option<String>,
    /// The session this request came with.
    pub current: bool,
}

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
        }
    }
}

/// An invitation as admins see it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub role: Role,
    /// Whom it is meant for, as the inviting admin noted it.
    pub email: Option<String>,
    /// The inviting admin's username.
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub status: InvitationStatus,
    /// The username of whoever joined with it.
    pub accepted_by: Option<String>,
    /// A password reset link for this person (`None`: an invitation).
    #[serde(default)]
    pub reset_for: Option<String>,
}

/// An invitation just made: its one-time link, shown only now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewInvitation {
    #[serde(flatten)]
    pub invitation: Invitation,
    /// The link to send: `<public URL>/invite/<token>`.
    pub url: String,
    pub token: String,
}

/// What an admin asks for (`POST /api/v1/invitations`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvitationInput {
    pub role: Role,
    #[serde(default)]
    pub email: Option<String>,
    /// How long the link works, 1–720 hours (default 168: a week).
    #[serde(default)]
    pub expires_in_hours: Option<u32>,
}

/// What the person opening a link is told before joining.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InvitationPreview {
    pub role: Role,
    pub invited_by: String,
    pub expires_at: i64,
    /// A password reset link: for this username (who then only chooses a
    /// new password).
    #[serde(default)]
    pub reset_for: Option<String>,
}

/// The colour theme a person picked. `System` follows the operating system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    pub const fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// The theme to switch to from this one (light → dark → system → light).
    pub const fn next(self) -> Theme {
        match self {
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
            Theme::System => Theme::Light,
        }
    }
}

impl FromStr for Theme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" => Ok(Theme::System),
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            other => Err(format!("unknown theme {other:?}")),
        }
    }
}

/// What the browser knows about who is looking at it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The signed-in user, if any.
    pub user: Option<User>,
    /// True until the first admin has been created: every page then leads
    /// to the one-time setup page.
    pub needs_setup: bool,
    pub theme: Theme,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips_through_its_name() {
        for role in [Role::Admin, Role::Member, Role::Viewer] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.at_least(Role::Member));
        assert!(Role::Member.at_least(Role::Member));
        assert!(!Role::Viewer.at_least(Role::Member));
        assert!(!Role::Member.at_least(Role::Admin));
    }

    #[test]
    fn theme_cycles_through_all_three() {
        let mut t = Theme::Light;
        let mut seen = vec![];
        for _ in 0..3 {
            seen.push(t);
            t = t.next();
        }
        assert_eq!(t, Theme::Light);
        assert_eq!(seen, vec![Theme::Light, Theme::Dark, Theme::System]);
    }
}
