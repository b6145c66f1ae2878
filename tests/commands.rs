//! `spec`, `check` and `discover`.

mod common;

use common::*;
use serde_json::{Value, json};

fn connection_status(output: &Output) -> &Value {
    &output
        .of_type("CONNECTION_STATUS")
        .next()
        .unwrap_or_else(|| panic!("no CONNECTION_STATUS in {}", output.stdout))["connectionStatus"]
}

#[tokio::test]
async fn spec_prints_the_embedded_specification_without_config_or_network() {
    let output = run(&["spec"], &[]).await;

    output.assert_success();
    assert_eq!(output.messages.len(), 1);
    let file: Value = serde_json::from_str(include_str!("../specs/spec.json")).unwrap();
    assert_eq!(output.messages[0]["spec"], file);
}

#[tokio::test]
async fn a_log_level_variable_meant_for_another_program_does_not_stop_the_connector() {
    for value in ["WARNING", "", "verbose"] {
        let output = run(&["spec"], &[("LOG_LEVEL", value)]).await;

        output.assert_success();
        assert_eq!(output.messages.len(), 1, "LOG_LEVEL={value:?}");
        assert!(
            output.messages[0].get("spec").is_some(),
            "LOG_LEVEL={value:?}"
        );
    }
}

#[test]
fn the_spec_marks_every_secret_and_is_a_valid_draft7_schema() {
    let spec: Value = serde_json::from_str(include_str!("../specs/spec.json")).unwrap();
    let connection = &spec["connectionSpecification"];
    assert!(jsonschema::meta::is_valid(connection));
    let branches = connection["properties"]["credentials"]["oneOf"]
        .as_array()
        .unwrap();
    for branch in branches {
        for (name, property) in branch["properties"].as_object().unwrap() {
            if ["api_key", "client_secret", "key_id", "api_secret"].contains(&name.as_str()) {
                assert_eq!(property["airbyte_secret"], true, "{name}");
            }
        }
        assert!(branch["properties"]["auth_type"]["const"].is_string());
    }
    let names: Vec<&str> = connection["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for required in [
        "base_url",
        "credentials",
        "start_date",
        "page_size",
        "include_deleted",
        "requests_per_second",
    ] {
        assert!(names.contains(&required), "{required}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_succeeds_with_each_auth_method() {
    let sandbox = sandbox(small(20)).await;
    for (method, config) in auth_configs(&sandbox) {
        let output = with_config("check", &config).await;
        output.assert_success();
        assert_eq!(
            connection_status(&output)["status"],
            "SUCCEEDED",
            "{method}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_the_rejected_api_key_field() {
    let sandbox = sandbox(small(21)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"credentials": {"auth_type": "api_key", "api_key": "sk_wrong"}}),
    );

    let output = with_config("check", &config).await;

    output.assert_success();
    let status = connection_status(&output);
    assert_eq!(status["status"], "FAILED");
    assert_eq!(
        status["message"],
        "401 invalid_credentials: the API key was rejected; check credentials.api_key."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_the_rejected_oauth_fields() {
    let sandbox = sandbox(small(22)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"credentials": {"auth_type": "oauth2_client_credentials", "client_id": "nobody", "client_secret": "wrong"}}),
    );

    let output = with_config("check", &config).await;

    let message = connection_status(&output)["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("credentials.client_id and credentials.client_secret"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_when_the_host_cannot_be_reached() {
    let config = json!({
        "base_url": "http://127.0.0.1:9",
        "credentials": {"auth_type": "api_key", "api_key": "k"},
        "connect_timeout_seconds": 2,
    });

    let output = with_config("check", &config).await;

    let status = connection_status(&output);
    assert_eq!(status["status"], "FAILED");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("Could not reach the API"), "{message}");
    assert!(message.contains("base_url"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_when_tls_fails() {
    let sandbox = sandbox(small(23)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"base_url": sandbox.url().replace("http://", "https://")}),
    );

    let output = with_config("check", &config).await;

    let message = connection_status(&output)["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("TLS"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_when_base_url_points_at_a_website() {
    let website = html_server(404).await;
    let config = json!({
        "base_url": website,
        "credentials": {"auth_type": "api_key", "api_key": "k"},
    });

    let output = with_config("check", &config).await;

    let message = connection_status(&output)["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("points at a website"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn read_says_when_base_url_points_at_a_website() {
    let website = html_server(404).await;
    let config = json!({
        "base_url": website,
        "credentials": {"auth_type": "api_key", "api_key": "k"},
    });

    let output = read(&config, &catalog(&["orders"], "full_refresh"), None).await;

    assert_ne!(output.code, 0);
    let error = output.errors()[0];
    assert_eq!(error["failure_type"], "config_error");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("points at a website"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_the_field_of_a_config_that_does_not_validate() {
    let output = with_config(
        "check",
        &json!({"base_url": "https://api.example.com", "credentials": {"auth_type": "api_key"}}),
    )
    .await;

    output.assert_success();
    let status = connection_status(&output);
    assert_eq!(status["status"], "FAILED");
    assert!(status["message"].as_str().unwrap().contains("api_key"));
}

#[tokio::test]
async fn a_config_file_that_is_not_json_is_a_config_error_trace() {
    let inputs = Inputs::new();
    let path = inputs.write_raw("config.json", "{\"base_url\": ");
    for subcommand in ["check", "discover"] {
        let output = run(&[subcommand, "--config", path.to_str().unwrap()], &[]).await;
        assert_ne!(output.code, 0, "{subcommand}");
        assert_eq!(
            output.errors()[0]["failure_type"],
            "config_error",
            "{subcommand}"
        );
    }
}

#[tokio::test]
async fn a_missing_file_is_a_config_error_trace_not_a_panic() {
    let output = run(
        &[
            "read",
            "--config",
            "/nonexistent/config.json",
            "--catalog",
            "/nonexistent/catalog.json",
        ],
        &[],
    )
    .await;
    assert_ne!(output.code, 0);
    assert_eq!(output.errors()[0]["failure_type"], "config_error");
    assert!(output.stderr.is_empty(), "{}", output.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_lists_every_stream_with_custom_fields_in_their_schemas() {
    let sandbox = sandbox(small(24)).await;

    let catalog = discovered_catalog(&api_key_config(&sandbox)).await;

    insta::assert_json_snapshot!("discovered_catalog", catalog);
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_adds_every_custom_field_the_api_lists() {
    let sandbox = sandbox(small(25)).await;

    let catalog = discovered_catalog(&api_key_config(&sandbox)).await;

    for field in sandbox.oracle().custom_fields {
        let stream = catalog["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == field["object"])
            .unwrap();
        let name = format!("cf_{}", field["name"].as_str().unwrap());
        let schema = &stream["json_schema"]["properties"][&name];
        assert!(
            schema["type"].as_array().unwrap().contains(&json!("null")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unsupported_sync_mode_is_a_config_error_trace() {
    let inputs = Inputs::new();
    let mut catalog = catalog(&["orders"], "incremental");
    catalog["streams"][0]["sync_mode"] = json!("cdc");
    let config = json!({"base_url": "http://127.0.0.1:9", "credentials": {"auth_type": "api_key", "api_key": "k"}});
    let output = run(
        &[
            "read",
            "--config",
            inputs.write("config.json", &config).to_str().unwrap(),
            "--catalog",
            inputs.write("catalog.json", &catalog).to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_ne!(output.code, 0);
    let error = output.errors()[0];
    assert_eq!(error["failure_type"], "config_error");
    assert!(
        error["message"].as_str().unwrap().contains("cdc"),
        "{error}"
    );
}
