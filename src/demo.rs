//! The demo team of the local runner (`atende chat`, `atende serve` on memory): who can log in
//! to the desk without an account anywhere.

use atende_shared::domain::agent::AgentProfile;

/// The demo agents: one per department, one in two, and a supervisor.
pub fn agents() -> Vec<AgentProfile> {
    let agent = |id: &str, name: &str, departments: &[&str], supervisor: bool| AgentProfile {
        id: id.to_owned(),
        email: format!("{id}@demo.atende.local"),
        name: name.to_owned(),
        departments: departments.iter().map(|d| (*d).to_owned()).collect(),
        capacity: None,
        supervisor,
    };
    vec![
        agent("ana", "Ana", &["suporte"], false),
        agent("bruno", "Bruno", &["financeiro", "vendas"], false),
        agent("carla", "Carla", &[], true),
    ]
}
