//! What the staff hear: a customer waiting for an agent (with the handoff context), and SLA
//! alerts. The words come from the configuration's `[notifications]` table.

use crate::domain::command::HandoffContext;
use crate::domain::config::Config;
use crate::domain::customer::CustomerId;
use crate::domain::sla::{AwaitingReply, SlaFinding, SlaLevel};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Handoff,
    SlaWarning,
    SlaBreach,
    ReplyOverdue,
}

/// A message for the staff's channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub customer: CustomerId,
    pub department: String,
    /// The whole message, ready for a chat channel.
    pub text: String,
}

/// The customer as staff need them: the number to reach them (or the user id), and the
/// profile name when there is one.
fn who(customer: &CustomerId, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name} ({})", customer.key()),
        None => customer.key().to_owned(),
    }
}

fn department_name<'c>(config: &'c Config, id: &'c str) -> &'c str {
    config.department(id).map_or(id, |d| d.name.as_str())
}

/// A customer waits for an agent: who, where, why, and what the bot collected.
pub fn handoff(context: &HandoffContext, config: &Config) -> Notice {
    let mut details = Vec::new();
    if let Some(problem) = &context.problem {
        details.push(format!("Problema: {problem}"));
    }
    if !context.attachments.is_empty() {
        details.push(format!("Anexos: {}", context.attachments.join(", ")));
    }
    if let Some(order) = &context.order {
        details.push(format!("Pedido: {order}"));
    }
    if let Some(document) = &context.document {
        details.push(format!("Documento: {document}"));
    }
    let lines: Vec<String> = context
        .last_messages
        .iter()
        .rev()
        .take(config.notifications.handoff_lines)
        .rev()
        .map(|t| {
            let from = match t.from {
                crate::domain::session::Party::Customer => "cliente",
                crate::domain::session::Party::Bot => "bot",
                crate::domain::session::Party::Agent => "atendente",
            };
            format!("{from}: {}", t.text)
        })
        .collect();
    let mut text = config
        .notifications
        .handoff
        .replace(
            "{customer}",
            &who(&context.customer, context.profile_name.as_deref()),
        )
        .replace("{department}", department_name(config, &context.department))
        .replace("{reason}", &context.reason);
    for d in details {
        text.push('\n');
        text.push_str(&d);
    }
    if !lines.is_empty() {
        text.push_str("\n\n");
        text.push_str(&lines.join("\n"));
    }
    Notice {
        kind: NoticeKind::Handoff,
        customer: context.customer.clone(),
        department: context.department.clone(),
        text,
    }
}

/// A customer an agent holds waits for the agent's answer past the department's limit.
pub fn reply_overdue(awaiting: &AwaitingReply, config: &Config) -> Notice {
    let limit = config
        .department(&awaiting.department)
        .map_or("?".to_owned(), |d| d.reply_alert_minutes.to_string());
    let text = config
        .notifications
        .reply_overdue
        .replace("{customer}", &who(&awaiting.customer, None))
        .replace(
            "{department}",
            department_name(config, &awaiting.department),
        )
        .replace("{agent}", &awaiting.agent.name)
        .replace("{minutes}", &awaiting.waited_minutes.to_string())
        .replace("{limit}", &limit);
    Notice {
        kind: NoticeKind::ReplyOverdue,
        customer: awaiting.customer.clone(),
        department: awaiting.department.clone(),
        text,
    }
}

/// A customer waits past their department's alert (warning) or maximum (breach).
pub fn sla(finding: &SlaFinding, config: &Config) -> Notice {
    let dept = config.department(&finding.department);
    let (kind, template, limit) = match finding.level {
        SlaLevel::Warning => (
            NoticeKind::SlaWarning,
            &config.notifications.sla_warning,
            dept.map(|d| d.sla_alert_minutes),
        ),
        SlaLevel::Breach => (
            NoticeKind::SlaBreach,
            &config.notifications.sla_breach,
            dept.map(|d| d.sla_max_minutes),
        ),
    };
    let text = template
        .replace("{customer}", &who(&finding.customer, None))
        .replace("{department}", department_name(config, &finding.department))
        .replace("{minutes}", &finding.waited_minutes.to_string())
        .replace("{limit}", &limit.map_or("?".to_owned(), |l| l.to_string()));
    Notice {
        kind,
        customer: finding.customer.clone(),
        department: finding.department.clone(),
        text,
    }
}
