//! Sending one message of the outbox: the link of a kept file made first, then the Graph API,
//! and what each kind of failure calls for.

use super::outbox::within;
use super::{ProcessError, Processor};
use crate::domain::agent::AgentRef;
use crate::domain::engine::Input;
use crate::domain::log::{LogEntry, LogLine};
use crate::domain::{OutboundMessage, Outgoing, SessionRecord};
use crate::logging::IdDigest;
use crate::ports::{Failure, Metric, WHATSAPP_CALL_LIMIT};

impl Processor {
    /// Sends `message` (the outbox entry `out`); `sent` counts what went out (a re-engagement
    /// template included). `Ok` when the entry is done with, sent or dropped for good; an
    /// error leaves it for the event's return.
    pub(super) async fn send_one(
        &self,
        record: &mut SessionRecord,
        out: &Outgoing,
        message: &OutboundMessage,
        agent: Option<&AgentRef>,
        sent: &mut usize,
    ) -> Result<(), ProcessError> {
        let customer = record.session.customer.clone();
        match self.with_fetchable_link(message.clone()).await {
            // The store could not make the file's link: the reply waits.
            Err(e) => Err(e),
            Ok(message) => match message.sendable() {
                Err(e) => {
                    // The engine builds from a validated configuration, so this is a
                    // bug; it must not block the customer's later replies.
                    tracing::error!(customer = %customer.masked(), error = %e, "message over WhatsApp's limits; dropped");
                    Ok(())
                }
                Ok(message) => {
                    let message = message.with_reference(&out.id);
                    let send = self.whatsapp.send(&out.from, &customer, &message);
                    match within(WHATSAPP_CALL_LIMIT, send).await.and_then(|r| r) {
                        Ok(delivered) => {
                            *sent += 1;
                            self.count(Metric::RepliesOut);
                            record.session.track_sent(&delivered.id);
                            let line = LogEntry {
                                at: self.clock.now(),
                                line: LogLine::Sent {
                                    agent: agent.cloned(),
                                    text: message.message().summary(),
                                    message_id: delivered.id.clone(),
                                },
                            };
                            // The log is for reading: a failure to write it must not
                            // send the message again.
                            let key = record.session.next_log_key();
                            if let Err(e) = self.write_log(&customer, &key, &line).await {
                                tracing::error!(customer = %customer.masked(), error = %e, "sent message not logged");
                            }
                            Ok(())
                        }
                        Err(e) => {
                            self.graph_error(&e);
                            match e.failure() {
                                Failure::WindowClosed => {
                                    *sent += self.reengage(record, &out.from).await;
                                    Ok(())
                                }
                                Failure::Permanent => {
                                    tracing::error!(
                                        customer = %customer.masked(),
                                        code = ?e.code(),
                                        error = %e,
                                        "message refused for good by the Graph API; dropped"
                                    );
                                    Ok(())
                                }
                                Failure::Unknown => {
                                    // A duplicate is worse than a late answer: not sent again now. A
                                    // status webhook carrying its reference confirms it; unconfirmed
                                    // after `resend_unconfirmed_minutes`, it goes again.
                                    tracing::warn!(
                                        customer = %customer.masked(),
                                        outgoing = %IdDigest(&out.id),
                                        error = %e,
                                        "send outcome unknown; waiting for its status before sending again"
                                    );
                                    self.follow_up(
                                        record,
                                        out,
                                        Input::OutcomeUnknown {
                                            reference: &out.id,
                                            message: message.message(),
                                        },
                                    );
                                    Ok(())
                                }
                                Failure::Account => {
                                    self.count(crate::metrics::Metric::AccountFailures);
                                    tracing::error!(
                                        customer = %customer.masked(),
                                        code = ?e.code(),
                                        error = %e,
                                        "the business account cannot send; the reply waits"
                                    );
                                    Err(e.into())
                                }
                                Failure::Retry | Failure::Throttled => Err(e.into()),
                            }
                        }
                    }
                }
            },
        }
    }

    /// The customer's 24-hour window closed (131047): free-form replies cannot reach them.
    /// The first time, the configured re-engagement template goes instead (if any); the
    /// window counts as closed until they write. Returns how many messages went out.
    pub(super) async fn reengage(&self, record: &mut SessionRecord, from: &str) -> usize {
        let first = !record.session.window_closed;
        record.session.window_closed = true;
        if !first {
            tracing::warn!(customer = %record.session.customer.masked(), "window closed (131047); reply dropped");
            return 0;
        }
        self.send_reengagement(record, from).await
    }

    /// Sends the configured re-engagement template, if any. Returns how many went out.
    pub(super) async fn send_reengagement(&self, record: &mut SessionRecord, from: &str) -> usize {
        let customer = record.session.customer.clone();
        let template = match &self.config.reengagement {
            Some(t) => OutboundMessage::Template {
                name: t.template.clone(),
                language: t.language.clone(),
                parameters: Vec::new(),
            },
            None => {
                tracing::warn!(customer = %customer.masked(), "window closed (131047); no re-engagement template configured");
                return 0;
            }
        };
        let template = match template.sendable() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(customer = %customer.masked(), error = %e, "the re-engagement template is invalid");
                return 0;
            }
        };
        let send = self.whatsapp.send(from, &customer, &template);
        match within(WHATSAPP_CALL_LIMIT, send).await.and_then(|r| r) {
            Ok(delivered) => {
                record.session.track_sent(&delivered.id);
                self.count(Metric::RepliesOut);
                tracing::info!(customer = %customer.masked(), "window closed (131047); re-engagement template sent");
                1
            }
            Err(e) => {
                self.graph_error(&e);
                tracing::error!(customer = %customer.masked(), code = ?e.code(), error = %e, "window closed (131047); the re-engagement template failed too");
                0
            }
        }
    }
}
