//! The business's configuration: texts, menu, departments. Parsed from TOML and validated
//! against WhatsApp's limits, so that a message the engine builds from it is always sendable.

use crate::domain::hours::{BusinessHours, HoursConfig};
use serde::Deserialize;
use std::collections::HashSet;

/// The configuration shipped with atende (pt-BR), embedded in every binary.
pub const EMBEDDED: &str = include_str!("../../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration is not valid TOML or has the wrong shape: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("configuration field `{field}` {problem}")]
    Invalid { field: String, problem: String },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub business_name: String,
    /// IANA time zone of the business (e.g. `America/Sao_Paulo`).
    pub timezone: String,
    #[serde(default)]
    pub menu_keywords: Vec<String>,
    /// Words or phrases (whole words, case and accents ignored) that send the customer to a
    /// human from any bot state.
    #[serde(default)]
    pub escalation_triggers: Vec<String>,
    /// The department whose queue triggers and repeated misunderstandings lead to.
    pub escalation_department: String,
    /// Misunderstood messages in a row before the customer goes to a human.
    pub max_bot_attempts: u32,
    /// What a customer says to end the conversation from the menu ("obrigado", "tchau"): the
    /// bot then asks the satisfaction question. Whole message, case and accents ignored.
    #[serde(default)]
    pub farewell_keywords: Vec<String>,
    /// Customers (wa_id) who go first in every queue.
    #[serde(default)]
    pub vip_numbers: Vec<String>,
    pub texts: Texts,
    pub menu: Menu,
    #[serde(default)]
    pub departments: Vec<Department>,
    /// The AI assistant that answers free text, when one is wired (see `assistant_available`).
    pub assistant: AssistantConfig,
    /// Set by the shell that wires an assistant; free text goes to it only then.
    #[serde(skip)]
    pub assistant_available: bool,
    /// Frequent questions answered at the menu when typed text has one of their keywords.
    #[serde(default)]
    pub faq: Vec<FaqEntry>,
    /// WhatsApp Flows (forms) that menu options can send.
    #[serde(default)]
    pub flows: Vec<FlowConfig>,
    /// What the sales flow offers (at most 10 items: one list message).
    #[serde(default)]
    pub catalog: Vec<CatalogItem>,
    /// The template sent once when a reply was refused because the customer's 24-hour window
    /// had closed (131047); none when absent.
    #[serde(default)]
    pub reengagement: Option<TemplateRef>,
    /// How the staff hear of handoffs and SLA alerts (the `[notifications]` table).
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// What happens while nobody writes (the `[timers]` table).
    #[serde(default)]
    pub timers: TimersConfig,
    /// Opening hours; without an `[hours]` table the business counts as always open.
    #[serde(default, rename = "hours")]
    pub hours_table: Option<HoursConfig>,
    /// Built from `hours_table` and `timezone` when the file loads.
    #[serde(skip)]
    pub hours: Option<BusinessHours>,
    /// How the agents' desk works (the `[desk]` table).
    #[serde(default)]
    pub desk: crate::domain::agent::DeskConfig,
    /// Templates approved in WhatsApp Manager that agents may send, the only messages allowed
    /// outside the customer's 24-hour window (`[[templates]]`).
    #[serde(default)]
    pub templates: Vec<crate::domain::agent::ApprovedTemplate>,
    /// Answers agents pick by typing "/" and a shortcut (`[[quick_replies]]`).
    #[serde(default)]
    pub quick_replies: Vec<crate::domain::agent::QuickReply>,
    /// The words the engine compares typed text with, folded once when the file loads.
    #[serde(skip)]
    pub folded: FoldedWords,
}

/// Configuration words folded for matching (`text::fold`), in the order of their lists.
#[derive(Clone, Debug, Default)]
pub struct FoldedWords {
    pub triggers: Vec<String>,
    pub menu_keywords: Vec<String>,
    pub farewells: Vec<String>,
    pub menu_titles: Vec<String>,
    pub catalog_titles: Vec<String>,
    /// The sales confirmation's buttons: confirm, back.
    pub checkout_titles: Vec<String>,
    /// Each FAQ entry's keywords, in `faq` order.
    pub faq_keywords: Vec<Vec<String>>,
}

fn default_queue_position_closed() -> String {
    "Você está na posição {position} da fila de {department}. Nossa equipe volta {opening}; \
     você será atendido(a) assim que abrirmos."
        .to_owned()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub greeting: String,
    pub greeting_anonymous: String,
    pub not_understood: String,
    /// Inside a flow, before its question is asked again.
    pub not_understood_choice: String,
    pub unsupported_message: String,
    /// Sent when a conversation starts while the business is closed, once per closed period.
    pub off_hours: String,
    /// Sent when a trigger word sends the customer to a human.
    pub handoff: String,
    /// Sent when the bot gave up after `max_bot_attempts` misunderstandings.
    pub handoff_after_attempts: String,
    /// The customer's place in line: `{position}`, `{department}`, `{minutes}` (the estimate).
    pub queue_position: String,
    /// The same while the business is closed (no estimate in minutes would be true):
    /// `{position}`, `{department}`, `{opening}` (when the team is back, "30/11 às 08:00").
    #[serde(default = "default_queue_position_closed")]
    pub queue_position_closed: String,
    /// A guided flow is done and goes to a person of `{department}`.
    pub department_handoff: String,
    /// Support: after the description, offers to take a photo, video, audio or document.
    pub support_attachment_prompt: String,
    /// Support: the button that skips the attachment.
    pub support_no_attachment_button: String,
    /// Sales: the catalog list's body and its button.
    pub sales_catalog_body: String,
    pub sales_catalog_button: String,
    /// Sales: confirmation of the chosen `{item}` at `{price}`, and its two buttons.
    pub sales_confirm: String,
    pub sales_confirm_button: String,
    pub sales_back_button: String,
    /// Finance: the document given does not check out.
    pub finance_invalid_document: String,
    /// The satisfaction question, asked when a conversation ends; its answer is 0 to 10.
    pub nps_question: String,
    /// The answer was not a number from 0 to 10.
    pub nps_invalid: String,
    /// Thanks for the answer; the conversation is over.
    pub nps_thanks: String,
    /// The assistant could not answer: an apology before the handover to a person.
    pub assistant_unavailable: String,
    /// The customer went quiet in a bot conversation for `timers.inactivity_follow_up_minutes`.
    pub inactivity_follow_up: String,
    /// The bot conversation is closed after `timers.inactivity_close_minutes` of silence.
    pub inactivity_closed: String,
    /// The business just opened; sent to who wrote while it was closed, within their window.
    pub open_now: String,
    /// The line moved: `{position}`, `{department}`, `{minutes}` (looked up every
    /// `timers.queue_update_minutes`).
    pub queue_update: String,
    /// An agent took the conversation: `{agent}` (their name), `{department}`.
    pub agent_joined: String,
    /// How an agent's message reads when `desk.sign_messages` is on: `{agent}`, `{text}`.
    pub agent_signature: String,
    /// The conversation goes to another department's line: `{department}`.
    pub transferred_department: String,
    /// The conversation goes to another agent: `{agent}`.
    pub transferred_agent: String,
}

/// The `[notifications]` table: the words of the staff's notices and who gets them on
/// WhatsApp. (An HTTP endpoint for them, such as a Slack incoming webhook, is a secret and
/// comes from `NOTIFY_WEBHOOK_URL`.)
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// WhatsApp numbers (wa_id) of the supervisors who get every notice. WhatsApp delivers
    /// them only while each supervisor's own 24-hour window with the business number is open.
    pub supervisors: Vec<String>,
    /// `{customer}`, `{department}`, `{reason}`; the problem, attachments, order or document
    /// and the last lines of the conversation follow.
    pub handoff: String,
    /// How many lines of the conversation a handoff notice carries.
    pub handoff_lines: usize,
    /// `{customer}`, `{department}`, `{minutes}` waited, `{limit}` (the alert minutes).
    pub sla_warning: String,
    /// Same, `{limit}` being the maximum wait.
    pub sla_breach: String,
    /// A customer an agent holds waits for the agent's answer: `{customer}`, `{department}`,
    /// `{agent}`, `{minutes}` waited, `{limit}` (the department's `reply_alert_minutes`).
    pub reply_overdue: String,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            supervisors: Vec::new(),
            handoff: "🙋 {customer} aguarda atendimento em {department} (motivo: {reason})."
                .to_owned(),
            handoff_lines: 6,
            sla_warning: "⚠️ {customer} espera há {minutes} min na fila de {department} (alerta em {limit} min).".to_owned(),
            sla_breach: "🚨 SLA estourado: {customer} espera há {minutes} min na fila de {department} (máximo {limit} min).".to_owned(),
            reply_overdue: "⏳ {customer} espera há {minutes} min a resposta de {agent} em {department} (alerta em {limit} min).".to_owned(),
        }
    }
}

/// A message template approved in WhatsApp Manager.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    pub template: String,
    #[serde(default = "default_template_language")]
    pub language: String,
}

fn default_template_language() -> String {
    "pt_BR".to_owned()
}

/// The `[timers]` table. A number of minutes of 0 turns that timer off.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimersConfig {
    /// Silence in a bot conversation (menu, a guided flow, the assistant) before the follow-up.
    pub inactivity_follow_up_minutes: u32,
    /// Silence before the bot conversation is closed (counted from the customer's last
    /// message, so after the follow-up).
    pub inactivity_close_minutes: u32,
    /// After an agent closes, the satisfaction question waits this long (0: at once), so it
    /// does not cross the agent's goodbye.
    pub nps_delay_minutes: u32,
    /// Tell who wrote while the business was closed that it opened (if their 24-hour window
    /// is still open and nobody is attending them).
    pub open_now_notice: bool,
    /// How often the place in line of a customer waiting for a person is looked up; they hear
    /// it when the line moved.
    pub queue_update_minutes: u32,
    /// A message whose send timed out is sent again after this long unless a status webhook
    /// confirmed it (0: never sent again).
    pub resend_unconfirmed_minutes: u32,
}

impl Default for TimersConfig {
    fn default() -> Self {
        Self {
            inactivity_follow_up_minutes: 10,
            inactivity_close_minutes: 30,
            nps_delay_minutes: 2,
            open_now_notice: true,
            queue_update_minutes: 10,
            resend_unconfirmed_minutes: 2,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MenuStyle {
    Buttons,
    List,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub style: MenuStyle,
    #[serde(default)]
    pub header: Option<String>,
    pub body: String,
    #[serde(default)]
    pub footer: Option<String>,
    #[serde(default = "default_list_button")]
    pub list_button: String,
    pub options: Vec<MenuOption>,
}

fn default_list_button() -> String {
    "Ver opções".to_owned()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuOption {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The list section this option is shown in (list style only).
    #[serde(default)]
    pub section: Option<String>,
    /// The department that handles this option, if any (required by the flows).
    #[serde(default)]
    pub department: Option<String>,
    /// What the option does after its answer: nothing more (`answer`, the default), or one of
    /// the guided flows that end with a person of `department`.
    #[serde(default)]
    pub flow: OptionFlow,
    /// With `flow = "whatsapp_flow"`: which of `[[flows]]` to send.
    #[serde(default)]
    pub whatsapp_flow: Option<String>,
    /// What the bot answers when the option is picked (for a flow: its first question).
    pub answer: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionFlow {
    /// Answer and stay in the menu.
    #[default]
    Answer,
    /// Ask what the problem is, offer to take an attachment, open a ticket with a person.
    Support,
    /// Show the catalog, confirm the chosen item, pass the order to a person.
    Sales,
    /// Ask for the CPF or CNPJ (check digits validated) for a bill's second copy.
    Finance,
    /// Send the WhatsApp Flow named by `whatsapp_flow` (a form); its answers are confirmed.
    WhatsappFlow,
}

/// A WhatsApp Flow the bot can send (built in Meta's Flow Builder; `flow_id` is Meta's).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// atende's name for it, used by menu options and as the flow token's prefix.
    pub id: String,
    pub flow_id: String,
    /// The call-to-action button (at most 20 characters, no emoji).
    pub cta: String,
    /// The first screen.
    pub screen: String,
    #[serde(default)]
    pub header: Option<String>,
    pub body: String,
    #[serde(default)]
    pub footer: Option<String>,
    /// The first screen's data.
    #[serde(default)]
    pub data: Option<toml::Table>,
    /// How each answer field is named to the customer in the confirmation (`date = "Data"`);
    /// fields without a label are not repeated back.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The confirmation: `{answers}` is replaced by "Label: value" lines.
    pub confirmation: String,
}

/// A frequent question: any of its keywords (whole words, case and accents ignored) in what
/// the customer types at the menu gets its answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqEntry {
    pub keywords: Vec<String>,
    pub answer: String,
}

/// The `[assistant]` table: how the AI assistant is asked.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantConfig {
    pub model: String,
    pub max_tokens: u32,
    /// Answers longer than this are cut at a word boundary (300 reads well on a phone).
    pub max_answer_chars: usize,
    /// How many lines of the conversation go with each question.
    pub history_turns: usize,
    pub system_prompt: String,
    /// Besides the `transfer_to_human` tool, an answer with one of these (whole words, case and
    /// accents ignored) hands over to a person: the seed's keyword check, as a fallback.
    #[serde(default)]
    pub handover_phrases: Vec<String>,
}

/// An item of the sales catalog, shown as a list row.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogItem {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub price: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: String,
    pub name: String,
    /// Minutes of waiting after which supervisors are warned.
    pub sla_alert_minutes: u32,
    /// Minutes of waiting after which the SLA is breached.
    pub sla_max_minutes: u32,
    /// Average minutes an agent spends per customer, for the waiting-time estimate.
    pub avg_handling_minutes: u32,
    /// Minutes a customer whose conversation an agent holds may wait for the agent's answer
    /// before supervisors are warned.
    #[serde(default = "default_reply_alert_minutes")]
    pub reply_alert_minutes: u32,
}

fn default_reply_alert_minutes() -> u32 {
    10
}

/// WhatsApp's limits on interactive messages (Cloud API documentation).
pub mod limits {
    pub const TEXT_BODY: usize = 4096;
    pub const MAX_BUTTONS: usize = 3;
    pub const BUTTON_TITLE: usize = 20;
    pub const BUTTON_ID: usize = 256;
    pub const BUTTON_BODY: usize = 1024;
    pub const HEADER: usize = 60;
    pub const FOOTER: usize = 60;
    pub const LIST_ROWS: usize = 10;
    pub const LIST_SECTIONS: usize = 10;
    pub const ROW_TITLE: usize = 24;
    pub const ROW_DESCRIPTION: usize = 72;
    pub const ROW_ID: usize = 200;
    pub const SECTION_TITLE: usize = 24;
    pub const LIST_BUTTON: usize = 20;
    pub const LIST_BODY: usize = 4096;
    pub const FLOW_CTA: usize = 20;
    pub const CAPTION: usize = 1024;
    pub const FILE_NAME: usize = 240;
    pub const TEMPLATE_PARAMETER: usize = 1024;
}

impl Config {
    /// The configuration shipped with atende.
    pub fn embedded() -> Result<Self, ConfigError> {
        Self::from_toml(EMBEDDED)
    }

    /// Parses and validates a configuration file's text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text)?;
        config.validate()?;
        if let Some(table) = &config.hours_table {
            let hours =
                BusinessHours::new(&config.timezone, table).map_err(|e| ConfigError::Invalid {
                    field: e.field,
                    problem: e.problem,
                })?;
            config.hours = Some(hours);
        }
        let fold_all = |words: &mut dyn Iterator<Item = &String>| -> Vec<String> {
            words.map(|w| crate::domain::text::fold(w)).collect()
        };
        config.folded = FoldedWords {
            triggers: fold_all(&mut config.escalation_triggers.iter()),
            menu_keywords: fold_all(&mut config.menu_keywords.iter()),
            farewells: fold_all(&mut config.farewell_keywords.iter()),
            menu_titles: fold_all(&mut config.menu.options.iter().map(|o| &o.title)),
            catalog_titles: fold_all(&mut config.catalog.iter().map(|i| &i.title)),
            faq_keywords: config
                .faq
                .iter()
                .map(|f| {
                    f.keywords
                        .iter()
                        .map(|k| crate::domain::text::fold(k))
                        .collect()
                })
                .collect(),
            checkout_titles: fold_all(
                &mut [
                    &config.texts.sales_confirm_button,
                    &config.texts.sales_back_button,
                ]
                .into_iter(),
            ),
        };
        Ok(config)
    }

    /// Whether the business is open at `at` (always, without an `[hours]` table).
    pub fn is_open(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        self.hours.as_ref().is_none_or(|h| h.is_open(at))
    }

    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    pub fn flow(&self, id: &str) -> Option<&FlowConfig> {
        self.flows.iter().find(|f| f.id == id)
    }

    /// The answer of the menu option that runs `flow` for `department` (a flow's question,
    /// asked again when the reply does not fit).
    ///
    /// A conversation saved under an earlier configuration may name a department no option of
    /// that flow has now: then the flow's first option answers, and without one the "não
    /// entendi" text (never an empty message).
    pub fn menu_option_answer(&self, department: &str, flow: OptionFlow) -> String {
        let options = || self.menu.options.iter().filter(|o| o.flow == flow);
        options()
            .find(|o| o.department.as_deref() == Some(department))
            .or_else(|| options().next())
            .map(|o| o.answer.clone())
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| self.texts.not_understood.clone())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        use limits::*;
        non_empty("business_name", &self.business_name)?;
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return invalid(
                "timezone",
                format!("is `{}`, not an IANA time zone", self.timezone),
            );
        }
        for (name, text) in [
            ("texts.greeting", &self.texts.greeting),
            ("texts.greeting_anonymous", &self.texts.greeting_anonymous),
            ("texts.not_understood", &self.texts.not_understood),
            (
                "texts.not_understood_choice",
                &self.texts.not_understood_choice,
            ),
            ("texts.unsupported_message", &self.texts.unsupported_message),
            ("texts.off_hours", &self.texts.off_hours),
            ("texts.handoff", &self.texts.handoff),
            (
                "texts.handoff_after_attempts",
                &self.texts.handoff_after_attempts,
            ),
            ("texts.queue_position", &self.texts.queue_position),
            (
                "texts.queue_position_closed",
                &self.texts.queue_position_closed,
            ),
            ("texts.department_handoff", &self.texts.department_handoff),
            (
                "texts.support_attachment_prompt",
                &self.texts.support_attachment_prompt,
            ),
            ("texts.sales_catalog_body", &self.texts.sales_catalog_body),
            ("texts.sales_confirm", &self.texts.sales_confirm),
            (
                "texts.finance_invalid_document",
                &self.texts.finance_invalid_document,
            ),
            ("texts.nps_question", &self.texts.nps_question),
            ("texts.nps_invalid", &self.texts.nps_invalid),
            ("texts.nps_thanks", &self.texts.nps_thanks),
            (
                "texts.assistant_unavailable",
                &self.texts.assistant_unavailable,
            ),
            (
                "texts.inactivity_follow_up",
                &self.texts.inactivity_follow_up,
            ),
            ("texts.inactivity_closed", &self.texts.inactivity_closed),
            ("texts.open_now", &self.texts.open_now),
            ("texts.queue_update", &self.texts.queue_update),
            ("texts.agent_joined", &self.texts.agent_joined),
            ("texts.agent_signature", &self.texts.agent_signature),
            (
                "texts.transferred_department",
                &self.texts.transferred_department,
            ),
            ("texts.transferred_agent", &self.texts.transferred_agent),
            ("notifications.handoff", &self.notifications.handoff),
            ("notifications.sla_warning", &self.notifications.sla_warning),
            ("notifications.sla_breach", &self.notifications.sla_breach),
            (
                "notifications.reply_overdue",
                &self.notifications.reply_overdue,
            ),
        ] {
            non_empty(name, text)?;
            max_chars(name, text, TEXT_BODY)?;
        }

        let menu = &self.menu;
        if menu.options.is_empty() {
            return invalid(
                "menu.options",
                "is empty; the menu needs at least one option",
            );
        }
        max_chars_opt("menu.header", menu.header.as_deref(), HEADER)?;
        max_chars_opt("menu.footer", menu.footer.as_deref(), FOOTER)?;
        non_empty("menu.body", &menu.body)?;
        let (max_options, title_limit, body_limit) = match menu.style {
            MenuStyle::Buttons => (MAX_BUTTONS, BUTTON_TITLE, BUTTON_BODY),
            MenuStyle::List => (LIST_ROWS, ROW_TITLE, LIST_BODY),
        };
        max_chars("menu.body", &menu.body, body_limit)?;
        if menu.options.len() > max_options {
            return invalid(
                "menu.options",
                format!(
                    "has {} options; a {:?} menu allows at most {max_options}",
                    menu.options.len(),
                    menu.style
                ),
            );
        }
        if menu.style == MenuStyle::List {
            non_empty("menu.list_button", &menu.list_button)?;
            max_chars("menu.list_button", &menu.list_button, LIST_BUTTON)?;
        }
        let mut ids = HashSet::new();
        let mut titles = HashSet::new();
        let mut sections = Vec::new();
        for (i, option) in menu.options.iter().enumerate() {
            let field = |name: &str| format!("menu.options[{i}].{name}");
            non_empty(&field("id"), &option.id)?;
            max_chars(
                &field("id"),
                &option.id,
                match menu.style {
                    MenuStyle::Buttons => BUTTON_ID,
                    MenuStyle::List => ROW_ID,
                },
            )?;
            if !ids.insert(option.id.as_str()) {
                return invalid(&field("id"), format!("`{}` is used twice", option.id));
            }
            non_empty(&field("title"), &option.title)?;
            max_chars(&field("title"), &option.title, title_limit)?;
            if !titles.insert(crate::domain::text::fold(&option.title)) {
                return invalid(&field("title"), format!("`{}` is used twice", option.title));
            }
            max_chars_opt(
                &field("description"),
                option.description.as_deref(),
                ROW_DESCRIPTION,
            )?;
            max_chars_opt(&field("section"), option.section.as_deref(), SECTION_TITLE)?;
            non_empty(&field("answer"), &option.answer)?;
            max_chars(&field("answer"), &option.answer, TEXT_BODY)?;
            if let Some(dept) = &option.department
                && self.department(dept).is_none()
            {
                return invalid(
                    &field("department"),
                    format!("names `{dept}`, which is not among [[departments]]"),
                );
            }
            if option.flow == OptionFlow::WhatsappFlow {
                match option.whatsapp_flow.as_deref() {
                    Some(id) if self.flow(id).is_some() => {}
                    Some(id) => {
                        return invalid(
                            &field("whatsapp_flow"),
                            format!("names `{id}`, which is not among [[flows]]"),
                        );
                    }
                    None => {
                        return invalid(
                            &field("whatsapp_flow"),
                            "is required by flow `whatsapp_flow`",
                        );
                    }
                }
            } else if option.flow != OptionFlow::Answer && option.department.is_none() {
                return invalid(
                    &field("department"),
                    format!("is required by flow `{:?}`", option.flow).to_lowercase(),
                );
            }
            if option.flow == OptionFlow::Sales && self.catalog.is_empty() {
                return invalid(&field("flow"), "is `sales` but [[catalog]] is empty");
            }
            if !sections.contains(&option.section) {
                sections.push(option.section.clone());
            }
        }
        // WhatsApp wants a title on every section of a list with more than one.
        if menu.style == MenuStyle::List && sections.len() > 1 && sections.contains(&None) {
            return invalid(
                "menu.options",
                "mix options with and without `section`; with several sections each needs a title",
            );
        }
        if menu.style == MenuStyle::List && sections.len() > LIST_SECTIONS {
            return invalid(
                "menu.options",
                format!(
                    "use {} sections; a list allows at most {LIST_SECTIONS}",
                    sections.len()
                ),
            );
        }
        for (name, title) in [
            (
                "texts.support_no_attachment_button",
                &self.texts.support_no_attachment_button,
            ),
            (
                "texts.sales_confirm_button",
                &self.texts.sales_confirm_button,
            ),
            ("texts.sales_back_button", &self.texts.sales_back_button),
        ] {
            non_empty(name, title)?;
            max_chars(name, title, BUTTON_TITLE)?;
        }
        // The sales confirmation shows both buttons in one message: WhatsApp refuses two
        // buttons with one title, and a customer could not tell them apart.
        if crate::domain::text::fold(&self.texts.sales_confirm_button)
            == crate::domain::text::fold(&self.texts.sales_back_button)
        {
            return invalid(
                "texts.sales_back_button",
                format!(
                    "is `{}`, as texts.sales_confirm_button: the two buttons of one message need \
                     different titles",
                    self.texts.sales_back_button
                ),
            );
        }
        non_empty(
            "texts.sales_catalog_button",
            &self.texts.sales_catalog_button,
        )?;
        max_chars(
            "texts.sales_catalog_button",
            &self.texts.sales_catalog_button,
            LIST_BUTTON,
        )?;
        max_chars(
            "texts.support_attachment_prompt",
            &self.texts.support_attachment_prompt,
            BUTTON_BODY,
        )?;
        if self.catalog.len() > LIST_ROWS {
            return invalid(
                "catalog",
                format!(
                    "has {} items; a list shows at most {LIST_ROWS}",
                    self.catalog.len()
                ),
            );
        }
        non_empty("assistant.model", &self.assistant.model)?;
        non_empty("assistant.system_prompt", &self.assistant.system_prompt)?;
        if self.assistant.max_answer_chars == 0 || self.assistant.max_answer_chars > TEXT_BODY {
            return invalid(
                "assistant.max_answer_chars",
                format!("must be between 1 and {TEXT_BODY}"),
            );
        }
        if self.assistant.max_tokens == 0 {
            return invalid("assistant.max_tokens", "must be at least 1");
        }
        for (i, f) in self.faq.iter().enumerate() {
            if f.keywords
                .iter()
                .all(|k| crate::domain::text::fold(k).is_empty())
            {
                return invalid(
                    &format!("faq[{i}].keywords"),
                    "has no keyword with letters or digits",
                );
            }
            non_empty(&format!("faq[{i}].answer"), &f.answer)?;
            max_chars(&format!("faq[{i}].answer"), &f.answer, TEXT_BODY)?;
        }
        let mut flow_ids = HashSet::new();
        for (i, f) in self.flows.iter().enumerate() {
            let field = |name: &str| format!("flows[{i}].{name}");
            non_empty(&field("id"), &f.id)?;
            if !flow_ids.insert(f.id.as_str()) {
                return invalid(&field("id"), format!("`{}` is used twice", f.id));
            }
            non_empty(&field("flow_id"), &f.flow_id)?;
            non_empty(&field("cta"), &f.cta)?;
            max_chars(&field("cta"), &f.cta, FLOW_CTA)?;
            non_empty(&field("screen"), &f.screen)?;
            non_empty(&field("body"), &f.body)?;
            max_chars(&field("body"), &f.body, BUTTON_BODY)?;
            max_chars_opt(&field("header"), f.header.as_deref(), HEADER)?;
            max_chars_opt(&field("footer"), f.footer.as_deref(), FOOTER)?;
            non_empty(&field("confirmation"), &f.confirmation)?;
            max_chars(&field("confirmation"), &f.confirmation, TEXT_BODY)?;
        }
        // The checkout is a button message: its body, prices substituted, must fit.
        for (i, item) in self.catalog.iter().enumerate() {
            let body = self
                .texts
                .sales_confirm
                .replace("{item}", &item.title)
                .replace("{price}", &item.price);
            max_chars(
                &format!("texts.sales_confirm (with catalog[{i}])"),
                &body,
                BUTTON_BODY,
            )?;
        }
        let mut item_ids = HashSet::new();
        for (i, item) in self.catalog.iter().enumerate() {
            let field = |name: &str| format!("catalog[{i}].{name}");
            non_empty(&field("id"), &item.id)?;
            max_chars(&field("id"), &item.id, ROW_ID)?;
            if !item_ids.insert(item.id.as_str()) {
                return invalid(&field("id"), format!("`{}` is used twice", item.id));
            }
            non_empty(&field("title"), &item.title)?;
            max_chars(&field("title"), &item.title, ROW_TITLE)?;
            max_chars_opt(
                &field("description"),
                item.description.as_deref(),
                ROW_DESCRIPTION,
            )?;
            non_empty(&field("price"), &item.price)?;
        }
        if self.department(&self.escalation_department).is_none() {
            return invalid(
                "escalation_department",
                format!(
                    "names `{}`, which is not among [[departments]]",
                    self.escalation_department
                ),
            );
        }
        if self.max_bot_attempts == 0 {
            return invalid("max_bot_attempts", "must be at least 1");
        }
        for (i, t) in self.escalation_triggers.iter().enumerate() {
            if crate::domain::text::fold(t).is_empty() {
                return invalid(
                    &format!("escalation_triggers[{i}]"),
                    "has no letters or digits",
                );
            }
        }
        let mut dept_ids = HashSet::new();
        for (i, d) in self.departments.iter().enumerate() {
            let field = |name: &str| format!("departments[{i}].{name}");
            non_empty(&field("id"), &d.id)?;
            if !dept_ids.insert(d.id.as_str()) {
                return invalid(&field("id"), format!("`{}` is used twice", d.id));
            }
            non_empty(&field("name"), &d.name)?;
            if d.sla_alert_minutes > d.sla_max_minutes {
                return invalid(
                    &field("sla_alert_minutes"),
                    format!(
                        "({}) is later than sla_max_minutes ({})",
                        d.sla_alert_minutes, d.sla_max_minutes
                    ),
                );
            }
        }
        // Timers must go off inside the customer's 24-hour window to be allowed to speak.
        const DAY_MINUTES: u32 = 24 * 60;
        let t = &self.timers;
        for (name, minutes) in [
            (
                "timers.inactivity_follow_up_minutes",
                t.inactivity_follow_up_minutes,
            ),
            (
                "timers.inactivity_close_minutes",
                t.inactivity_close_minutes,
            ),
            ("timers.nps_delay_minutes", t.nps_delay_minutes),
            ("timers.queue_update_minutes", t.queue_update_minutes),
            (
                "timers.resend_unconfirmed_minutes",
                t.resend_unconfirmed_minutes,
            ),
        ] {
            if minutes >= DAY_MINUTES {
                return invalid(
                    name,
                    format!("is {minutes}; it must be under {DAY_MINUTES} (the 24-hour window)"),
                );
            }
        }
        if t.inactivity_close_minutes > 0
            && t.inactivity_close_minutes <= t.inactivity_follow_up_minutes
        {
            return invalid(
                "timers.inactivity_close_minutes",
                format!(
                    "({}) must be later than inactivity_follow_up_minutes ({}), or 0",
                    t.inactivity_close_minutes, t.inactivity_follow_up_minutes
                ),
            );
        }
        self.validate_desk()
    }

    /// The desk's table and the templates agents may send.
    fn validate_desk(&self) -> Result<(), ConfigError> {
        if self.desk.default_capacity == 0 {
            return invalid("desk.default_capacity", "must be at least 1");
        }
        if self.desk.retention_days == 0 {
            return invalid("desk.retention_days", "must be at least 1");
        }
        let mut shortcuts = HashSet::new();
        for (i, reply) in self.quick_replies.iter().enumerate() {
            let field = |name: &str| format!("quick_replies[{i}].{name}");
            non_empty(&field("shortcut"), &reply.shortcut)?;
            max_chars(&field("shortcut"), &reply.shortcut, 40)?;
            if reply.shortcut.chars().any(char::is_whitespace) {
                return invalid(&field("shortcut"), "is one word, without spaces");
            }
            if !shortcuts.insert(&reply.shortcut) {
                return invalid(&field("shortcut"), format!("`{}` twice", reply.shortcut));
            }
            non_empty(&field("text"), &reply.text)?;
            max_chars(&field("text"), &reply.text, 4000)?;
            for d in &reply.departments {
                if self.department(d).is_none() {
                    return invalid(&field("departments"), format!("no department `{d}`"));
                }
            }
        }
        let mut names = HashSet::new();
        for (i, template) in self.templates.iter().enumerate() {
            let field = |name: &str| format!("templates[{i}].{name}");
            non_empty(&field("name"), &template.name)?;
            max_chars(&field("name"), &template.name, 512)?;
            non_empty(&field("language"), &template.language)?;
            max_chars(&field("language"), &template.language, 15)?;
            if !names.insert(&template.name) {
                return invalid(&field("name"), format!("`{}` twice", template.name));
            }
        }
        Ok(())
    }
}

fn invalid<T>(field: &str, problem: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid {
        field: field.to_owned(),
        problem: problem.into(),
    })
}

fn non_empty(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return invalid(field, "is empty");
    }
    Ok(())
}

fn max_chars(field: &str, value: &str, max: usize) -> Result<(), ConfigError> {
    let n = value.chars().count();
    if n > max {
        return invalid(
            field,
            format!("is {n} characters long; WhatsApp allows at most {max}"),
        );
    }
    Ok(())
}

fn max_chars_opt(field: &str, value: Option<&str>, max: usize) -> Result<(), ConfigError> {
    value.map_or(Ok(()), |v| max_chars(field, v, max))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_desk_and_its_templates_are_checked() {
        let bad = |extra: &str| {
            let text = format!("{EMBEDDED}\n{extra}");
            Config::from_toml(&text).err().map(|e| e.to_string())
        };
        let twice = "[[templates]]\nname = \"retomar_atendimento\"\nlanguage = \"pt_BR\"\n";
        assert!(
            bad(twice).unwrap().contains("templates[1].name"),
            "{:?}",
            bad(twice)
        );
        let no_language = "[[templates]]\nname = \"outro\"\nlanguage = \"\"\n";
        assert!(bad(no_language).unwrap().contains("templates[1].language"));
        let quick = "[[quick_replies]]\nshortcut = \"ola\"\ntext = \"oi\"\n";
        assert!(bad(quick).unwrap().contains("quick_replies[4].shortcut"));
        let nowhere =
            "[[quick_replies]]\nshortcut = \"x\"\ntext = \"oi\"\ndepartments = [\"juridico\"]\n";
        assert!(
            bad(nowhere)
                .unwrap()
                .contains("quick_replies[4].departments")
        );
        let zero = EMBEDDED.replace("default_capacity = 3", "default_capacity = 0");
        let err = Config::from_toml(&zero).err().unwrap().to_string();
        assert!(err.contains("desk.default_capacity"), "{err}");
    }

    use super::*;

    #[test]
    fn the_shipped_configuration_loads() {
        let config = Config::embedded().expect("shipped config is valid");
        assert_eq!(config.timezone, "America/Sao_Paulo");
        assert_eq!(config.menu.options.len(), 4);
        assert!(config.department("suporte").is_some());
        // Shipped hours: Sunday closed, Monday 8-18 (São Paulo, UTC-3).
        let sunday_noon = "2026-11-29T15:00:00Z".parse().unwrap();
        let monday_noon = "2026-11-30T15:00:00Z".parse().unwrap();
        assert!(!config.is_open(sunday_noon));
        assert!(config.is_open(monday_noon));
    }

    /// Each case edits the shipped file and names the field the error must point at.
    #[test]
    fn a_bad_file_names_the_field() {
        let cases = [
            (
                r#"title = "Suporte""#,
                r#"title = "Suporte técnico e garantia""#,
                "menu.options[0].title",
            ),
            (
                r#"id = "btn_vendas""#,
                r#"id = "btn_suporte""#,
                "menu.options[1].id",
            ),
            (
                r#"timezone = "America/Sao_Paulo""#,
                r#"timezone = "Mars/Olympus""#,
                "timezone",
            ),
            (
                r#"escalation_department = "suporte""#,
                r#"escalation_department = "juridico""#,
                "escalation_department",
            ),
            (
                "max_bot_attempts = 3",
                "max_bot_attempts = 0",
                "max_bot_attempts",
            ),
            (
                r#"department = "vendas""#,
                r#"department = "nenhum""#,
                "menu.options[1].department",
            ),
            (
                "sla_alert_minutes = 3",
                "sla_alert_minutes = 30",
                "departments[1].sla_alert_minutes",
            ),
            (
                r#"friday = "08:00-17:00""#,
                r#"friday = "8h-17h""#,
                "hours.friday",
            ),
            (
                r#"header = "Bem-vindo!""#,
                &format!(r#"header = "{}""#, "x".repeat(61)),
                "menu.header",
            ),
            (
                "inactivity_close_minutes = 30",
                "inactivity_close_minutes = 5",
                "timers.inactivity_close_minutes",
            ),
            (
                "queue_update_minutes = 10",
                "queue_update_minutes = 1440",
                "timers.queue_update_minutes",
            ),
        ];
        for (from, to, field) in cases {
            let text = EMBEDDED.replacen(from, to, 1);
            assert_ne!(text, EMBEDDED, "case {field} edits nothing");
            match Config::from_toml(&text) {
                Err(ConfigError::Invalid { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: expected an Invalid error, got {other:?}"),
            }
        }
    }

    /// Issue item "reply-button titles are unique within a message": the sales confirmation's two
    /// buttons may not share a title (however it is capitalised or accented).
    #[test]
    fn reply_button_titles_are_unique_within_a_message() {
        let same = EMBEDDED.replacen(
            r#"sales_back_button = "Voltar ao menu""#,
            r#"sales_back_button = "CONFIRMAR PEDIDO""#,
            1,
        );
        assert_ne!(same, EMBEDDED);
        let err = Config::from_toml(&same).unwrap_err();
        assert!(err.to_string().contains("texts.sales_back_button"), "{err}");
    }

    #[test]
    fn four_options_fit_a_list_but_not_buttons() {
        assert_eq!(Config::embedded().unwrap().menu.style, MenuStyle::List);
        let buttons = EMBEDDED.replacen(r#"style = "list""#, r#"style = "buttons""#, 1);
        let err = Config::from_toml(&buttons).unwrap_err();
        assert!(err.to_string().contains("menu.options"), "{err}");
        assert!(err.to_string().contains("at most 3"), "{err}");
    }
}
