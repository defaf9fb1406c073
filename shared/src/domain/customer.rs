use serde::{Deserialize, Serialize};
use std::fmt;

/// Who a conversation is with.
///
/// WhatsApp identifies a customer by phone (`wa_id`) and, since business-scoped user ids, by a
/// `user_id` that may be the only identity of a customer who adopted a username. The phone leads
/// when both are known; the other name travels beside it (`QueueEvent::also`), and the session
/// store links the two, so that a customer keeps one session however Meta names them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum CustomerId {
    /// A WhatsApp id: the phone number in international format, digits only.
    Phone(String),
    /// A business-scoped user id (e.g. `US.13491208655302741918`).
    User(String),
}

impl CustomerId {
    /// Picks the identity to key a conversation by: the phone when known, else the user id.
    /// Empty strings count as absent.
    pub fn from_parts(wa_id: Option<&str>, user_id: Option<&str>) -> Option<Self> {
        match (non_empty(wa_id), non_empty(user_id)) {
            (Some(phone), _) => Some(Self::Phone(phone.to_owned())),
            (None, Some(user)) => Some(Self::User(user.to_owned())),
            (None, None) => None,
        }
    }

    /// The customer (`from_parts`) and, when both are known, their other name: the user id
    /// beside the phone.
    pub fn names(wa_id: Option<&str>, user_id: Option<&str>) -> (Option<Self>, Option<Self>) {
        let customer = Self::from_parts(wa_id, user_id);
        let also = match (non_empty(wa_id), non_empty(user_id)) {
            (Some(_), Some(user)) => Some(Self::User(user.to_owned())),
            _ => None,
        };
        (customer, also)
    }

    /// The stable key of this customer: the ordering group on the queue, the session key.
    pub fn key(&self) -> &str {
        match self {
            Self::Phone(id) | Self::User(id) => id,
        }
    }

    /// The customer a key (`key`) names: digits are a phone number, anything else a user id.
    /// `None` for an empty key.
    pub fn from_key(key: &str) -> Option<Self> {
        let key = key.trim();
        if key.is_empty() {
            None
        } else if key.chars().all(|c| c.is_ascii_digit()) {
            Some(Self::Phone(key.to_owned()))
        } else {
            Some(Self::User(key.to_owned()))
        }
    }

    /// A form safe for logs (LGPD): the first four and the last two characters survive.
    pub fn masked(&self) -> Masked<'_> {
        Masked(self.key())
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Displays an identifier with its middle hidden: `5511*******34`.
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() <= 6 {
            return f.write_str(&"*".repeat(chars.len()));
        }
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 2..].iter().collect();
        write!(f, "{head}{}{tail}", "*".repeat(chars.len() - 6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_wins_over_user_id_and_empty_counts_as_absent() {
        assert_eq!(
            CustomerId::from_parts(Some("5511999990000"), Some("US.1")),
            Some(CustomerId::Phone("5511999990000".into()))
        );
        assert_eq!(
            CustomerId::from_parts(Some(""), Some("US.1")),
            Some(CustomerId::User("US.1".into()))
        );
        assert_eq!(CustomerId::from_parts(None, Some(" ")), None);
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(Masked("5511999991234").to_string(), "5511*******34");
        assert_eq!(Masked("12345").to_string(), "*****");
        assert_eq!(
            CustomerId::User("US.13491208655302741918".into())
                .masked()
                .to_string(),
            "US.1*****************18"
        );
    }
}
