//! The agents' desk through `atende serve`: demo agents log in with the tokens it prints, take a
//! customer the bot handed over, talk to them through the business number, note, transfer and
//! close; every refusal is a problem+json with its status, and changes nothing. A local HTTP
//! server stands in for the Graph API and counts what goes out.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::serve::*;
use support::{GraphStub, sign};

/// The always-open configuration with the satisfaction question asked as soon as the agent
/// closes (the server runs on the real clock).
fn config_asking_at_once() -> String {
    let text = std::fs::read_to_string(support::always_open_config()).unwrap();
    let text = text.replace("nps_delay_minutes = 2", "nps_delay_minutes = 0");
    assert!(text.contains("nps_delay_minutes = 0"));
    let path = std::env::temp_dir().join(format!("atende-desk-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

struct Desk<'a> {
    server: &'a Server,
    http: reqwest::Client,
}

/// A response: status, content type and JSON body (`Null` when empty).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

impl Desk<'_> {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), self.server.at(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(body), None).await
    }
}

/// The texts the Graph API stand-in received, in order (documents by their file name).
fn texts(graph: &GraphStub) -> Vec<String> {
    graph
        .requests()
        .iter()
        .filter(|r| !r.is_mark_read())
        .map(|r| match r.body["type"].as_str() {
            Some("text") => r.body["text"]["body"].as_str().unwrap_or("").to_owned(),
            Some(other) => format!("[{other}]"),
            None => "[?]".to_owned(),
        })
        .collect()
}

async fn maria(server: &Server, graph: &GraphStub, n: usize, message: Value, replies: usize) {
    let body = maria_says(n, message);
    assert_eq!(post(server, &body, Some(&sign(&body))).await.0, 200);
    graph.wait_for(replies, PATIENCE).await;
}

/// Waits until the stand-in got `n` requests, then a little more to see that no more come.
async fn exactly(graph: &GraphStub, n: usize) {
    graph.wait_for(n, PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(graph.requests().len(), n, "{:#?}", texts(graph));
}

/// What `check` finds, once it finds something (within `PATIENCE`).
async fn eventually<T, F, Fut>(check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The problem+json of a refusal, with its status.
fn refused(answer: &Answer, status: u16) -> &Value {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["status"], status);
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    &answer.body
}

#[tokio::test]
async fn an_agent_takes_a_customer_over_and_hands_them_on_until_the_close() {
    let graph = GraphStub::start().await;
    let config = config_asking_at_once();
    let server = serve_with_env(&graph, &[], &[("ATENDE_CONFIG", &config)]);
    journey(&server, &graph).await;
}

/// Issue item "no phone number in the logs": the same journey with every log line of atende
/// kept, down to debug; not one carries Maria's number, in clear or inside a WhatsApp message
/// id (which encodes it), nor an id of hers.
#[tokio::test]
async fn no_phone_number_in_the_logs() {
    let graph = GraphStub::start().await;
    let config = config_asking_at_once();
    let server = serve_with_env(
        &graph,
        &[],
        &[
            ("ATENDE_CONFIG", &config),
            ("RUST_LOG", "info,atende=debug,atende_shared=debug"),
        ],
    );
    journey(&server, &graph).await;
    let logs = server.logs.lock().unwrap().clone();
    assert!(logs.len() > 20, "the journey logged: {logs:#?}");
    // The part of her message ids that encodes her number.
    let encoded = &wamid(MARIA, 1)["wamid.".len().."wamid.".len() + 20];
    for line in &logs {
        assert!(
            !line.contains(MARIA) && !line.contains(encoded) && !line.contains("wamid."),
            "a log line carries her number: {line}"
        );
    }
}

/// The same journey with sessions, lines, agents and the log on DynamoDB and the events on SQS
/// FIFO (the emulator), as the Lambdas keep them.
#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn the_journey_holds_on_the_aws_backend() {
    let graph = GraphStub::start().await;
    let config = config_asking_at_once();
    let prefix = support::unique("deskjourney");
    let server = serve_with_env(
        &graph,
        &[
            "--backend",
            "aws",
            "--create-resources",
            "--prefix",
            &prefix,
        ],
        &[("ATENDE_CONFIG", &config)],
    );
    journey(&server, &graph).await;
}

/// Maria is handed over by Suporte's flow; Ana takes her, answers (once, however often the
/// request comes), notes and transfers to Financeiro; Bruno takes her there, answers and
/// closes; the satisfaction question goes out, and the log holds every step.
async fn journey(server: &Server, graph: &GraphStub) {
    let desk = Desk {
        server,
        http: reqwest::Client::new(),
    };
    let (ana, bruno) = (server.login("ana").await, server.login("bruno").await);

    // Maria goes through Suporte's flow and is handed over.
    maria(
        server,
        graph,
        1,
        json!({"type": "text", "text": {"body": "oi"}}),
        3,
    )
    .await;
    let suporte = json!({"type": "interactive", "interactive": {"type": "list_reply",
        "list_reply": {"id": "btn_suporte", "title": "Suporte"}}});
    maria(server, graph, 2, suporte, 5).await;
    let problem = json!({"type": "text", "text": {"body": "minha internet caiu"}});
    maria(server, graph, 3, problem, 7).await;
    let no_attachment = json!({"type": "interactive", "interactive": {"type": "button_reply",
        "button_reply": {"id": "support_no_attachment", "title": "Seguir sem anexo"}}});
    maria(server, graph, 4, no_attachment, 10).await;

    // Ana sees her waiting, with what the bot collected.
    let lines = desk.get("/agent/lines", &ana).await;
    assert_eq!(lines.status, 200);
    let waiting = &lines.body["waiting"];
    assert_eq!(waiting.as_array().unwrap().len(), 1, "{waiting}");
    assert_eq!(waiting[0]["customer"], MARIA);
    assert_eq!(waiting[0]["department"], "suporte");
    assert_eq!(waiting[0]["place"], 1);
    assert_eq!(waiting[0]["sla"], "ok");
    assert_eq!(waiting[0]["handoff"]["reason"], "support_ticket");
    assert_eq!(waiting[0]["handoff"]["problem"], "minha internet caiu");
    // Bruno (Financeiro, Vendas) does not see Suporte's line.
    let theirs = desk.get("/agent/lines", &bruno).await;
    assert_eq!(theirs.body["waiting"], json!([]));

    // Away until she says otherwise.
    let away = desk.post("/agent/claims", &ana, json!({})).await;
    assert!(
        refused(&away, 409)["detail"]
            .as_str()
            .unwrap()
            .contains("away")
    );
    let available = desk
        .call(
            "PUT",
            "/agent/me/presence",
            Some(&ana),
            Some(json!({"presence": "available"})),
            None,
        )
        .await;
    assert_eq!(available.status, 204);
    let claimed = desk.post("/agent/claims", &ana, json!({})).await;
    assert_eq!(claimed.status, 201, "{}", claimed.body);
    assert_eq!(claimed.body["customer"], MARIA);
    exactly(graph, 11).await;
    assert_eq!(
        texts(graph).last().unwrap(),
        "👋 Olá! Aqui é Ana, da equipe de Suporte Técnico. Vou continuar seu atendimento."
    );
    // Nobody else waits.
    assert_eq!(
        desk.post("/agent/claims", &ana, json!({})).await.status,
        204
    );

    // The bot's part and the handoff, in order.
    let path = format!("/agent/conversations/{MARIA}");
    let page = desk.get(&path, &ana).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["conversation"]["agent"]["name"], "Ana");
    let kinds: Vec<String> = page.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| match l["kind"].as_str().unwrap() {
            "event" => format!("event:{}", l["event"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(kinds[0], "customer");
    assert!(kinds.contains(&"event:queued".to_owned()), "{kinds:?}");
    assert_eq!(kinds.last().unwrap(), "sent", "{kinds:?}");
    assert!(
        kinds.ends_with(&["event:claimed".into(), "sent".into()]),
        "{kinds:?}"
    );
    assert!(
        page.body["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "minha internet caiu")
    );

    // Ana answers; the same request again (a retry) is applied once.
    let reply = json!({"text": "Olá, Maria! Vou verificar sua conexão."});
    for _ in 0..2 {
        let sent = desk
            .call(
                "POST",
                &format!("{path}/messages"),
                Some(&ana),
                Some(reply.clone()),
                Some("reply-1"),
            )
            .await;
        assert_eq!(sent.status, 202, "{}", sent.body);
    }
    exactly(graph, 12).await;
    assert_eq!(
        texts(graph).last().unwrap(),
        "*Ana:*\nOlá, Maria! Vou verificar sua conexão."
    );

    // Maria answers: read, and in the log; the bot stays quiet.
    let answer = json!({"type": "text", "text": {"body": "continua sem sinal"}});
    maria(server, graph, 5, answer, 13).await;
    exactly(graph, 13).await;
    // The read receipt goes out first; the line is written right after it.
    let page = eventually(|| async {
        let page = desk.get(&path, &ana).await;
        let last = page.body["lines"].as_array()?.last()?.clone();
        (last["text"] == "continua sem sinal").then_some(page)
    })
    .await;
    let last = page.body["lines"].as_array().unwrap().last().unwrap();
    assert_eq!(last["kind"], "customer");
    assert!(page.body["conversation"]["awaiting_reply_since"].is_string());

    // She sends a photo of the modem: downloaded from WhatsApp and kept; Ana gets a link.
    let photo = json!({"type": "image", "image": {"id": "1482902119483940",
        "mime_type": "image/jpeg", "caption": "a luz vermelha"}});
    maria(server, graph, 6, photo, 14).await;
    exactly(graph, 14).await;
    let link = eventually(|| async {
        let page = desk.get(&path, &ana).await;
        let last = page.body["lines"].as_array()?.last()?.clone();
        last["link"].as_str().map(str::to_owned)
    })
    .await;
    let fetched = eventually(|| async {
        let response = reqwest::get(&link).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        Some(response.bytes().await.ok()?.to_vec())
    })
    .await;
    assert_eq!(fetched, support::media_bytes("1482902119483940"));

    // A note stays with the staff; the transfer tells Maria and puts her in Financeiro's line.
    let note = desk
        .post(
            &format!("{path}/notes"),
            &ana,
            json!({"text": "fatura em atraso bloqueou a linha"}),
        )
        .await;
    assert_eq!(note.status, 202);
    let transfer = desk
        .post(
            &format!("{path}/transfer"),
            &ana,
            json!({"department": "financeiro"}),
        )
        .await;
    assert_eq!(transfer.status, 202, "{}", transfer.body);
    exactly(graph, 16).await;
    assert_eq!(
        texts(graph)[texts(graph).len() - 2..],
        [
            "Vou transferir você para a equipe de Financeiro.",
            "Você está na posição 1 da fila de Financeiro. Tempo estimado: ~6 minutos."
        ]
    );
    // No longer Ana's to write in.
    let late = desk
        .post(
            &format!("{path}/messages"),
            &ana,
            json!({"text": "mais uma coisa"}),
        )
        .await;
    refused(&late, 403);

    // Bruno takes her in Financeiro, answers and closes; the satisfaction question follows.
    desk.call(
        "PUT",
        "/agent/me/presence",
        Some(&bruno),
        Some(json!({"presence": "available"})),
        None,
    )
    .await;
    let claimed = desk.post("/agent/claims", &bruno, json!({})).await;
    assert_eq!(claimed.status, 201, "{}", claimed.body);
    // He sends the bill's PDF at once, before the claim is applied: it follows the claim on
    // her queue. Then a text.
    let pdf = b"%PDF-1.7 boleto".to_vec();
    let upload = desk
        .http
        .post(server.at(&format!(
            "{path}/files?name=boleto.pdf&caption=Segue%20a%20segunda%20via."
        )))
        .bearer_auth(&bruno)
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 202);
    let sent = desk
        .post(
            &format!("{path}/messages"),
            &bruno,
            json!({"text": "A segunda via já vai."}),
        )
        .await;
    assert_eq!(sent.status, 202);
    let closed = desk.post(&format!("{path}/close"), &bruno, json!({})).await;
    assert_eq!(closed.status, 202);
    exactly(graph, 20).await;
    assert_eq!(
        texts(graph)[texts(graph).len() - 4..],
        [
            "👋 Olá! Aqui é Bruno, da equipe de Financeiro. Vou continuar seu atendimento.",
            "[document]",
            "*Bruno:*\nA segunda via já vai.",
            "Antes de encerrar: de 0 a 10, quanto você recomendaria nosso atendimento a um amigo?"
        ]
    );
    // WhatsApp got the PDF by a link it can fetch, with its name and Bruno's signed caption.
    let document = graph
        .requests()
        .into_iter()
        .find(|r| r.body["type"] == "document")
        .unwrap()
        .body["document"]
        .clone();
    assert_eq!(document["filename"], "boleto.pdf");
    assert_eq!(document["caption"], "*Bruno:*\nSegue a segunda via.");
    let fetched = reqwest::get(document["link"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), pdf);
    // Bruno holds nothing now; the log has every step.
    let me = desk.get("/agent/me", &bruno).await;
    assert_eq!(me.body["holding"], 0);
    let page = desk
        .call(
            "GET",
            &format!("{path}?limit=200"),
            Some(&bruno),
            None,
            None,
        )
        .await;
    // The conversation is with the bot again: only a supervisor reads it now.
    refused(&page, 403);
    let carla = server.login("carla").await;
    let page = desk.get(&format!("{path}?limit=200"), &carla).await;
    let events: Vec<&str> = page.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["event"].as_str())
        .collect();
    assert_eq!(
        events,
        ["queued", "claimed", "transferred", "claimed", "closed"]
    );
    let note = page.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "note");
    assert_eq!(note.unwrap()["text"], "fatura em atraso bloqueou a linha");

    // Maria asks to be forgotten (LGPD): only a supervisor erases; then nothing is left.
    let erase = format!("/supervisor/customers/{MARIA}");
    refused(
        &desk.call("DELETE", &erase, Some(&bruno), None, None).await,
        403,
    );
    let erased = desk.call("DELETE", &erase, Some(&carla), None, None).await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(erased.body["session"], true);
    assert_eq!(erased.body["by"], "carla");
    assert!(erased.body["log_items"].as_u64().unwrap() > 20);
    assert!(
        !erased.body.to_string().contains(MARIA),
        "named by digest only"
    );
    refused(&desk.get(&format!("{path}?limit=200"), &carla).await, 404);
}

/// Every refusal has its status and a problem+json body, and leaves the desk as it was.
#[tokio::test]
async fn refusals_are_problems_with_their_status_and_change_nothing() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let desk = Desk {
        server: &server,
        http: reqwest::Client::new(),
    };
    let (ana, bruno, carla) = (
        server.login("ana").await,
        server.login("bruno").await,
        server.login("carla").await,
    );
    // Maria waits in Financeiro's line.
    maria(
        &server,
        &graph,
        1,
        json!({"type": "text", "text": {"body": "oi"}}),
        3,
    )
    .await;
    let financeiro = json!({"type": "interactive", "interactive": {"type": "list_reply",
        "list_reply": {"id": "btn_financeiro", "title": "Financeiro"}}});
    maria(&server, &graph, 2, financeiro, 5).await;
    let cpf = json!({"type": "text", "text": {"body": "529.982.247-25"}});
    maria(&server, &graph, 3, cpf, 8).await;
    let path = format!("/agent/conversations/{MARIA}");

    // 401: no token, a malformed one, a forged one.
    refused(
        &desk.call("GET", "/agent/lines", None, None, None).await,
        401,
    );
    refused(&desk.get("/agent/lines", "not-a-jwt").await, 401);
    let mut forged = bruno.clone();
    forged.pop();
    forged.push(if bruno.ends_with('A') { 'B' } else { 'A' });
    refused(&desk.get("/agent/lines", &forged).await, 401);
    // 403: another department's customer; a supervisor's route.
    refused(&desk.get(&path, &ana).await, 403);
    refused(
        &desk
            .post(&format!("{path}/messages"), &ana, json!({"text": "oi"}))
            .await,
        403,
    );
    refused(&desk.get("/supervisor/overview", &bruno).await, 403);
    // 404: an unknown customer, an unknown route; 405: a wrong method.
    refused(
        &desk.get("/agent/conversations/5599999999999", &bruno).await,
        404,
    );
    refused(&desk.get("/agent/nothing", &bruno).await, 404);
    refused(
        &desk
            .call("DELETE", "/agent/claims", Some(&bruno), None, None)
            .await,
        405,
    );
    // 409: write before claiming; a transfer to the department it is in.
    let unclaimed = desk
        .post(&format!("{path}/messages"), &bruno, json!({"text": "oi"}))
        .await;
    assert!(
        refused(&unclaimed, 409)["detail"]
            .as_str()
            .unwrap()
            .contains("claim")
    );
    refused(
        &desk
            .post(
                &format!("{path}/transfer"),
                &bruno,
                json!({"department": "financeiro"}),
            )
            .await,
        409,
    );
    // 400: malformed bodies, with the field at fault (a customer to claim given as null too).
    refused(
        &desk
            .post("/agent/claims", &bruno, json!({"customer": null}))
            .await,
        400,
    );
    refused(
        &desk
            .post(
                &format!("{path}/transfer"),
                &bruno,
                json!({"department": null, "agent": "ana"}),
            )
            .await,
        400,
    );
    let bad = desk
        .post(&format!("{path}/notes"), &bruno, json!({"texto": "x"}))
        .await;
    assert_eq!(refused(&bad, 400)["field"], "texto");
    let empty = desk
        .post(&format!("{path}/notes"), &bruno, json!({"text": "  "}))
        .await;
    assert_eq!(refused(&empty, 400)["field"], "text");
    let nowhere = desk
        .post(
            &format!("{path}/transfer"),
            &bruno,
            json!({"department": "juridico"}),
        )
        .await;
    assert_eq!(refused(&nowhere, 400)["field"], "department");
    let bad_limit = desk.get(&format!("{path}?limit=0"), &bruno).await;
    assert_eq!(refused(&bad_limit, 400)["field"], "limit");
    let template = desk
        .post(
            &format!("{path}/messages"),
            &bruno,
            json!({"template": "nao_existe"}),
        )
        .await;
    assert_eq!(refused(&template, 400)["field"], "template");
    // 413: a body over the API's limit; a text over its own limit is a 400 naming it.
    let huge = "x".repeat(70 * 1024);
    refused(
        &desk
            .post(&format!("{path}/notes"), &bruno, json!({"text": huge}))
            .await,
        413,
    );
    let long = "x".repeat(4100);
    desk.call(
        "PUT",
        "/agent/me/presence",
        Some(&bruno),
        Some(json!({"presence": "available"})),
        None,
    )
    .await;
    assert_eq!(
        desk.post("/agent/claims", &bruno, json!({})).await.status,
        201
    );
    let too_long = desk
        .post(&format!("{path}/messages"), &bruno, json!({"text": long}))
        .await;
    assert_eq!(refused(&too_long, 400)["field"], "text");

    // Nothing changed but the claim: Maria got the agent's greeting and nothing else.
    exactly(&graph, 9).await;
    let page = desk.get(&path, &bruno).await;
    let kinds: Vec<&str> = page.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert!(!kinds.contains(&"note"), "{kinds:?}");
    let overview = desk.get("/supervisor/overview", &carla).await;
    assert_eq!(overview.status, 200);
    let financeiro = overview.body["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"] == "financeiro")
        .unwrap()
        .clone();
    assert_eq!(financeiro["waiting"], 0);
    let bruno_load = overview.body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "bruno")
        .unwrap()
        .clone();
    assert_eq!(bruno_load["holding"], 1);
    assert_eq!(bruno_load["presence"], "available");

    // WhatsApp says Maria's window has closed (131047 on a message to her): free text is a
    // 409 naming the templates allowed, and nothing goes out; the approved template goes.
    // (Meta's timestamps have whole seconds: the failure is a second later than her message.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let closed = fixture("status-failed.json");
    assert_eq!(post(&server, &closed, Some(&sign(&closed))).await.0, 200);
    eventually(|| async {
        let page = desk.get(&path, &bruno).await;
        page.body["conversation"]["window_open_until"]
            .is_null()
            .then_some(())
    })
    .await;
    let late = desk
        .post(
            &format!("{path}/messages"),
            &bruno,
            json!({"text": "Ainda aí?"}),
        )
        .await;
    let problem = refused(&late, 409);
    assert_eq!(problem["templates"][0]["name"], "retomar_atendimento");
    assert_eq!(
        problem["templates"][0]["parameters"],
        json!(["nome do cliente"])
    );
    exactly(&graph, 9).await;
    let template = desk
        .post(
            &format!("{path}/messages"),
            &bruno,
            json!({"template": "retomar_atendimento", "parameters": ["Maria"]}),
        )
        .await;
    assert_eq!(template.status, 202, "{}", template.body);
    exactly(&graph, 10).await;
    let sent = graph.requests().last().unwrap().body.clone();
    assert_eq!(sent["type"], "template");
    assert_eq!(sent["template"]["name"], "retomar_atendimento");
    assert_eq!(
        sent["template"]["components"][0]["parameters"][0]["text"],
        "Maria"
    );
}
