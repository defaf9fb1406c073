//! What the shell learns carrying out a command and feeds back to the engine: a place in
//! line, the assistant's answer; and what the desk reserved, given back.

use super::{ProcessError, Processor};

use crate::domain::agent::{AgentAction, TransferTarget};
use crate::domain::engine::{self, Input};
use crate::domain::sla::{Priority, WaitingCustomer};
use crate::domain::{Outgoing, SessionRecord, Turn};
use crate::ports::{ASSISTANT_TIME_LIMIT, AssistantError, AssistantRequest, Metric};

impl Processor {
    /// Queues the customer (idempotent), finds their place in line and runs the engine on it;
    /// what the engine answers goes right after this command in the outbox.
    pub(super) async fn enqueue_for_human(
        &self,
        record: &mut SessionRecord,
        out: &Outgoing,
        department: &str,
        priority: Priority,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), ProcessError> {
        let customer = record.session.customer.clone();
        let now = self.clock.now();
        self.count(Metric::Escalations {
            department: department.to_owned(),
        });
        self.attendance
            .enqueue(WaitingCustomer {
                customer: customer.clone(),
                department: department.to_owned(),
                priority,
                entered_at: since.unwrap_or(now),
                // Nobody can answer them after their window: they leave the line with it.
                expires_at: Some(record.session.expires_at()),
            })
            .await?;
        let position = self
            .attendance
            .position(department, &customer, now)
            .await?
            .unwrap_or(1);
        self.follow_up(
            record,
            out,
            Input::Queued {
                department,
                position,
            },
        );
        Ok(())
    }

    /// Gives back what the desk reserved for an action that cannot apply (the conversation is
    /// over): the place among the agent's conversations of a claim or a transfer to them.
    pub(super) async fn release_reserved(
        &self,
        action: &AgentAction,
        customer: &crate::domain::CustomerId,
    ) -> Result<(), ProcessError> {
        let reserved = match action {
            AgentAction::Claim { agent, .. } => Some(agent),
            AgentAction::Transfer {
                to: TransferTarget::Agent { agent },
                ..
            } => Some(agent),
            _ => None,
        };
        if let (Some(agent), Some(agents)) = (reserved, &self.agents) {
            agents.release(&agent.id, customer).await?;
        }
        Ok(())
    }

    /// Asks the assistant and runs the engine on its answer. A failure is not retried here:
    /// the engine apologises and hands over to a person.
    pub(super) async fn ask_assistant(
        &self,
        record: &mut SessionRecord,
        out: &Outgoing,
        question: &str,
        history: &[Turn],
    ) {
        let settings = &self.config.assistant;
        let started = std::time::Instant::now();
        let reply = match &self.assistant {
            Some(assistant) => {
                let answer = assistant.answer(AssistantRequest {
                    model: &settings.model,
                    max_tokens: settings.max_tokens,
                    system_prompt: &settings.system_prompt,
                    history,
                    question,
                });
                // Held to its limit whatever the adapter does.
                tokio::time::timeout(ASSISTANT_TIME_LIMIT, answer)
                    .await
                    .unwrap_or_else(|_| {
                        Err(AssistantError::Unavailable(format!(
                            "no answer within {} s",
                            ASSISTANT_TIME_LIMIT.as_secs()
                        )))
                    })
                    .inspect_err(|e| {
                        tracing::warn!(
                            customer = %record.session.customer.masked(),
                            error = %e,
                            "assistant failed; handing over"
                        )
                    })
                    .ok()
            }
            None => None,
        };
        let input = match &reply {
            Some(r) => Input::AssistantAnswer {
                text: &r.text,
                wants_human: r.wants_human,
            },
            None => Input::AssistantFailed,
        };
        if self.assistant.is_some() {
            self.count(Metric::AssistantLatency {
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
            if reply.is_none() {
                self.count(Metric::AssistantFailures);
            }
        }
        self.follow_up(record, out, input);
    }

    /// Runs the engine on what the shell learned carrying out `out`; the commands it answers
    /// with go right after `out` in the outbox.
    pub(super) fn follow_up(&self, record: &mut SessionRecord, out: &Outgoing, input: Input<'_>) {
        let (session, follow_up) = engine::step(
            record.session.clone(),
            input,
            self.clock.now(),
            &self.config,
        );
        record.session = session;
        for (n, command) in follow_up.into_iter().enumerate() {
            record.outbox.insert(
                1 + n,
                Outgoing {
                    id: format!("{}.{n}", out.id),
                    from: out.from.clone(),
                    command,
                    attempts: 0,
                },
            );
        }
    }
}
