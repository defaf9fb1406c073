//! Sales: the catalog, the chosen item's confirmation, then a person with the order.

use super::message::Said;
use super::{Replies, line, menu};
use crate::domain::command::{Button, ListRow, ListSection, OutboundMessage};
use crate::domain::config::{CatalogItem, Config};
use crate::domain::session::{Session, State};
use line::Handover;

/// Reply ids of the checkout's buttons.
const CONFIRM: &str = "sales_confirm";
const BACK: &str = "sales_back";

/// A pick from the catalog leads to its confirmation.
pub(super) fn on_catalog(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    department: String,
    config: &Config,
) {
    let picked = menu::pick(
        said.content,
        said.typed,
        config.catalog.iter().map(|i| i.id.as_str()),
        &config.folded.catalog_titles,
    );
    match picked {
        Some(i) => {
            session.bot_attempts = 0;
            let item = &config.catalog[i];
            out.send(session, checkout(item, config));
            session.state = State::SalesCheckout {
                department,
                item: item.id.clone(),
            };
        }
        None => menu::not_understood(session, out, said.content, config, catalog(config)),
    }
}

/// Confirmed: a person takes the order. Back (or an item no longer in the catalog): the menu.
pub(super) fn on_checkout(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    department: String,
    item: &str,
    config: &Config,
) {
    let item = config.catalog.iter().find(|i| i.id == item);
    let picked = menu::pick(
        said.content,
        said.typed,
        [CONFIRM, BACK].into_iter(),
        &config.folded.checkout_titles,
    );
    match (picked, item) {
        (Some(0), Some(item)) => {
            let mut handover =
                Handover::new(department, "sales_order", &config.texts.department_handoff);
            handover.order = Some(format!("{} ({}, {})", item.id, item.title, item.price));
            line::hand_over(session, out, config, handover);
        }
        (Some(_), _) | (None, None) => {
            session.bot_attempts = 0;
            session.state = State::MainMenu;
            out.send(session, menu::main_menu(config));
        }
        (None, Some(item)) => {
            menu::not_understood(session, out, said.content, config, checkout(item, config))
        }
    }
}

/// The sales catalog as a list.
pub(super) fn catalog(config: &Config) -> OutboundMessage {
    OutboundMessage::List {
        header: None,
        body: config.texts.sales_catalog_body.clone(),
        footer: None,
        button: config.texts.sales_catalog_button.clone(),
        sections: vec![ListSection {
            title: None,
            rows: config
                .catalog
                .iter()
                .map(|i| ListRow {
                    id: i.id.clone(),
                    title: i.title.clone(),
                    description: Some(match &i.description {
                        Some(d) => format!("{} - {d}", i.price),
                        None => i.price.clone(),
                    })
                    .map(|d| {
                        d.chars()
                            .take(crate::domain::config::limits::ROW_DESCRIPTION)
                            .collect()
                    }),
                })
                .collect(),
        }],
    }
}

/// The confirmation of a chosen item, with confirm and back buttons.
fn checkout(item: &CatalogItem, config: &Config) -> OutboundMessage {
    OutboundMessage::Buttons {
        header: None,
        body: config
            .texts
            .sales_confirm
            .replace("{item}", &item.title)
            .replace("{price}", &item.price),
        footer: None,
        buttons: vec![
            Button {
                id: CONFIRM.to_owned(),
                title: config.texts.sales_confirm_button.clone(),
            },
            Button {
                id: BACK.to_owned(),
                title: config.texts.sales_back_button.clone(),
            },
        ],
    }
}
