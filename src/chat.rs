//! `atende chat`: you are the customer. The real processor and engine run on memory adapters;
//! what the bot sends is printed, and a number picks a button or list row, as a tap would.

use crate::render::render;
use atende_shared::adapters::memory::Delivery;
use atende_shared::adapters::{
    ManualClock, MemoryAgents, MemoryAttendanceQueue, MemoryConversationLog, MemoryEventQueue,
    MemoryMediaStore, MemorySessionStore, MemoryTimers, MemoryWhatsApp,
};
use atende_shared::app::desk::DeskError;
use atende_shared::app::{Actor, Desk, DeskPorts, ProcessError, Processor};
use atende_shared::domain::agent::{AgentContent, Presence, TransferTarget};
use atende_shared::domain::{
    Config, CustomerId, EventKind, InboundMessage, MediaKind, MessageContent, OutboundMessage,
    QueueEvent,
};
use atende_shared::ports::{Agents, Assistant, Clock};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What a person at the desk does, in `ChatSession::agent`.
pub enum AgentStep {
    Claim,
    Available(bool),
    /// A supervisor gives the customer to the named agent.
    Assign(String),
    Reply(AgentContent),
    Note(String),
    /// To a department (by id) or a demo agent (by name).
    Transfer(String),
    Close,
}

impl AgentStep {
    /// A file the agent sends, by its name: a PDF is a document, a picture an image.
    pub fn file(name: &str, caption: Option<&str>) -> Self {
        let kind = if name.ends_with(".jpg") || name.ends_with(".png") {
            MediaKind::Image
        } else {
            MediaKind::Document
        };
        Self::Reply(AgentContent::File {
            kind,
            link: format!("https://files.atende.local/{name}"),
            filename: (kind == MediaKind::Document).then(|| name.to_owned()),
            caption: caption.map(str::to_owned),
        })
    }
}

/// A demo agent's id by their name.
fn demo_id(name: &str) -> Option<String> {
    crate::demo::agents()
        .into_iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.id)
}

/// The business number the local chat pretends to be.
pub const LOCAL_BUSINESS_NUMBER: &str = "100000000000001";

/// One simulated customer talking to the processor.
pub struct ChatSession {
    processor: Processor,
    desk: Desk,
    agents: Arc<MemoryAgents>,
    events: Arc<MemoryEventQueue>,
    whatsapp: Arc<MemoryWhatsApp>,
    timers: Arc<MemoryTimers>,
    clock: Arc<ManualClock>,
    customer: CustomerId,
    profile_name: Option<String>,
    counter: u64,
    /// The choices of the last interactive message, for picking by number.
    choices: Vec<(String, String, bool)>,
}

impl ChatSession {
    pub fn new(
        config: Config,
        clock: Arc<ManualClock>,
        profile_name: Option<String>,
        assistant: Option<Arc<dyn Assistant>>,
    ) -> Self {
        let whatsapp = Arc::new(MemoryWhatsApp::new());
        let timers = Arc::new(MemoryTimers::new());
        let sessions = Arc::new(MemorySessionStore::new());
        let attendance = Arc::new(MemoryAttendanceQueue::new());
        let agents = Arc::new(MemoryAgents::new());
        let log = Arc::new(MemoryConversationLog::new());
        let events = Arc::new(MemoryEventQueue::new());
        // Nothing serves the chat's files: their links name a host that does not exist.
        let media: Arc<dyn atende_shared::ports::MediaStore> = Arc::new(
            MemoryMediaStore::new("http://files.atende.invalid")
                .unwrap_or_else(|e| panic!("the chat's file store: {e}")),
        );
        let config = Arc::new(config);
        let desk = Desk::new(
            DeskPorts {
                agents: agents.clone(),
                attendance: attendance.clone(),
                sessions: sessions.clone(),
                events: events.clone(),
                log: log.clone(),
                media: media.clone(),
                clock: clock.clone(),
            },
            config.clone(),
            Some(LOCAL_BUSINESS_NUMBER.into()),
        );
        let processor = Processor::new(
            sessions,
            attendance,
            whatsapp.clone(),
            timers.clone(),
            clock.clone(),
            config,
        )
        .with_desk(agents.clone(), log)
        .with_media(media);
        let processor = match assistant {
            Some(assistant) => processor.with_assistant(assistant),
            None => processor,
        };
        Self {
            processor,
            desk,
            agents,
            events,
            whatsapp,
            timers,
            clock,
            customer: CustomerId::Phone("5511900000000".into()),
            profile_name,
            counter: 0,
            choices: Vec::new(),
        }
    }

    /// What the customer typed, as WhatsApp would deliver it: a number within the last
    /// message's choices is a tap on that choice; anything else is text.
    pub fn content_for(&self, typed: &str) -> MessageContent {
        let picked = typed
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.choices.get(i));
        match picked {
            Some((id, title, false)) => MessageContent::ButtonReply {
                id: id.clone(),
                title: title.clone(),
            },
            Some((id, title, true)) => MessageContent::ListReply {
                id: id.clone(),
                title: title.clone(),
                description: None,
            },
            None => MessageContent::Text {
                body: typed.to_owned(),
            },
        }
    }

    /// Sends what the customer typed and returns the bot's answer, rendered.
    pub async fn say(&mut self, typed: &str) -> Result<String, atende_shared::app::ProcessError> {
        let content = self.content_for(typed);
        self.send(content).await
    }

    /// Plays the agent closing the conversation; returns what the bot then says, rendered.
    pub async fn close(&mut self) -> Result<String, atende_shared::app::ProcessError> {
        self.counter += 1;
        let event = QueueEvent {
            also: None,
            id: format!("close.chat.{}", self.counter),
            customer: Some(self.customer.clone()),
            business_number: Some(LOCAL_BUSINESS_NUMBER.into()),
            kind: EventKind::Closed,
        };
        self.processor.handle(&event).await?;
        Ok(self.rendered())
    }

    /// Adds the demo team (`demo::agents`), every one available.
    pub async fn with_demo_agents(self) -> Self {
        for profile in crate::demo::agents() {
            // Memory adapters do not fail.
            let _ = self.agents.put_profile(&profile).await;
            let _ = self
                .agents
                .set_presence(&profile.id, Presence::Available)
                .await;
        }
        self
    }

    /// Plays a person at the desk (`who`, a demo agent's name) doing `step` through the desk's
    /// rules; returns what the customer then receives, rendered, or the desk's refusal as a
    /// `desk:` line.
    pub async fn agent(&mut self, who: &str, step: AgentStep) -> Result<String, ProcessError> {
        let Some(profile) = crate::demo::agents()
            .into_iter()
            .find(|a| a.name.eq_ignore_ascii_case(who))
        else {
            return Ok(format!("desk: nobody called {who} at the desk\n"));
        };
        let actor = Actor {
            id: profile.id.clone(),
            supervisor: profile.supervisor,
        };
        self.counter += 1;
        let request = format!("chat-request-{}", self.counter);
        let customer = self.customer.clone();
        let done = match step {
            AgentStep::Claim => match self.desk.claim_next(&actor).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(DeskError::NotFound("nobody to take".into())),
                Err(e) => Err(e),
            },
            AgentStep::Available(available) => {
                let presence = if available {
                    Presence::Available
                } else {
                    Presence::Away
                };
                self.desk.set_presence(&actor, presence).await
            }
            AgentStep::Assign(name) => match demo_id(&name) {
                Some(id) => self.desk.assign(&actor, &customer, &id).await.map(|_| ()),
                None => Err(DeskError::NotFound(format!("no agent {name}"))),
            },
            AgentStep::Reply(content) => {
                self.desk.reply(&actor, &customer, content, &request).await
            }
            AgentStep::Note(text) => self.desk.note(&actor, &customer, &text, &request).await,
            AgentStep::Transfer(to) => {
                let target = match demo_id(&to) {
                    Some(id) => TransferTarget::Agent {
                        agent: atende_shared::domain::AgentRef {
                            id,
                            name: to.clone(),
                        },
                    },
                    None => TransferTarget::Department { department: to },
                };
                self.desk
                    .transfer(&actor, &customer, target, &request)
                    .await
            }
            AgentStep::Close => self.desk.close(&actor, &customer, &request).await,
        };
        if let Err(e) = done {
            return Ok(format!("desk: {e}\n"));
        }
        for event in self.events.drain() {
            self.processor.handle(&event).await?;
        }
        Ok(self.rendered())
    }

    /// The customer's conversation log as the supervisor reads it, one `log:` line each.
    pub async fn log(&self) -> String {
        let supervisor = Actor {
            id: "carla".into(),
            supervisor: true,
        };
        match self
            .desk
            .conversation(&supervisor, &self.customer, None, 200)
            .await
        {
            Ok(page) => page
                .lines
                .iter()
                .map(|l| format!("log: {}\n", crate::render::log_line(l)))
                .collect(),
            Err(e) => format!("desk: {e}\n"),
        }
    }

    /// Moves the clock to `to` (never back), stopping at every timer the bot set that is due
    /// on the way to run it, as the scheduler would; returns what the bot said meanwhile,
    /// rendered.
    pub async fn advance_to(
        &mut self,
        to: DateTime<Utc>,
    ) -> Result<String, atende_shared::app::ProcessError> {
        let mut out = String::new();
        while let Some(due) = self.timers.next_due().filter(|due| *due <= to) {
            self.clock.set(due.max(self.clock.now()));
            for event in self.timers.due(self.clock.now()) {
                self.processor.handle(&event).await?;
            }
            out.push_str(&self.rendered());
        }
        self.clock.set(to.max(self.clock.now()));
        Ok(out)
    }

    /// The time on the conversation's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Sends any message content (media, reactions…) and returns the bot's answer, rendered.
    pub async fn send(
        &mut self,
        content: MessageContent,
    ) -> Result<String, atende_shared::app::ProcessError> {
        self.counter += 1;
        let event = QueueEvent {
            also: None,
            id: format!("wamid.chat.{}", self.counter),
            customer: Some(self.customer.clone()),
            business_number: Some(LOCAL_BUSINESS_NUMBER.into()),
            kind: EventKind::Message(InboundMessage {
                id: format!("wamid.chat.{}", self.counter),
                sent_at: None,
                profile_name: self.profile_name.clone(),
                content,
            }),
        };
        self.processor.handle(&event).await?;
        Ok(self.rendered())
    }

    /// What the bot sent since the last call, rendered; remembers the last choices offered.
    fn rendered(&mut self) -> String {
        let mut out = String::new();
        for delivery in self.whatsapp.take() {
            if let Delivery::Sent { message, .. } = delivery {
                let choices = message.choices();
                if !choices.is_empty() {
                    let is_list = matches!(message, OutboundMessage::List { .. });
                    self.choices = choices
                        .into_iter()
                        .map(|(id, title)| (id.to_owned(), title.to_owned(), is_list))
                        .collect();
                }
                out.push_str(&render(&message));
            }
        }
        out
    }
}
