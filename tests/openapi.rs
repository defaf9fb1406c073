//! `openapi.yaml` describes the agents' API as it is: the same routes and methods as the
//! handler serves, each with the statuses it can answer. (CI runs schemathesis from this
//! document against `atende serve`, checking every response against it.)

use atende_shared::edge::agent_api::ROUTES;
use serde_norway::Value;
use std::collections::BTreeSet;

fn document() -> Value {
    serde_norway::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap(),
    )
    .unwrap()
}

#[test]
fn the_document_has_exactly_the_routes_the_handler_serves() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if method != "parameters" {
                documented.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn every_operation_documents_its_refusals_as_problems() {
    let doc = document();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            if method.as_str() == Some("parameters") {
                continue;
            }
            let responses = op["responses"].as_mapping().unwrap();
            let has = |s: &str| responses.contains_key(Value::String(s.into()));
            let name = format!("{} {}", method.as_str().unwrap(), path.as_str().unwrap());
            assert!(has("401") && has("403"), "{name}: 401 and 403");
            if !op["requestBody"].is_null() {
                assert!(
                    has("400") && has("413"),
                    "{name}: a body can be malformed or too large"
                );
            }
            if path.as_str().unwrap().contains("{customer}") {
                assert!(has("404"), "{name}: an unknown customer");
            }
            assert!(
                op["operationId"].as_str().is_some(),
                "{name}: an operationId"
            );
        }
    }
}
