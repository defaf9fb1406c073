//! `template.yaml` deploys what the code and the emulator tests assume: the same keys and TTL
//! attribute as `adapters::aws::resources`, a FIFO queue in high-throughput mode with the same
//! visibility timeout and receive count, and a visibility timeout of at least six times the
//! processor's timeout (AWS's advice for SQS event sources).

mod support;

use atende_shared::adapters::aws::resources;
use serde_norway::Value;
use support::template::{actions_on, props, template};

/// `[(AttributeName, KeyType)]` of a table's KeySchema.
fn keys(table: &Value) -> Vec<(String, String)> {
    table["KeySchema"]
        .as_sequence()
        .expect("KeySchema")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[test]
fn tables_match_the_adapters() {
    let t = template();
    let sessions = props(&t, "SessionsTable");
    assert_eq!(keys(sessions), [pair(resources::SESSIONS_KEY, "HASH")]);
    assert_eq!(
        sessions["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(resources::SESSIONS_TTL_ATTRIBUTE)
    );
    assert_eq!(
        sessions["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    let attendance = props(&t, "AttendanceTable");
    assert_eq!(
        keys(attendance),
        [
            pair(resources::ATTENDANCE_KEYS[0], "HASH"),
            pair(resources::ATTENDANCE_KEYS[1], "RANGE")
        ]
    );
    assert_eq!(
        attendance["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(resources::ATTENDANCE_TTL_ATTRIBUTE)
    );
    let agents = props(&t, "AgentsTable");
    assert_eq!(keys(agents), [pair(resources::AGENTS_KEY, "HASH")]);
    let log = props(&t, "ConversationLogTable");
    assert_eq!(
        keys(log),
        [
            pair(resources::LOG_KEYS[0], "HASH"),
            pair(resources::LOG_KEYS[1], "RANGE")
        ]
    );
    assert_eq!(
        log["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(resources::LOG_TTL_ATTRIBUTE)
    );
    assert_eq!(
        log["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    let live = props(&t, "LiveTable");
    assert_eq!(
        keys(live),
        [pair(
            atende_shared::adapters::dynamodb_live::LIVE_KEY,
            "HASH"
        )]
    );
    assert_eq!(
        live["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(atende_shared::adapters::dynamodb_live::LIVE_TTL_ATTRIBUTE)
    );
    assert_eq!(
        live["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(live["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    for table in [sessions, attendance, agents, log] {
        assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
        assert_eq!(
            table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
            Some(true)
        );
    }
}

#[test]
fn the_queue_matches_the_adapters_and_outlasts_the_processor() {
    let t = template();
    let queue = props(&t, "EventsQueue");
    assert_eq!(queue["FifoQueue"].as_bool(), Some(true));
    assert_eq!(queue["DeduplicationScope"].as_str(), Some("messageGroup"));
    assert_eq!(
        queue["FifoThroughputLimit"].as_str(),
        Some("perMessageGroupId")
    );
    // Scheduler's timer events come without a deduplication id.
    assert_eq!(queue["ContentBasedDeduplication"].as_bool(), Some(true));
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
    assert_eq!(visibility, u64::from(resources::VISIBILITY_TIMEOUT_SECONDS));
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"].as_u64(),
        Some(u64::from(resources::MAX_RECEIVE_COUNT))
    );
    const { assert!(resources::MAX_RECEIVE_COUNT >= 5) };
    let processor_timeout = props(&t, "ProcessorFunction")["Timeout"].as_u64().unwrap();
    assert!(
        visibility >= 6 * processor_timeout,
        "{visibility} < 6 × {processor_timeout}"
    );
    // A live delivery's hold on a customer's outbox outlasts the function, and has ended by
    // the time the queue hands its event out again.
    let lease = atende_shared::app::processor::SENDING_LEASE_SECONDS as u64;
    assert!(processor_timeout < lease && lease < visibility, "{lease}");
    let batch = &props(&t, "ProcessorFunction")["Events"]["CustomerEvents"]["Properties"];
    assert_eq!(
        batch["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
}

#[test]
fn timers_reach_the_queue_through_a_role_that_can_only_send_to_it() {
    let t = template();
    let env = &props(&t, "ProcessorFunction")["Environment"]["Variables"];
    for name in ["SCHEDULE_GROUP", "EVENTS_QUEUE_ARN", "SCHEDULER_ROLE_ARN"] {
        assert!(!env[name].is_null(), "the processor needs {name}");
    }
    let role = props(&t, "SchedulerRole");
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"].as_str(),
        Some("scheduler.amazonaws.com")
    );
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Action"].as_str(), Some("sqs:SendMessage"));
    assert_eq!(
        t["Resources"]["TimersScheduleGroup"]["Type"].as_str(),
        Some("AWS::Scheduler::ScheduleGroup")
    );
}

#[test]
fn every_function_and_the_dead_letter_queue_have_an_alarm() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let watched: Vec<String> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .filter(|r| r["Properties"]["MetricName"].as_str() == Some("Errors"))
        .filter_map(|r| reference(&r["Properties"]["Dimensions"][0]["Value"]))
        .collect();
    for (name, resource) in resources {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            let name = name.as_str().unwrap();
            assert!(
                watched.iter().any(|w| w == name),
                "{name} has no Errors alarm"
            );
        }
    }
    assert!(!props(&t, "EventsDeadLetterAlarm").is_null());
}

/// The resource a `!Ref` names.
fn reference(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().map(str::to_owned),
        other => other["Ref"].as_str().map(str::to_owned),
    }
}

/// The actions the DynamoDB adapters use, granted to the functions that use them: queueing
/// and taking customers out of line are transactions of puts and deletes.
#[test]
fn the_processor_may_queue_and_unqueue_customers() {
    let t = template();
    let on_attendance = actions_on(&t, "ProcessorFunction", "AttendanceTable.Arn");
    for action in [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    ] {
        assert!(
            on_attendance.iter().any(|a| a == action),
            "{action} missing: {on_attendance:?}"
        );
    }
}

/// The conversation log's writers may do what its adapter does: the processor writes lines
/// and status items (puts) and moves statuses forward (conditional updates); the webhook moves
/// statuses forward and reads a status item for Meta's `sent` (which the emulator test
/// `a_plain_status_of_a_bot_message_is_one_write_at_the_webhook` checks against this grant).
#[test]
fn the_log_s_writers_may_write_what_the_adapter_writes() {
    let t = template();
    let mut processor = actions_on(&t, "ProcessorFunction", "ConversationLogTable.Arn");
    processor.sort();
    assert_eq!(processor, ["dynamodb:PutItem", "dynamodb:UpdateItem"]);
    let mut webhook = actions_on(&t, "WebhookFunction", "ConversationLogTable.Arn");
    webhook.sort();
    assert_eq!(webhook, ["dynamodb:GetItem", "dynamodb:UpdateItem"]);
    let env = &props(&t, "WebhookFunction")["Environment"]["Variables"];
    assert_eq!(
        reference(&env["LOG_TABLE"]).as_deref(),
        Some("ConversationLogTable")
    );
}

/// Every agent and supervisor route sits behind the Cognito JWT authorizer (the webhook stays
/// open for Meta); the authorizer trusts the desk's user pool and its client; the groups are
/// the ones the handlers read roles from.
#[test]
fn the_desk_routes_need_a_cognito_token_and_the_groups_are_the_roles() {
    use atende_shared::auth::{AGENTS_GROUP, SUPERVISORS_GROUP};
    let t = template();
    let api = props(&t, "WebhookApi");
    let jwt = &api["Auth"]["Authorizers"]["DeskJwt"];
    assert_eq!(
        jwt["IdentitySource"].as_str(),
        Some("$request.header.Authorization")
    );
    let issuer = serde_norway::to_string(&jwt["JwtConfiguration"]["issuer"]).unwrap();
    assert!(
        issuer.contains("cognito-idp") && issuer.contains("${DeskUserPool}"),
        "{issuer}"
    );
    assert_eq!(
        reference(&jwt["JwtConfiguration"]["audience"][0]).as_deref(),
        Some("DeskUserPoolClient")
    );
    let events = props(&t, "AgentApiFunction")["Events"]
        .as_mapping()
        .unwrap()
        .clone();
    let mut paths = Vec::new();
    let mut public = Vec::new();
    for (_, event) in &events {
        let p = &event["Properties"];
        let path = p["Path"].as_str().unwrap().to_owned();
        // Only the console's page and files are public: it asks for a login itself.
        if path == "/desk" || path == "/desk/{proxy+}" {
            // No `Auth` at all: SAM refuses `Authorizer: NONE` on an API without a default.
            assert!(p["Auth"].is_null(), "{p:?}");
            assert_eq!(p["Method"].as_str(), Some("GET"), "{p:?}");
            public.push(path);
            continue;
        }
        assert_eq!(p["Auth"]["Authorizer"].as_str(), Some("DeskJwt"), "{p:?}");
        paths.push(path);
    }
    paths.sort();
    public.sort();
    assert_eq!(paths, ["/agent/{proxy+}", "/supervisor/{proxy+}"]);
    assert_eq!(public, ["/desk", "/desk/{proxy+}"]);
    // Every route of the API is under those paths.
    for (_, route) in atende_shared::edge::agent_api::ROUTES {
        assert!(
            route.starts_with("/agent/") || route.starts_with("/supervisor/"),
            "{route}"
        );
    }
    // Meta reaches the webhook at its function URL, which checks no token (Meta sends none):
    // the signature is the check. The HTTP API's /webhook (GET and POST, no authorizer either)
    // stays for Callback URLs set before.
    let webhook = props(&t, "WebhookFunction");
    assert_eq!(
        webhook["FunctionUrlConfig"]["AuthType"].as_str(),
        Some("NONE")
    );
    let mut routes = Vec::new();
    for (_, event) in webhook["Events"].as_mapping().unwrap() {
        let p = &event["Properties"];
        assert!(p["Auth"].is_null(), "Meta sends no token: {p:?}");
        assert_eq!(reference(&p["ApiId"]).as_deref(), Some("WebhookApi"));
        routes.push(format!(
            "{} {}",
            p["Method"].as_str().unwrap(),
            p["Path"].as_str().unwrap()
        ));
    }
    routes.sort();
    assert_eq!(routes, ["GET /webhook", "POST /webhook"]);
    assert_eq!(
        serde_norway::to_string(&t["Outputs"]["WebhookUrl"]["Value"])
            .unwrap()
            .trim(),
        "!GetAtt WebhookFunctionUrl.FunctionUrl"
    );
    let pool = props(&t, "DeskUserPool");
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"].as_bool(),
        Some(true)
    );
    assert_eq!(pool["UsernameAttributes"][0].as_str(), Some("email"));
    let mut groups: Vec<&str> = ["DeskAgentsGroup", "DeskSupervisorsGroup"]
        .iter()
        .map(|g| props(&t, g)["GroupName"].as_str().unwrap())
        .collect();
    groups.sort();
    assert_eq!(groups, [AGENTS_GROUP, SUPERVISORS_GROUP]);
    let client = props(&t, "DeskUserPoolClient");
    assert_eq!(client["GenerateSecret"].as_bool(), Some(false));
}

/// Files are private, encrypted and expire; the functions that keep or read them are told the
/// bucket.
#[test]
fn the_media_bucket_is_private_encrypted_and_expires() {
    let t = template();
    let bucket = props(&t, "MediaBucket");
    let block = &bucket["PublicAccessBlockConfiguration"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[flag].as_bool(), Some(true), "{flag}");
    }
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .as_str(),
        Some("AES256")
    );
    let rule = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(rule["Status"].as_str(), Some("Enabled"));
    assert_eq!(
        reference(&rule["ExpirationInDays"]).as_deref(),
        Some("RetentionDays")
    );
    for function in ["ProcessorFunction", "AgentApiFunction"] {
        assert_eq!(
            reference(&props(&t, function)["Environment"]["Variables"]["MEDIA_BUCKET"]).as_deref(),
            Some("MediaBucket"),
            "{function}"
        );
    }
}

#[test]
fn live_updates_go_through_a_websocket_api_the_pushers_may_post_to() {
    let t = template();
    assert_eq!(
        props(&t, "LiveApi")["ProtocolType"].as_str(),
        Some("WEBSOCKET")
    );
    // The three routes reach the live function, which only API Gateway may invoke.
    let mut routes: Vec<String> = Vec::new();
    for route in [
        "LiveConnectRoute",
        "LiveDisconnectRoute",
        "LiveDefaultRoute",
    ] {
        let p = props(&t, route);
        routes.push(p["RouteKey"].as_str().unwrap().to_owned());
        let target = serde_norway::to_string(&p["Target"]).unwrap();
        assert!(
            target.contains("integrations/${LiveIntegration}"),
            "{target}"
        );
    }
    assert_eq!(routes, ["$connect", "$disconnect", "$default"]);
    let integration =
        serde_norway::to_string(&props(&t, "LiveIntegration")["IntegrationUri"]).unwrap();
    assert!(integration.contains("${LiveFunction.Arn}"), "{integration}");
    let permission = props(&t, "LiveFunctionPermission");
    assert_eq!(
        permission["Principal"].as_str(),
        Some("apigateway.amazonaws.com")
    );
    assert_eq!(props(&t, "LiveStage")["StageName"].as_str(), Some("live"));
    // Those that change things push to the stage's connections and read the live table.
    for function in ["ProcessorFunction", "AgentApiFunction"] {
        let p = props(&t, function);
        let env = &p["Environment"]["Variables"];
        assert_eq!(
            reference(&env["LIVE_TABLE"]).as_deref(),
            Some("LiveTable"),
            "{function}"
        );
        let endpoint = serde_norway::to_string(&env["LIVE_ENDPOINT"]).unwrap();
        assert!(
            endpoint.contains("https://${LiveApi}") && endpoint.contains("/live"),
            "{endpoint}"
        );
        let policies = serde_norway::to_string(&p["Policies"]).unwrap();
        assert!(
            policies.contains("execute-api:ManageConnections")
                && policies.contains("${LiveApi}/live/POST/@connections/*"),
            "{function}: {policies}"
        );
    }
    let url = serde_norway::to_string(
        &props(&t, "AgentApiFunction")["Environment"]["Variables"]["LIVE_URL"],
    )
    .unwrap();
    assert!(url.contains("wss://${LiveApi}"), "{url}");
}

/// The secret names a `!Ref`, or either branch of an `!If`, points at.
fn secret_refs(value: &Value) -> Vec<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "If" => tagged
            .value
            .as_sequence()
            .map(|branches| branches.iter().skip(1).flat_map(secret_refs).collect())
            .unwrap_or_default(),
        other => reference(other).into_iter().collect(),
    }
}

/// Item 17: secrets out of the environment. The NoEcho parameters become Secrets Manager
/// secrets; no function's environment holds a secret's value (only `<NAME>_ARN`, naming a
/// secret); each function may read exactly the secrets its environment names, and no other.
#[test]
fn secrets_out_of_the_environment() {
    let t = template();
    let secret_parameters: Vec<String> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["NoEcho"].as_bool() == Some(true))
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect();
    assert!(secret_parameters.len() >= 5, "{secret_parameters:?}");
    let resources = t["Resources"].as_mapping().unwrap();
    let secrets: Vec<String> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SecretsManager::Secret"))
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect();
    for parameter in &secret_parameters {
        assert!(
            resources.iter().any(|(_, r)| {
                r["Type"].as_str() == Some("AWS::SecretsManager::Secret")
                    && reference(&r["Properties"]["SecretString"]).as_deref()
                        == Some(parameter.as_str())
            }),
            "{parameter} is not kept in Secrets Manager"
        );
    }
    let functions = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"));
    let mut readers = 0;
    for (name, function) in functions {
        let name = name.as_str().unwrap();
        let variables = function["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        let mut named = Vec::new();
        for (variable, value) in &variables {
            let variable = variable.as_str().unwrap();
            for target in secret_refs(value) {
                assert!(
                    !secret_parameters.contains(&target),
                    "{name}: {variable} holds the secret parameter {target} itself"
                );
                if secrets.contains(&target) {
                    assert!(variable.ends_with("_ARN"), "{name}: {variable}");
                    named.push(target);
                }
            }
        }
        let mut readable: Vec<String> = function["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
            .filter(|s| s["Action"].as_str() == Some("secretsmanager:GetSecretValue"))
            .flat_map(|s| match &s["Resource"] {
                Value::Sequence(items) => items.iter().flat_map(secret_refs).collect(),
                other => secret_refs(other),
            })
            .filter(|r| r != "AWS::NoValue")
            .collect();
        named.sort();
        readable.sort();
        assert_eq!(
            readable, named,
            "{name} may read exactly the secrets it names"
        );
        readers += usize::from(!named.is_empty());
    }
    assert!(
        readers >= 3,
        "webhook, processor and SLA checker read secrets"
    );
}

/// Item 18: the number's throughput holds across processors. The queue's event source bounds
/// how many processors run at once, and each gets the number's rate divided by that bound:
/// together they never exceed it, whatever the parameters.
#[test]
fn the_numbers_throughput_holds_across_processors() {
    use atende_shared::app::settings::share_of_throughput;
    let t = template();
    let processor = props(&t, "ProcessorFunction");
    let bound =
        &processor["Events"]["CustomerEvents"]["Properties"]["ScalingConfig"]["MaximumConcurrency"];
    assert_eq!(reference(bound).as_deref(), Some("ProcessorMaxConcurrency"));
    let variables = &processor["Environment"]["Variables"];
    assert_eq!(
        reference(&variables["PROCESSOR_MAX_CONCURRENCY"]).as_deref(),
        Some("ProcessorMaxConcurrency")
    );
    assert_eq!(
        reference(&variables["WHATSAPP_MESSAGES_PER_SECOND"]).as_deref(),
        Some("WhatsAppMessagesPerSecond")
    );
    let parameter = &t["Parameters"]["ProcessorMaxConcurrency"];
    // SQS event sources take 2 to 1000.
    assert_eq!(parameter["MinValue"].as_u64(), Some(2));
    let default_rate = t["Parameters"]["WhatsAppMessagesPerSecond"]["Default"]
        .as_u64()
        .unwrap() as u32;
    let default_bound = parameter["Default"].as_u64().unwrap() as u32;
    assert_eq!(default_rate, 80);
    for (rate, processors) in [
        (default_rate, default_bound),
        (80, 2),
        (80, 3),
        (80, 80),
        (1000, 7),
        (1000, 1000),
    ] {
        let share = share_of_throughput(rate, processors).unwrap();
        assert!(share >= 1);
        assert!(
            share * processors <= rate,
            "{processors} × {share} > {rate}"
        );
    }
    assert_eq!(
        share_of_throughput(80, 81),
        None,
        "under a message a second each"
    );
}

/// Alarms go somewhere: with an `AlarmEmail`, every alarm notifies the SNS topic that e-mails
/// it; without one (the default), the topic is not created and the alarms stay in CloudWatch.
#[test]
fn every_alarm_notifies_the_alarm_topic_when_an_address_is_given() {
    let t = template();
    assert_eq!(t["Parameters"]["AlarmEmail"]["Default"].as_str(), Some(""));
    let topic = &t["Resources"]["AlarmTopic"];
    assert_eq!(topic["Type"].as_str(), Some("AWS::SNS::Topic"));
    assert_eq!(topic["Condition"].as_str(), Some("HasAlarmEmail"));
    let subscription = &topic["Properties"]["Subscription"][0];
    assert_eq!(subscription["Protocol"].as_str(), Some("email"));
    assert_eq!(
        reference(&subscription["Endpoint"]).as_deref(),
        Some("AlarmEmail")
    );
    let alarms: Vec<_> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .collect();
    assert!(alarms.len() >= 8, "{} alarms", alarms.len());
    for (name, alarm) in alarms {
        let actions = &alarm["Properties"]["AlarmActions"];
        let Value::Tagged(tagged) = actions else {
            panic!("{name:?}: no AlarmActions");
        };
        assert_eq!(tagged.tag, "If", "{name:?}");
        let branches = tagged.value.as_sequence().unwrap();
        assert_eq!(branches[0].as_str(), Some("HasAlarmEmail"), "{name:?}");
        assert_eq!(
            reference(&branches[1][0]).as_deref(),
            Some("AlarmTopic"),
            "{name:?}"
        );
    }
}

/// The runtime's logging conventions: JSON lines at the `LogLevel` parameter's level
/// (`ApplicationLogLevel`, read by the functions as `AWS_LAMBDA_LOG_LEVEL`), Lambda's own
/// lines for the webhook at `WebhookSystemLogLevel` (`WARN` by default), and each
/// function's log group kept `LogRetentionDays` (30 by default), not forever.
#[test]
fn functions_log_as_the_runtime_says_to_groups_that_expire() {
    let t = template();
    let logging = &t["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"].as_str(), Some("JSON"));
    assert_eq!(
        reference(&logging["ApplicationLogLevel"]).as_deref(),
        Some("LogLevel")
    );
    // The metrics are log lines without a level, which Lambda filters as INFO: a level above
    // that would drop them, and the alarms on them with them.
    let levels: Vec<&str> = t["Parameters"]["LogLevel"]["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(levels, ["INFO", "DEBUG", "TRACE"]);
    // Lambda's start and report lines of each invocation: kept (Lambda's default) but for the
    // webhook, which runs for each of Meta's statuses, and keeps them only when asked for.
    assert!(logging["SystemLogLevel"].is_null());
    assert_eq!(
        reference(&props(&t, "WebhookFunction")["LoggingConfig"]["SystemLogLevel"]).as_deref(),
        Some("WebhookSystemLogLevel")
    );
    assert_eq!(
        t["Parameters"]["WebhookSystemLogLevel"]["Default"].as_str(),
        Some("WARN")
    );
    assert_eq!(
        t["Parameters"]["LogRetentionDays"]["Default"].as_u64(),
        Some(30)
    );
    let resources = t["Resources"].as_mapping().unwrap();
    let mut functions = 0;
    for (name, function) in resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
    {
        functions += 1;
        let group = reference(&function["Properties"]["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{name:?} logs to the default group, kept forever"));
        let group = &t["Resources"][group.as_str()];
        assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
        assert_eq!(
            reference(&group["Properties"]["RetentionInDays"]).as_deref(),
            Some("LogRetentionDays"),
            "{name:?}"
        );
        assert!(
            function["Properties"]["Environment"]["Variables"]["RUST_LOG"].is_null(),
            "{name:?}: the level comes from LoggingConfig"
        );
    }
    assert_eq!(functions, 5);
}
