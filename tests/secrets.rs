//! No secret ever reaches stdout or stderr: not in logs at debug level, not
//! in errors, not under faults, not with wrong credentials.

mod common;

use common::*;
use ecommerce_sandbox::{Faults, SandboxConfig};
use serde_json::{Value, json};

fn assert_no_secret(output: &Output, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !output.stdout.contains(secret),
            "{what}: stdout holds a secret"
        );
        assert!(
            !output.stderr.contains(secret),
            "{what}: stderr holds a secret"
        );
    }
    for text in [&output.stdout, &output.stderr] {
        assert!(
            !text.contains("Bearer "),
            "{what}: a bearer token header was printed"
        );
        assert!(
            !text.contains("API-Signature"),
            "{what}: a signature header was printed"
        );
    }
}

async fn every_command(config: &Value, env: &[(&str, &str)]) -> Vec<(String, Output)> {
    let inputs = Inputs::new();
    let config = inputs.write("config.json", config);
    let catalog = inputs.write("catalog.json", &catalog(&STREAMS, "incremental"));
    let config = config.to_str().unwrap();
    let mut outputs = Vec::new();
    for subcommand in ["check", "discover"] {
        outputs.push((
            subcommand.to_owned(),
            run(&[subcommand, "--config", config], env).await,
        ));
    }
    outputs.push((
        "read".to_owned(),
        run(
            &[
                "read",
                "--config",
                config,
                "--catalog",
                catalog.to_str().unwrap(),
            ],
            env,
        )
        .await,
    ));
    outputs
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_is_printed_under_any_auth_method_with_faults_and_debug_logs() {
    let sandbox = sandbox(SandboxConfig {
        faults: Faults {
            status_429_every: Some(9),
            status_500_every: Some(7),
            status_502_html_every: Some(11),
            truncated_every: Some(13),
            revoke_token_every: Some(5),
            ..Faults::default()
        },
        ..small(50)
    })
    .await;
    let credentials = sandbox.credentials().clone();
    let secrets = [
        credentials.api_key.as_str(),
        credentials.client_secret.as_str(),
        credentials.key_id.as_str(),
        credentials.api_secret.as_str(),
    ];
    for (method, config) in auth_configs(&sandbox) {
        for (command, output) in every_command(&config, &[("LOG_LEVEL", "debug")]).await {
            assert!(
                !output.logs("DEBUG").is_empty() || command == "check" || command == "discover"
            );
            assert_no_secret(&output, &secrets, &format!("{method} {command}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_is_printed_when_the_credentials_are_wrong() {
    let sandbox = sandbox(small(51)).await;
    let wrong = [
        json!({"auth_type": "api_key", "api_key": "sk_live_wrong_but_secret_1"}),
        json!({"auth_type": "oauth2_client_credentials", "client_id": "id", "client_secret": "cs_wrong_but_secret_2"}),
        json!({"auth_type": "signed_token", "key_id": "key_wrong_but_secret_3", "api_secret": "as_wrong_but_secret_4"}),
    ];
    let secrets = [
        "sk_live_wrong_but_secret_1",
        "cs_wrong_but_secret_2",
        "key_wrong_but_secret_3",
        "as_wrong_but_secret_4",
    ];
    for credentials in wrong {
        let config = with(
            api_key_config(&sandbox),
            json!({"credentials": credentials}),
        );
        for (command, output) in every_command(&config, &[("LOG_LEVEL", "trace")]).await {
            assert_no_secret(&output, &secrets, &command);
        }
    }
}

#[tokio::test]
async fn a_secret_of_the_wrong_type_is_not_quoted_in_the_error() {
    let config = json!({
        "base_url": "http://127.0.0.1:9",
        "credentials": {"auth_type": "signed_token", "key_id": 123456789, "api_secret": ["s3cr3t-in-a-list"]},
    });
    for subcommand in ["check", "discover"] {
        let output = with_config(subcommand, &config).await;
        assert_no_secret(&output, &["123456789", "s3cr3t-in-a-list"], subcommand);
    }
}
