//! `yagura serve`'s single sign-on flags.

use app::model::Role;
use clap::Args;

use crate::config::SsoConfig;

#[derive(Debug, Clone, Args)]
pub struct SsoArgs {
    /// Sign people in with this OpenID Connect provider (its issuer URL,
    /// e.g. https://keycloak.example/realms/acme); the callback to
    /// register is <public URL>/auth/sso/callback.
    #[arg(long, env = "YAGURA_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client id registered at the provider.
    #[arg(long, env = "YAGURA_OIDC_CLIENT_ID", default_value = "")]
    pub oidc_client_id: String,
    /// A file holding the client secret (or YAGURA_OIDC_CLIENT_SECRET);
    /// without either, Yagura is a public client (PKCE only).
    #[arg(long, env = "YAGURA_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<std::path::PathBuf>,
    /// What the sign-in button calls the provider.
    #[arg(long, env = "YAGURA_OIDC_NAME", default_value = "single sign-on")]
    pub oidc_name: String,
    /// Scopes asked for besides `openid` (comma-separated).
    #[arg(
        long,
        env = "YAGURA_OIDC_SCOPES",
        value_delimiter = ',',
        default_value = "profile,email"
    )]
    pub oidc_scopes: Vec<String>,
    /// The role of someone the provider signs in who has no account yet
    /// (`admin`, `member`, `viewer`, or `none`: refused unless invited or
    /// a group maps to a role).
    #[arg(long, env = "YAGURA_OIDC_NEW_USERS", default_value = "none")]
    pub oidc_new_users: String,
    /// The ID token claim listing the person's groups.
    #[arg(long, env = "YAGURA_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// ROLE=GROUP: someone new in GROUP gets ROLE (repeat, or separate
    /// with commas; the highest role matched wins).
    #[arg(
        long = "oidc-role-group",
        env = "YAGURA_OIDC_ROLE_GROUPS",
        value_delimiter = ','
    )]
    pub oidc_role_groups: Vec<String>,
    /// Make accounts by the rules above only for people with a verified
    /// email address at one of these domains (repeat, or commas). Set it
    /// with a provider anyone can have an account at (Google, a
    /// multi-tenant Entra app).
    #[arg(
        long = "oidc-email-domain",
        env = "YAGURA_OIDC_EMAIL_DOMAINS",
        value_delimiter = ','
    )]
    pub oidc_email_domains: Vec<String>,
    /// Refuse password sign-ins (and joining or resetting with a
    /// password): single sign-on only. First-run setup still makes the
    /// first admin with a password; a reset link (`yagura user
    /// reset-link`) then links a provider account instead.
    #[arg(long, env = "YAGURA_NO_PASSWORD_SIGN_IN")]
    pub no_password_sign_in: bool,
}

impl SsoArgs {
    /// The configuration these flags describe, or why they do not fit.
    pub fn config(&self) -> anyhow::Result<SsoConfig> {
        let issuer = self
            .oidc_issuer
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_owned);
        if issuer.is_none() && self.no_password_sign_in {
            anyhow::bail!("--no-password-sign-in needs single sign-on (--oidc-issuer)");
        }
        let client_secret = match &self.oidc_client_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot read --oidc-client-secret-file {}: {e}",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_string(),
            ),
            None => std::env::var("YAGURA_OIDC_CLIENT_SECRET").ok(),
        }
        .filter(|s| !s.is_empty());
        let new_user_role = match self.oidc_new_users.trim() {
            "" | "none" => None,
            role => Some(role.parse::<Role>().map_err(|_| {
                anyhow::anyhow!("--oidc-new-users is admin, member, viewer or none, not {role:?}")
            })?),
        };
        let role_groups = self
            .oidc_role_groups
            .iter()
            .filter(|m| !m.trim().is_empty())
            .map(|m| {
                let (role, group) = m.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!(
                        "--oidc-role-group is ROLE=GROUP (e.g. admin=yagura-admins), not {m:?}"
                    )
                })?;
                let role = role.trim().parse::<Role>().map_err(|_| {
                    anyhow::anyhow!("--oidc-role-group {m:?}: the role is admin, member or viewer")
                })?;
                Ok((role, group.trim().to_string()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(SsoConfig {
            issuer,
            client_id: self.oidc_client_id.trim().to_string(),
            client_secret,
            name: self.oidc_name.trim().to_string(),
            scopes: self
                .oidc_scopes
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            new_user_role,
            groups_claim: self.oidc_groups_claim.trim().to_string(),
            role_groups,
            email_domains: self
                .oidc_email_domains
                .iter()
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
        })
    }
}
