//! `template.yaml` as the tests read it: what a function is granted, so that a test can check
//! the AWS calls an adapter makes against what the deployed function may do.

use serde_norway::Value;

pub fn template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

pub fn props<'a>(t: &'a Value, resource: &str) -> &'a Value {
    &t["Resources"][resource]["Properties"]
}

/// The actions `function` may take on the resource `GetAtt <arn>`.
pub fn actions_on(t: &Value, function: &str, arn: &str) -> Vec<String> {
    props(t, function)["Policies"][0]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|s| {
            matches!(&s["Resource"], Value::Tagged(tagged)
                if tagged.tag == "GetAtt" && tagged.value.as_str() == Some(arn))
        })
        .flat_map(|s| match &s["Action"] {
            Value::Sequence(actions) => actions
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            Value::String(action) => vec![action.clone()],
            _ => Vec::new(),
        })
        .collect()
}
