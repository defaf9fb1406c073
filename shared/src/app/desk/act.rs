//! What agents do to a conversation they hold: reply, note, transfer, close; and their own
//! presence.

use super::{Actor, Desk, DeskError, agent_ref, conflict, invalid};
use crate::domain::agent::{AgentContent, AgentProfile, Presence, Reservation, TransferTarget};
use crate::domain::command::OutboundMessage;
use crate::domain::config::limits;
use crate::domain::session::{SessionRecord, State};
use crate::domain::{AgentAction, CustomerId};

/// The most characters of a private note.
pub const NOTE_MAX_CHARS: usize = 4096;

impl Desk {
    /// Sets the caller's presence: only available agents get customers.
    pub async fn set_presence(&self, actor: &Actor, presence: Presence) -> Result<(), DeskError> {
        let profile = self.profile(actor).await?;
        if !self.agents.set_presence(&profile.id, presence).await? {
            return Err(DeskError::NotFound("no such agent".into()));
        }
        self.publish(crate::domain::live::Change::of_agent(&profile.id))
            .await;
        Ok(())
    }

    /// A message to the customer from the agent holding the conversation (or a supervisor):
    /// text or a file while the 24-hour window is open; after it, only an approved template,
    /// and the refusal names them.
    pub async fn reply(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        content: AgentContent,
        request: &str,
    ) -> Result<(), DeskError> {
        let profile = self.profile(actor).await?;
        let content = self.checked_content(content, &profile)?;
        let now = self.clock.now();
        let record = match self.sessions.load(customer, now).await? {
            Some(record) if !record.session.window_closed => record,
            closed => {
                return self
                    .reply_after_window(&profile, customer, closed, content, request)
                    .await;
            }
        };
        if matches!(content, AgentContent::Template { .. }) {
            if !profile.supervisor {
                self.conversation_of(&profile, customer).await?;
            }
        } else {
            self.check_holder(&profile, &record, "writing to them", true)
                .await?;
        }
        let action = AgentAction::Reply {
            agent: agent_ref(&profile),
            content,
        };
        self.queue_action(&record, request, action).await
    }

    /// A private note on the conversation, for the staff.
    pub async fn note(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        text: &str,
        request: &str,
    ) -> Result<(), DeskError> {
        let profile = self.profile(actor).await?;
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("text", "is empty"));
        }
        if text.chars().count() > NOTE_MAX_CHARS {
            return Err(DeskError::Invalid {
                field: "text".into(),
                problem: format!("has more than {NOTE_MAX_CHARS} characters"),
            });
        }
        let record = self.conversation_of(&profile, customer).await?;
        let action = AgentAction::Note {
            agent: agent_ref(&profile),
            text: text.to_owned(),
        };
        self.queue_action(&record, request, action).await
    }

    /// Hands the conversation to another department's line (keeping the customer's arrival
    /// time) or to a named available agent with room, whose place is reserved now.
    pub async fn transfer(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        to: TransferTarget,
        request: &str,
    ) -> Result<(), DeskError> {
        let profile = self.profile(actor).await?;
        let record = self.conversation_of(&profile, customer).await?;
        // What the request names is checked first: a department that does not exist is a bad
        // request whoever holds the conversation.
        if let TransferTarget::Department { department } = &to
            && self.config.department(department).is_none()
        {
            return Err(invalid(
                "department",
                format!("no department `{department}`"),
            ));
        }
        self.check_holder(&profile, &record, "transferring them", false)
            .await?;
        let State::Human {
            department, agent, ..
        } = &record.session.state
        else {
            return Err(conflict("this customer is not with a person"));
        };
        let to = match to {
            TransferTarget::Department { department: target } => {
                if self.config.department(&target).is_none() {
                    return Err(invalid("department", format!("no department `{target}`")));
                }
                if &target == department {
                    return Err(conflict(format!(
                        "the conversation is in `{target}` already"
                    )));
                }
                TransferTarget::Department { department: target }
            }
            TransferTarget::Agent { agent: target } => {
                let target = self
                    .agents
                    .get(&target.id)
                    .await?
                    .ok_or_else(|| DeskError::NotFound(format!("no agent `{}`", target.id)))?;
                if agent.as_ref().is_some_and(|a| a.id == target.profile.id) {
                    return Err(conflict(format!(
                        "{} holds this conversation already",
                        target.profile.name
                    )));
                }
                let reserved = self
                    .agents
                    .reserve(
                        &target.profile.id,
                        customer,
                        self.config.desk.default_capacity,
                    )
                    .await?;
                match reserved {
                    Reservation::Reserved => {}
                    Reservation::Away => {
                        return Err(conflict(format!("{} is away", target.profile.name)));
                    }
                    Reservation::Full => {
                        return Err(conflict(format!(
                            "{} holds as many conversations as they may",
                            target.profile.name
                        )));
                    }
                    Reservation::Unknown => {
                        return Err(DeskError::NotFound("no such agent".into()));
                    }
                }
                TransferTarget::Agent {
                    agent: target.profile.as_ref(),
                }
            }
        };
        let reserved_for = match &to {
            TransferTarget::Agent { agent } => Some(agent.id.clone()),
            TransferTarget::Department { .. } => None,
        };
        let action = AgentAction::Transfer {
            agent: agent_ref(&profile),
            to,
        };
        if let Err(e) = self.queue_action(&record, request, action).await {
            if let Some(id) = reserved_for {
                self.agents.release(&id, customer).await?;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Done: the customer leaves the line (if waiting) and is asked for a score. A
    /// conversation held past the customer's window is let go.
    pub async fn close(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        request: &str,
    ) -> Result<(), DeskError> {
        let profile = self.profile(actor).await?;
        let live = self.sessions.load(customer, self.clock.now()).await?;
        let person = live
            .as_ref()
            .is_some_and(|r| matches!(r.session.state, State::Human { .. }));
        if !person && self.holds(&profile, customer).await? {
            // The window closed while the agent held them (the conversation is over, or a
            // new one is with the bot): the satisfaction question cannot reach the customer;
            // the agent's place is given back.
            self.agents.release(&profile.id, customer).await?;
            self.publish(crate::domain::live::Change {
                agents: vec![profile.id.clone()],
                customer: Some(customer.clone()),
                ..Default::default()
            })
            .await;
            return Ok(());
        }
        let record = self.conversation_of(&profile, customer).await?;
        self.check_holder(&profile, &record, "closing", false)
            .await?;
        let action = AgentAction::Close {
            agent: agent_ref(&profile),
        };
        self.queue_action(&record, request, action).await
    }

    /// Whether the caller may act as the conversation's holder: the session names them, or
    /// their claim (or a transfer to them) is reserved and on its way through the customer's
    /// queue, ahead of this action. A supervisor acts on any conversation a person holds, and,
    /// unless `needs_holder`, on a customer still waiting.
    async fn check_holder(
        &self,
        profile: &AgentProfile,
        record: &SessionRecord,
        doing: &str,
        needs_holder: bool,
    ) -> Result<(), DeskError> {
        let State::Human {
            department, agent, ..
        } = &record.session.state
        else {
            return Err(conflict("this customer is with the bot, not with a person"));
        };
        if agent.as_ref().is_some_and(|a| a.id == profile.id)
            || (profile.supervisor && (agent.is_some() || !needs_holder))
        {
            return Ok(());
        }
        let reserved = self
            .agents
            .get(&profile.id)
            .await?
            .is_some_and(|a| a.holding.contains(record.session.customer.key()));
        if reserved {
            return Ok(());
        }
        match agent {
            _ if !profile.serves(department) => Err(DeskError::Forbidden(
                "this customer is in another department's care".into(),
            )),
            Some(holder) => Err(DeskError::Forbidden(format!(
                "{} holds this conversation",
                holder.name
            ))),
            None => Err(conflict(format!("claim this customer before {doing}"))),
        }
    }

    fn window_closed(&self) -> DeskError {
        DeskError::Conflict {
            reason: "the customer's 24-hour window has closed: only an approved template can \
                     reach them now"
                .into(),
            templates: self.config.templates.clone(),
        }
    }

    /// After the window only a template goes, and only to a customer the caller's
    /// departments served (the last line they joined, in the log) or the caller still holds.
    async fn reply_after_window(
        &self,
        profile: &AgentProfile,
        customer: &CustomerId,
        record: Option<SessionRecord>,
        content: AgentContent,
        request: &str,
    ) -> Result<(), DeskError> {
        let now = self.clock.now();
        let Some(last_department) = self.last_department(customer).await? else {
            return Err(DeskError::NotFound(
                "no conversation with this customer".into(),
            ));
        };
        if !profile.supervisor
            && !last_department
                .as_deref()
                .is_some_and(|d| profile.serves(d))
            && !self.holds(profile, customer).await?
        {
            return Err(DeskError::Forbidden(
                "this customer was not in your departments' care".into(),
            ));
        }
        if !matches!(content, AgentContent::Template { .. }) {
            return Err(self.window_closed());
        }
        let record = record.unwrap_or_else(|| {
            SessionRecord::new(crate::domain::Session::new(customer.clone(), now))
        });
        let action = AgentAction::Reply {
            agent: agent_ref(profile),
            content,
        };
        self.queue_action(&record, request, action).await
    }

    /// The content as it will go out, checked: non-empty text within WhatsApp's limits once
    /// signed, a configured template with its parameters, a file by an http(s) link.
    fn checked_content(
        &self,
        content: AgentContent,
        profile: &AgentProfile,
    ) -> Result<AgentContent, DeskError> {
        match content {
            AgentContent::Text { body } => {
                let body = body.trim().to_owned();
                if body.is_empty() {
                    return Err(invalid("text", "is empty"));
                }
                let signed = self
                    .config
                    .texts
                    .agent_signature
                    .replace("{agent}", &profile.name)
                    .replace("{text}", &body);
                let length = if self.config.desk.sign_messages {
                    signed.chars().count()
                } else {
                    body.chars().count()
                };
                if length > limits::TEXT_BODY {
                    return Err(DeskError::Invalid {
                        field: "text".into(),
                        problem: format!(
                            "is {length} characters with the signature; WhatsApp takes at most {}",
                            limits::TEXT_BODY
                        ),
                    });
                }
                Ok(AgentContent::Text { body })
            }
            AgentContent::Template {
                name, parameters, ..
            } => {
                let Some(template) = self.config.templates.iter().find(|t| t.name == name) else {
                    return Err(invalid(
                        "template",
                        format!("`{name}` is not an approved template of the configuration"),
                    ));
                };
                if parameters.len() != template.parameters.len() {
                    return Err(invalid(
                        "parameters",
                        format!(
                            "`{name}` takes {} parameter(s) ({}), not {}",
                            template.parameters.len(),
                            template.parameters.join(", "),
                            parameters.len()
                        ),
                    ));
                }
                let message = OutboundMessage::Template {
                    name: template.name.clone(),
                    language: template.language.clone(),
                    parameters: parameters.clone(),
                };
                message
                    .check_limits()
                    .map_err(|problem| invalid("parameters", problem))?;
                Ok(AgentContent::Template {
                    name,
                    language: template.language.clone(),
                    parameters,
                })
            }
            AgentContent::File {
                kind,
                link,
                filename,
                caption,
            } => {
                // A kept file's link is made just before the send; checked as any link.
                let checked_link = match link.strip_prefix(crate::app::processor::STORED) {
                    Some(key) => format!("https://stored.invalid/{key}"),
                    None => link.clone(),
                };
                let message = OutboundMessage::Media {
                    kind,
                    link: checked_link,
                    filename: filename.clone(),
                    caption: caption.clone(),
                };
                message
                    .check_limits()
                    .map_err(|problem| invalid("file", problem))?;
                Ok(AgentContent::File {
                    kind,
                    link,
                    filename,
                    caption,
                })
            }
        }
    }
}

impl Desk {
    /// Erases everything kept of a customer on their request (LGPD art. 18): the session, their
    /// places in line, the conversations agents held, the conversation log; and keeps the
    /// record that it was done, naming them only by digest. Supervisors only.
    pub async fn erase(
        &self,
        actor: &Actor,
        customer: &CustomerId,
    ) -> Result<crate::domain::Erasure, DeskError> {
        let profile = self.profile(actor).await?;
        Self::supervisor_only(&profile)?;
        for department in &self.config.departments {
            self.attendance.remove(&department.id, customer).await?;
        }
        let mut released = 0;
        for agent in self.agents.list().await? {
            if agent.holding.contains(customer.key()) {
                self.agents.release(&agent.profile.id, customer).await?;
                released += 1;
            }
        }
        let erased_state = self
            .sessions
            .load(customer, self.clock.now())
            .await?
            .map(|r| r.session.state);
        let session = self.sessions.erase(customer).await?;
        let log_items = self.log.erase(customer).await?;
        let files = self
            .media
            .erase_prefix(&format!("{}/", customer.key()))
            .await?;
        let erasure = crate::domain::Erasure {
            at: self.clock.now(),
            customer_digest: crate::domain::Erasure::digest(customer),
            by: profile.id.clone(),
            session,
            log_items,
            files,
            conversations_released: released,
        };
        self.log.record_erasure(&erasure).await?;
        if let Some(state) = erased_state {
            self.publish(crate::domain::live::Change::of_conversation(
                customer, &state,
            ))
            .await;
        }
        tracing::info!(
            customer_digest = %erasure.customer_digest,
            by = %erasure.by,
            session,
            log_items,
            released,
            "customer data erased on request"
        );
        Ok(erasure)
    }
}

/// The largest file an agent sends (WhatsApp takes larger documents, but an HTTP API behind
/// API Gateway and Lambda takes at most 6 MB in a request).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// What WhatsApp makes of a file by its type, or `None` for a type it does not send.
pub fn file_kind(content_type: &str) -> Option<crate::domain::event::MediaKind> {
    use crate::domain::event::MediaKind;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(match essence.as_str() {
        "image/jpeg" | "image/png" => MediaKind::Image,
        "audio/aac" | "audio/mp4" | "audio/mpeg" | "audio/amr" | "audio/ogg" => MediaKind::Audio,
        "video/mp4" | "video/3gpp" => MediaKind::Video,
        "application/pdf"
        | "text/plain"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            MediaKind::Document
        }
        _ => return None,
    })
}

impl Desk {
    /// A file the agent uploads (a bill's PDF, a picture) goes to the customer: kept under
    /// `<customer>/out/…`, sent by a short-lived link made just before the send. As for text:
    /// the holder (or a supervisor), while the window is open.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_file(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        bytes: Vec<u8>,
        content_type: &str,
        filename: &str,
        caption: Option<String>,
        request: &str,
    ) -> Result<(), DeskError> {
        let profile = self.profile(actor).await?;
        let kind = file_kind(content_type).ok_or_else(|| {
            invalid(
                "Content-Type",
                format!("`{content_type}` is not a type WhatsApp sends (PDF, Office, JPEG, PNG, MP4, audio)"),
            )
        })?;
        if bytes.is_empty() {
            return Err(invalid("body", "the file is empty"));
        }
        let filename: String = filename
            .chars()
            .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
            .collect::<String>()
            .trim()
            .chars()
            .take(crate::domain::config::limits::FILE_NAME)
            .collect();
        if filename.is_empty() {
            return Err(invalid("name", "the file needs a name"));
        }
        let caption = caption
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        let content = self.checked_content(
            AgentContent::File {
                kind,
                link: format!("{}placeholder", crate::app::processor::STORED),
                filename: Some(filename.clone()),
                caption: caption.clone(),
            },
            &profile,
        )?;
        let now = self.clock.now();
        let record = match self.sessions.load(customer, now).await? {
            Some(record) if !record.session.window_closed => record,
            closed => {
                return self
                    .reply_after_window(&profile, customer, closed, content, request)
                    .await;
            }
        };
        self.check_holder(&profile, &record, "writing to them", true)
            .await?;
        let digest = super::action_id("file", customer, request);
        let key = crate::ports::media_key(
            customer,
            "out",
            &format!("{}/{filename}", &digest[digest.len() - 16..]),
        );
        self.media.put(&key, bytes, content_type).await?;
        let action = AgentAction::Reply {
            agent: agent_ref(&profile),
            content: AgentContent::File {
                kind,
                link: format!("{}{key}", crate::app::processor::STORED),
                filename: (kind == crate::domain::event::MediaKind::Document).then_some(filename),
                caption,
            },
        };
        self.queue_action(&record, request, action).await
    }
}
