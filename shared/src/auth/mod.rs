//! Who calls the agents' API: JSON Web Tokens checked against a key set (JWKS).
//!
//! On AWS, API Gateway's JWT authorizer checks Cognito's tokens and hands the handler their
//! claims; `atende serve` checks bearer tokens itself with `Verifier`, against Cognito's (or
//! the emulator's) published keys, or against the keys of the `LocalIssuer` it runs when there
//! is no account. Roles come from the `cognito:groups` claim either way.

mod jwt;

pub use jwt::{AuthError, Claims, LocalIssuer, Verifier};

/// The Cognito group of agents.
pub const AGENTS_GROUP: &str = "agents";
/// The Cognito group of supervisors.
pub const SUPERVISORS_GROUP: &str = "supervisors";

/// A verified caller: their subject and groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub groups: Vec<String>,
}

impl Principal {
    pub fn is_supervisor(&self) -> bool {
        self.groups.iter().any(|g| g == SUPERVISORS_GROUP)
    }

    /// An agent or a supervisor: anyone else has no business at the desk.
    pub fn is_staff(&self) -> bool {
        self.is_supervisor() || self.groups.iter().any(|g| g == AGENTS_GROUP)
    }

    /// Groups as API Gateway's JWT authorizer passes them: a JSON array, or the claim's
    /// array flattened into one string, `"[agents supervisors]"`.
    pub fn parse_groups(claim: &str) -> Vec<String> {
        if let Ok(list) = serde_json::from_str::<Vec<String>>(claim) {
            return list;
        }
        claim
            .trim_matches(|c| c == '[' || c == ']')
            .split([' ', ','])
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_arrive_in_either_shape() {
        for claim in [
            "[agents supervisors]",
            r#"["agents","supervisors"]"#,
            "agents,supervisors",
        ] {
            assert_eq!(
                Principal::parse_groups(claim),
                ["agents", "supervisors"],
                "{claim}"
            );
        }
        assert!(Principal::parse_groups("[]").is_empty());
    }
}
