//! `atende agents`: who works at the desk, set up by an admin. The login lives in the Cognito
//! user pool (e-mail as the name, the role as a group); departments, display name and capacity
//! live in the agents table under the login's `sub`, where the desk reads them.

use atende_shared::auth::{AGENTS_GROUP, SUPERVISORS_GROUP};
use atende_shared::domain::Config;
use atende_shared::domain::agent::AgentProfile;
use atende_shared::ports::{Agents, StoreError};
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, SdkError};
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, DeliveryMediumType, ExplicitAuthFlowsType,
};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("Cognito: {0}")]
    Cognito(String),
    #[error("the agents table: {0}")]
    Store(#[from] StoreError),
}

fn cognito<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> AdminError {
    AdminError::Cognito(DisplayErrorContext(&e).to_string())
}

/// An agent as the admin describes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAgent {
    pub email: String,
    pub name: String,
    pub departments: Vec<String>,
    pub capacity: Option<u32>,
    pub supervisor: bool,
}

impl NewAgent {
    /// Checks the description against the configuration: a real e-mail, a name, departments
    /// that exist (an agent needs at least one; a supervisor sees them all anyway).
    pub fn checked(self, config: &Config) -> Result<Self, AdminError> {
        let invalid = |field, problem: String| AdminError::Invalid { field, problem };
        let email = self.email.trim().to_lowercase();
        if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
            return Err(invalid(
                "EMAIL",
                format!("`{email}` is not an e-mail address"),
            ));
        }
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(invalid("--name", "must be 1 to 60 characters".into()));
        }
        for d in &self.departments {
            if config.department(d).is_none() {
                let known: Vec<&str> = config.departments.iter().map(|d| d.id.as_str()).collect();
                return Err(invalid(
                    "--departments",
                    format!(
                        "no department `{d}` (the configuration has {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        if self.departments.is_empty() && !self.supervisor {
            return Err(invalid(
                "--departments",
                "an agent works in at least one".into(),
            ));
        }
        if self.capacity == Some(0) {
            return Err(invalid("--capacity", "must be at least 1".into()));
        }
        Ok(Self {
            email,
            name,
            ..self
        })
    }
}

/// Creates the login (Cognito e-mails a temporary password) or finds it, puts it in the right
/// group (and out of the other), and writes the profile under its `sub`. Running it again with
/// other values changes the agent.
pub async fn add(
    cognito_client: &Client,
    pool: &str,
    agents: &dyn Agents,
    agent: NewAgent,
) -> Result<AgentProfile, AdminError> {
    let attribute = |name: &str, value: &str| {
        AttributeType::builder()
            .name(name)
            .value(value)
            .build()
            .map_err(|e| AdminError::Cognito(e.to_string()))
    };
    let created = cognito_client
        .admin_create_user()
        .user_pool_id(pool)
        .username(&agent.email)
        .user_attributes(attribute("email", &agent.email)?)
        .user_attributes(attribute("email_verified", "true")?)
        .user_attributes(attribute("name", &agent.name)?)
        .desired_delivery_mediums(DeliveryMediumType::Email)
        .send()
        .await;
    if let Err(e) = created {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_username_exists_exception());
        if !exists {
            return Err(cognito(e));
        }
    }
    let user = cognito_client
        .admin_get_user()
        .user_pool_id(pool)
        .username(&agent.email)
        .send()
        .await
        .map_err(cognito)?;
    let sub = user
        .user_attributes()
        .iter()
        .find(|a| a.name() == "sub")
        .and_then(|a| a.value())
        .ok_or_else(|| AdminError::Cognito("the user has no `sub`".into()))?
        .to_owned();
    let (group, other) = if agent.supervisor {
        (SUPERVISORS_GROUP, AGENTS_GROUP)
    } else {
        (AGENTS_GROUP, SUPERVISORS_GROUP)
    };
    cognito_client
        .admin_add_user_to_group()
        .user_pool_id(pool)
        .username(&agent.email)
        .group_name(group)
        .send()
        .await
        .map_err(cognito)?;
    // Not in the other group (a no-op when it never was).
    let removed = cognito_client
        .admin_remove_user_from_group()
        .user_pool_id(pool)
        .username(&agent.email)
        .group_name(other)
        .send()
        .await;
    if let Err(e) = removed {
        tracing::debug!(error = %DisplayErrorContext(&e), "not in the other group");
    }
    let profile = AgentProfile {
        id: sub,
        email: agent.email,
        name: agent.name,
        departments: agent.departments,
        capacity: agent.capacity,
        supervisor: agent.supervisor,
    };
    agents.put_profile(&profile).await?;
    Ok(profile)
}

/// A user pool like the stack's (admin-created users, e-mail as the name, the two groups) and
/// its client, on an AWS emulator. Returns the pool id and the client id.
pub async fn create_pool(client: &Client, name: &str) -> Result<(String, String), AdminError> {
    use aws_sdk_cognitoidentityprovider::types::{
        AdminCreateUserConfigType, UsernameAttributeType,
    };
    let pool = client
        .create_user_pool()
        .pool_name(name)
        .username_attributes(UsernameAttributeType::Email)
        .admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(true)
                .build(),
        )
        .send()
        .await
        .map_err(cognito)?;
    let pool_id = pool
        .user_pool()
        .and_then(|p| p.id())
        .ok_or_else(|| AdminError::Cognito("no pool id".into()))?
        .to_owned();
    let app = client
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name(format!("{name}-desk"))
        .generate_secret(false)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .map_err(cognito)?;
    let client_id = app
        .user_pool_client()
        .and_then(|c| c.client_id())
        .ok_or_else(|| AdminError::Cognito("no client id".into()))?
        .to_owned();
    for group in [AGENTS_GROUP, SUPERVISORS_GROUP] {
        client
            .create_group()
            .user_pool_id(&pool_id)
            .group_name(group)
            .send()
            .await
            .map_err(cognito)?;
    }
    Ok((pool_id, client_id))
}

/// The agents, one per line, for `atende agents list`.
pub async fn list(agents: &dyn Agents, config: &Config) -> Result<String, AdminError> {
    let mut out = String::new();
    for a in agents.list().await? {
        let p = &a.profile;
        let role = if p.supervisor { "supervisor" } else { "agent" };
        let capacity = p.capacity.unwrap_or(config.desk.default_capacity);
        out.push_str(&format!(
            "{}\t{}\t{}\t{role}\t{}\tcapacity {capacity}\t{:?}\tholding {}\n",
            p.email,
            p.name,
            p.id,
            p.departments.join(","),
            a.presence,
            a.holding.len()
        ));
    }
    Ok(out)
}
