//! `atende`: run atende locally with no AWS account.
//!
//! ```text
//! atende chat                 talk to the bot in this terminal, as a customer
//! atende serve [--port N] [--backend memory|aws [--create-resources]]
//!                             webhook + processor + SLA checker on 127.0.0.1
//! atende create-resources     tables and queues on an AWS emulator, for `cargo lambda watch`
//! atende agents add EMAIL --name NAME --departments D1,D2 [--capacity N] [--supervisor]
//! atende agents list          who works at the desk (Cognito and the agents table)
//! ```

use atende::chat::ChatSession;
use atende::serve::{Backend, ServeOptions};
use atende_shared::adapters::ManualClock;
use atende_shared::app::settings;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};

const USAGE: &str = "\
usage: atende <command>

commands:
  chat                talk to the bot in this terminal, as a customer (memory adapters)
  serve [--port N] [--backend memory|aws [--create-resources [--prefix P]]]
                      webhook + processor + SLA checker on 127.0.0.1
                      (port: --port, else $PORT, else 3000). --backend aws keeps sessions,
                      the attendance queue and the event queue on AWS (AWS_ENDPOINT_URL for an
                      emulator; EVENTS_QUEUE_URL, SESSIONS_TABLE, ATTENDANCE_TABLE, or
                      --create-resources to create them)
  create-resources [--prefix P]
                      create the tables, the FIFO queue (with its dead-letter queue) and a
                      Cognito user pool on the AWS emulator at $AWS_ENDPOINT_URL and print the
                      Lambdas' variables
  agents add EMAIL --name NAME --departments D1,D2 [--capacity N] [--supervisor]
                      add an agent (or change one): the login in the Cognito user pool
                      $ATENDE_USER_POOL_ID (Cognito e-mails a temporary password), the group
                      `agents` or `supervisors`, the profile in $AGENTS_TABLE
  agents list         the agents in $AGENTS_TABLE

environment (serve): WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, WHATSAPP_ACCESS_TOKEN,
  WHATSAPP_API_BASE_URL; both: ATENDE_CONFIG (a TOML file), RUST_LOG";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("chat") if args.len() == 1 => chat().await,
        Some("serve") => match serve_options(&args[1..]) {
            Ok(options) => serve(options).await,
            Err(e) => Err(e),
        },
        Some("create-resources") => match &args[1..] {
            [] => create_resources("atende").await,
            [flag, prefix] if flag == "--prefix" => create_resources(prefix).await,
            other => Err(format!(
                "unexpected arguments: {}\n\n{USAGE}",
                other.join(" ")
            )),
        },
        Some("agents") => agents(&args[1..]).await,
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("atende: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve_options(args: &[String]) -> Result<ServeOptions, String> {
    let parse_port = |v: &str, from: &str| {
        v.parse::<u16>()
            .map_err(|_| format!("{from} must be a port number (0-65535), got `{v}`"))
    };
    let mut port = None;
    let mut backend = "memory".to_owned();
    let mut create = false;
    let mut prefix = "atende".to_owned();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--port" => port = Some(parse_port(&value("--port")?, "--port")?),
            "--backend" => backend = value("--backend")?,
            "--create-resources" => create = true,
            "--prefix" => prefix = value("--prefix")?,
            other => return Err(format!("unexpected argument to serve: {other}\n\n{USAGE}")),
        }
    }
    let port = match (port, settings::optional("PORT")) {
        (Some(p), _) => p,
        (None, Some(p)) => parse_port(&p, "PORT")?,
        (None, None) => 3000,
    };
    let backend = match backend.as_str() {
        "memory" if create => return Err("--create-resources goes with --backend aws".into()),
        "memory" => Backend::Memory,
        "aws" => Backend::Aws {
            create_with_prefix: create.then_some(prefix),
        },
        other => return Err(format!("--backend is `memory` or `aws`, not `{other}`")),
    };
    Ok(ServeOptions { port, backend })
}

async fn serve(options: ServeOptions) -> Result<(), String> {
    atende_shared::logging::init_local("info");
    let config = settings::load_config().map_err(|e| e.to_string())?;
    atende::serve::run(options, config)
        .await
        .map_err(|e| e.to_string())
}

async fn chat() -> Result<(), String> {
    atende_shared::logging::init_local("warn");
    let config = settings::load_config().map_err(|e| e.to_string())?;
    println!(
        "atende chat: you are a customer of {}. Type a message (\"oi\" to start), a number to \
         pick a choice, /close to play the agent closing the conversation, /wait 10m (or 2h) to \
         let time pass, Ctrl-D to leave.",
        config.business_name
    );
    // The conversation's clock follows the wall clock, plus whatever /wait skipped.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let mut skipped = chrono::Duration::zero();
    let mut session = ChatSession::new(config, clock, None, None);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        print!("you> ");
        let _ = std::io::stdout().flush();
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => {
                println!();
                return Ok(());
            }
            Err(e) => return Err(format!("cannot read the terminal: {e}")),
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(wait) = line.trim().strip_prefix("/wait ") {
            match parse_wait(wait.trim()) {
                Some(d) => skipped += d,
                None => {
                    eprintln!("atende: /wait takes minutes or hours, like /wait 10m or /wait 2h");
                    continue;
                }
            }
        }
        // Timers that went off meanwhile speak first.
        match session.advance_to(chrono::Utc::now() + skipped).await {
            Ok(said) => print!("{said}"),
            Err(e) => eprintln!("atende: a timer was not processed: {e}"),
        }
        if line.trim().starts_with("/wait ") {
            continue;
        }
        let answer = if line.trim() == "/close" {
            session.close().await
        } else {
            session.say(&line).await
        };
        match answer {
            Ok(answer) => print!("{answer}"),
            Err(e) => eprintln!("atende: the message was not processed: {e}"),
        }
    }
}

/// `10m` or `2h`.
fn parse_wait(text: &str) -> Option<chrono::Duration> {
    let (n, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0 && *n < 24 * 60)?;
    match unit {
        "m" => Some(chrono::Duration::minutes(n)),
        "h" => Some(chrono::Duration::hours(n)),
        _ => None,
    }
}

async fn create_resources(prefix: &str) -> Result<(), String> {
    use atende_shared::adapters::aws::{self, resources};
    // Stacks on AWS are created by `sam deploy`; this is for emulators only.
    let endpoint = settings::optional("AWS_ENDPOINT_URL").ok_or(
        "AWS_ENDPOINT_URL is not set: create-resources only targets an emulator (deploy to AWS \
         with `sam deploy`)",
    )?;
    let sdk = aws::sdk_config().await;
    let created = resources::create_all(&sdk, prefix)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("created on {endpoint}:");
    println!("EVENTS_QUEUE_URL={}", created.events_queue_url);
    println!("SESSIONS_TABLE={}", created.sessions_table);
    println!("ATTENDANCE_TABLE={}", created.attendance_table);
    println!("EVENTS_QUEUE_ARN={}", created.events_queue_arn);
    println!("SCHEDULE_GROUP={}", created.schedule_group);
    println!("AGENTS_TABLE={}", created.agents_table);
    println!("LOG_TABLE={}", created.log_table);
    println!("LIVE_TABLE={}", created.live_table);
    println!("MEDIA_BUCKET={}", created.media_bucket);
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let (pool, client) = atende::agents_admin::create_pool(&cognito, &format!("{prefix}-desk"))
        .await
        .map_err(|e| e.to_string())?;
    let region = sdk
        .region()
        .map_or("us-east-1".to_owned(), |r| r.to_string());
    println!("ATENDE_USER_POOL_ID={pool}");
    println!(
        "DESK_JWKS_URL={}/{pool}/.well-known/jwks.json",
        endpoint.trim_end_matches('/')
    );
    println!("DESK_ISSUER=https://cognito-idp.{region}.amazonaws.com/{pool}");
    println!("DESK_AUDIENCE={client}");
    Ok(())
}

/// `atende agents add …` and `atende agents list`.
async fn agents(args: &[String]) -> Result<(), String> {
    use atende::agents_admin::{self, NewAgent};
    use atende_shared::adapters::{DynamoDbAgents, aws};
    let config = settings::load_config().map_err(|e| e.to_string())?;
    let sdk = aws::sdk_config().await;
    let table = settings::required("AGENTS_TABLE").map_err(|e| e.to_string())?;
    let agents = DynamoDbAgents::new(aws::dynamodb(&sdk), table);
    match args {
        [list] if list == "list" => {
            print!(
                "{}",
                agents_admin::list(&agents, &config)
                    .await
                    .map_err(|e| e.to_string())?
            );
            Ok(())
        }
        [add, email, rest @ ..] if add == "add" => {
            let mut agent = NewAgent {
                email: email.clone(),
                name: String::new(),
                departments: Vec::new(),
                capacity: None,
                supervisor: false,
            };
            let mut rest = rest.iter();
            while let Some(flag) = rest.next() {
                let mut value = || {
                    rest.next()
                        .cloned()
                        .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
                };
                match flag.as_str() {
                    "--name" => agent.name = value()?,
                    "--departments" => {
                        agent.departments = value()?
                            .split(',')
                            .map(str::trim)
                            .filter(|d| !d.is_empty())
                            .map(str::to_owned)
                            .collect()
                    }
                    "--capacity" => {
                        let v = value()?;
                        agent.capacity =
                            Some(v.parse().map_err(|_| {
                                format!("--capacity must be a whole number, got `{v}`")
                            })?)
                    }
                    "--supervisor" => agent.supervisor = true,
                    other => return Err(format!("unexpected argument: {other}\n\n{USAGE}")),
                }
            }
            let agent = agent.checked(&config).map_err(|e| e.to_string())?;
            let pool = settings::required("ATENDE_USER_POOL_ID").map_err(|e| e.to_string())?;
            let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
            let profile = agents_admin::add(&cognito, &pool, &agents, agent)
                .await
                .map_err(|e| e.to_string())?;
            let role = if profile.supervisor {
                "supervisors"
            } else {
                "agents"
            };
            println!(
                "{} ({}) is in the group {role}, departments [{}]; id {}",
                profile.email,
                profile.name,
                profile.departments.join(", "),
                profile.id
            );
            Ok(())
        }
        _ => Err(format!(
            "usage: atende agents add EMAIL … | atende agents list\n\n{USAGE}"
        )),
    }
}
