//! Renders what the bot sends as terminal text: buttons and list rows become numbered choices.
//! The terminal chat and the conversation transcripts (`tests/conversations/`) share it.

use atende_shared::domain::agent::TransferTarget;
use atende_shared::domain::{ConversationEvent, LogLine, LoggedLine, OutboundMessage};

const INDENT: &str = "     ";

/// `bot: ` then the message, continuation lines indented.
pub fn render(message: &OutboundMessage) -> String {
    let mut lines: Vec<String> = Vec::new();
    match message {
        OutboundMessage::Text { body } => push_text(&mut lines, body),
        OutboundMessage::Template {
            name,
            language,
            parameters,
        } => {
            let parameters = if parameters.is_empty() {
                String::new()
            } else {
                format!(": {}", parameters.join(" | "))
            };
            lines.push(format!("[template {name} ({language}){parameters}]"))
        }
        OutboundMessage::Media {
            kind,
            link,
            filename,
            caption,
        } => {
            let name = filename.as_deref().unwrap_or(kind.as_str());
            lines.push(format!("[{name}] {link}"));
            if let Some(c) = caption {
                push_text(&mut lines, c);
            }
        }
        OutboundMessage::Buttons {
            header,
            body,
            footer,
            buttons,
        } => {
            frame(&mut lines, header, body, footer);
            for (i, b) in buttons.iter().enumerate() {
                lines.push(format!("{}) {}", i + 1, b.title));
            }
        }
        OutboundMessage::Flow {
            header,
            body,
            footer,
            cta,
            ..
        } => {
            frame(&mut lines, header, body, footer);
            lines.push(format!("[{cta}] (a WhatsApp Flow form)"));
        }
        OutboundMessage::List {
            header,
            body,
            footer,
            button,
            sections,
        } => {
            frame(&mut lines, header, body, footer);
            lines.push(format!("[{button}]"));
            let mut n = 0;
            for s in sections {
                if let Some(t) = &s.title {
                    lines.push(format!("-- {t} --"));
                }
                for r in &s.rows {
                    n += 1;
                    match &r.description {
                        Some(d) => lines.push(format!("{n}) {} - {d}", r.title)),
                        None => lines.push(format!("{n}) {}", r.title)),
                    }
                }
            }
        }
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let prefixed = format!("{}{line}", if i == 0 { "bot: " } else { INDENT });
        out.push_str(prefixed.trim_end());
        out.push('\n');
    }
    out
}

fn push_text(lines: &mut Vec<String>, text: &str) {
    lines.extend(text.lines().map(str::to_owned));
}

/// Header in bold, body, footer in italics, as WhatsApp shows an interactive message.
fn frame(lines: &mut Vec<String>, header: &Option<String>, body: &str, footer: &Option<String>) {
    if let Some(h) = header {
        push_text(lines, &format!("*{h}*"));
    }
    push_text(lines, body);
    if let Some(f) = footer {
        push_text(lines, &format!("_{f}_"));
    }
}

/// A line of the conversation log on one line of text, as the transcripts show it.
pub fn log_line(logged: &LoggedLine) -> String {
    let one_line = |s: &str| s.replace('\n', " / ");
    let status = logged
        .status
        .as_ref()
        .map_or(String::new(), |s| format!(" ({})", s.as_str()));
    match &logged.entry.line {
        LogLine::Customer { text, media, .. } => {
            let kept = media
                .as_ref()
                .map_or(String::new(), |m| format!(" (file {})", m.id));
            format!("customer: {}{kept}", one_line(text))
        }
        LogLine::Sent { agent, text, .. } => {
            let who = agent.as_ref().map_or("bot", |a| a.name.as_str());
            format!("{who}: {}{status}", one_line(text))
        }
        LogLine::NotSent {
            agent,
            text,
            reason,
        } => format!(
            "not sent ({}): {} — {reason}",
            agent.as_ref().map_or("bot", |a| a.name.as_str()),
            one_line(text)
        ),
        LogLine::Note { agent, text } => format!("note by {}: {}", agent.name, one_line(text)),
        LogLine::Event(event) => match event {
            ConversationEvent::Queued { department, reason } => {
                format!("queued for {department} ({reason})")
            }
            ConversationEvent::Claimed {
                agent,
                assigned_by: None,
            } => format!("claimed by {}", agent.name),
            ConversationEvent::Claimed {
                agent,
                assigned_by: Some(by),
            } => format!("assigned to {} by {}", agent.name, by.name),
            ConversationEvent::Transferred { by, department, to } => {
                let to = match to {
                    TransferTarget::Department { department } => department.clone(),
                    TransferTarget::Agent { agent } => agent.name.clone(),
                };
                format!("transferred by {} from {department} to {to}", by.name)
            }
            ConversationEvent::Closed { by: Some(by) } => format!("closed by {}", by.name),
            ConversationEvent::Closed { by: None } => "closed".to_owned(),
            ConversationEvent::Rated { score } => format!("rated {score}"),
            ConversationEvent::WhatsAppNotice {
                notice, new_number, ..
            } => match new_number {
                Some(number) => format!("WhatsApp: {notice} ({number})"),
                None => format!("WhatsApp: {notice}"),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atende_shared::domain::Button;

    #[test]
    fn buttons_become_numbered_choices() {
        let msg = OutboundMessage::Buttons {
            header: Some("Bem-vindo!".into()),
            body: "Como posso ajudar?".into(),
            footer: None,
            buttons: vec![
                Button {
                    id: "a".into(),
                    title: "Suporte".into(),
                },
                Button {
                    id: "b".into(),
                    title: "Vendas".into(),
                },
            ],
        };
        assert_eq!(
            render(&msg),
            "bot: *Bem-vindo!*\n     Como posso ajudar?\n     1) Suporte\n     2) Vendas\n"
        );
    }
}
