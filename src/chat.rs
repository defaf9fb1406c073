//! `atende chat`: you are the customer. The real processor and engine run on memory adapters;
//! what the bot sends is printed, and a number picks a button or list row, as a tap would.

use crate::render::render;
use atende_shared::adapters::memory::Delivery;
use atende_shared::adapters::{
    ManualClock, MemoryAttendanceQueue, MemorySessionStore, MemoryTimers, MemoryWhatsApp,
};
use atende_shared::app::Processor;
use atende_shared::domain::{
    Config, CustomerId, EventKind, InboundMessage, MessageContent, OutboundMessage, QueueEvent,
};
use atende_shared::ports::{Assistant, Clock};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The business number the local chat pretends to be.
pub const LOCAL_BUSINESS_NUMBER: &str = "100000000000001";

/// One simulated customer talking to the processor.
pub struct ChatSession {
    processor: Processor,
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
        let processor = Processor::new(
            Arc::new(MemorySessionStore::new()),
            Arc::new(MemoryAttendanceQueue::new()),
            whatsapp.clone(),
            timers.clone(),
            clock.clone(),
            Arc::new(config),
        );
        let processor = match assistant {
            Some(assistant) => processor.with_assistant(assistant),
            None => processor,
        };
        Self {
            processor,
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
            id: format!("close.chat.{}", self.counter),
            customer: Some(self.customer.clone()),
            business_number: Some(LOCAL_BUSINESS_NUMBER.into()),
            kind: EventKind::Closed,
        };
        self.processor.handle(&event).await?;
        Ok(self.rendered())
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
