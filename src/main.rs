//! `atende`: run atende locally with no AWS account.
//!
//! ```text
//! atende chat                 talk to the bot in this terminal, as a customer
//! atende serve [--port N]     webhook + processor + SLA checker on 127.0.0.1
//! atende create-resources     tables and queues on an AWS emulator, for `cargo lambda watch`
//! ```

use atende::chat::ChatSession;
use atende_shared::adapters::SystemClock;
use atende_shared::app::settings;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};

const USAGE: &str = "\
usage: atende <command>

commands:
  chat                talk to the bot in this terminal, as a customer (memory adapters)
  serve [--port N]    webhook + processor + SLA checker on 127.0.0.1
                      (port: --port, else $PORT, else 3000)
  create-resources [--prefix P]
                      create the tables and the FIFO queue (with its dead-letter queue) on the
                      AWS emulator at $AWS_ENDPOINT_URL and print the Lambdas' variables

environment (serve): WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, WHATSAPP_ACCESS_TOKEN,
  WHATSAPP_API_BASE_URL; both: ATENDE_CONFIG (a TOML file), RUST_LOG";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("chat") if args.len() == 1 => chat().await,
        Some("serve") => match port(&args[1..]) {
            Ok(port) => serve(port).await,
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

fn port(args: &[String]) -> Result<u16, String> {
    let parse = |v: &str, from: &str| {
        v.parse::<u16>()
            .map_err(|_| format!("{from} must be a port number (0-65535), got `{v}`"))
    };
    match args {
        [] => match settings::optional("PORT") {
            Some(p) => parse(&p, "PORT"),
            None => Ok(3000),
        },
        [flag, value] if flag == "--port" => parse(value, "--port"),
        _ => Err(format!(
            "unexpected arguments to serve: {}\n\n{USAGE}",
            args.join(" ")
        )),
    }
}

async fn serve(port: u16) -> Result<(), String> {
    atende_shared::logging::init_local("info");
    let config = settings::load_config().map_err(|e| e.to_string())?;
    atende::serve::run(port, config)
        .await
        .map_err(|e| e.to_string())
}

async fn chat() -> Result<(), String> {
    atende_shared::logging::init_local("warn");
    let config = settings::load_config().map_err(|e| e.to_string())?;
    println!(
        "atende chat: you are a customer of {}. Type a message (\"oi\" to start), a number to \
         pick a choice, /close to play the agent closing the conversation, Ctrl-D to leave.",
        config.business_name
    );
    let mut session = ChatSession::new(config, Arc::new(SystemClock), None, None);
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

async fn create_resources(prefix: &str) -> Result<(), String> {
    use atende_shared::adapters::aws::{self, resources};
    // Stacks on AWS are created by `sam deploy`; this is for emulators only.
    let endpoint = settings::optional("AWS_ENDPOINT_URL").ok_or(
        "AWS_ENDPOINT_URL is not set: create-resources only targets an emulator (deploy to AWS \
         with `sam deploy`)",
    )?;
    let sdk = aws::sdk_config().await;
    let (sessions, attendance) = (format!("{prefix}-sessions"), format!("{prefix}-attendance"));
    let dynamodb = aws::dynamodb(&sdk);
    resources::create_sessions_table(&dynamodb, &sessions)
        .await
        .map_err(|e| e.to_string())?;
    resources::create_attendance_table(&dynamodb, &attendance)
        .await
        .map_err(|e| e.to_string())?;
    let queue_url = resources::create_event_queue(&aws::sqs(&sdk), &format!("{prefix}-events"), 5)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("created on {endpoint}:");
    println!("EVENTS_QUEUE_URL={queue_url}");
    println!("SESSIONS_TABLE={sessions}");
    println!("ATTENDANCE_TABLE={attendance}");
    Ok(())
}
