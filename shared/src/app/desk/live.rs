//! The desk's side of live updates: tickets for the caller's pages, and what its own actions
//! change pushed to the pages concerned.

use super::{Actor, Desk, DeskError};
use crate::app::live::LiveError;
use crate::domain::live::{Change, Listener};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a page needs to open its live connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveTicket {
    /// Where to connect, the ticket in the query: `wss://…?ticket=…`.
    pub url: String,
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
}

impl From<LiveError> for DeskError {
    fn from(e: LiveError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl Desk {
    /// A one-time ticket for the caller's page to open its live connection with; they hear
    /// about their departments and their conversations (supervisors, about everything).
    pub async fn live_ticket(&self, actor: &Actor) -> Result<LiveTicket, DeskError> {
        let profile = self.profile(actor).await?;
        let Some((live, url)) = &self.live else {
            return Err(DeskError::NotFound(
                "live updates are not set up here; pages poll instead".into(),
            ));
        };
        let ticket = live
            .ticket(&Listener {
                agent: profile.id.clone(),
                departments: profile.departments.clone(),
                supervisor: profile.supervisor,
            })
            .await?;
        let separator = if url.contains('?') { '&' } else { '?' };
        Ok(LiveTicket {
            url: format!("{url}{separator}ticket={}", ticket.value),
            ticket: ticket.value,
            expires_at: ticket.expires_at,
        })
    }

    /// Tells the pages concerned, when live updates are wired (best effort).
    pub(super) async fn publish(&self, change: Change) {
        if let Some((live, _)) = &self.live {
            live.publish(&change).await;
        }
    }
}
