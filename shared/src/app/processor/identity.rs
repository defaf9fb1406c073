//! A customer with two names. WhatsApp names a customer by phone and, since business-scoped
//! user ids, by a user id; a payload may give either or both. The session lives under the name
//! it started with; the other is linked to it in the session store, so that an event under
//! either name (a message, a status) finds the one session: no second greeting, statuses
//! matched.

use super::{ProcessError, Processor};
use crate::domain::{CustomerId, QueueEvent, SessionRecord};
use chrono::{DateTime, Duration, Utc};

/// How long links last: two days, renewed once a day while the conversation goes on (a link
/// outlives its conversation by a day at most: the names are personal data).
const LINK_LIFETIME: Duration = Duration::days(2);

/// The customer an event belongs to.
pub(super) struct Found {
    /// The name their session is kept under (or will be, for a new one).
    pub customer: CustomerId,
    /// Their session, if one is live.
    pub record: Option<SessionRecord>,
}

impl Processor {
    /// Finds the customer's session under the event's names: the leading one (phone), then
    /// the other (user id); a link followed by the store counts.
    pub(super) async fn find(
        &self,
        event: &QueueEvent,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Found, ProcessError> {
        let mut record = self.sessions.load(customer, now).await?;
        if record.is_none()
            && let Some(also) = &event.also
        {
            record = self.sessions.load(also, now).await?;
        }
        let customer = record
            .as_ref()
            .map_or_else(|| customer.clone(), |r| r.session.customer.clone());
        Ok(Found { customer, record })
    }

    /// Links the event's names other than the session's own to it, and renews links the
    /// session could outlive. Recorded in the session (saved with it). A name that has a live
    /// session of its own is left alone (logged).
    pub(super) async fn link_names(
        &self,
        record: &mut SessionRecord,
        event: &QueueEvent,
        now: DateTime<Utc>,
    ) -> Result<(), ProcessError> {
        let session = &record.session;
        let new: Vec<CustomerId> = [event.customer.as_ref(), event.also.as_ref()]
            .into_iter()
            .flatten()
            .filter(|name| **name != session.customer && !session.aliases.contains(name))
            .cloned()
            .collect();
        let renew = !session.aliases.is_empty()
            && session
                .aliases_until
                .is_none_or(|until| until < session.expires_at());
        if new.is_empty() && !renew {
            return Ok(());
        }
        let until = now + LINK_LIFETIME;
        let names: Vec<CustomerId> = if renew {
            session.aliases.iter().chain(&new).cloned().collect()
        } else {
            new
        };
        let mut linked = Vec::new();
        for name in names {
            if self
                .sessions
                .link(&name, &record.session.customer, until, now)
                .await?
            {
                linked.push(name);
            } else {
                tracing::warn!(
                    customer = %record.session.customer.masked(),
                    other = %name.masked(),
                    "the customer's other name has a live session of its own; not linked"
                );
            }
        }
        for name in linked {
            if !record.session.aliases.contains(&name) {
                record.session.aliases.push(name);
            }
        }
        record.session.aliases_until = Some(until);
        Ok(())
    }
}
