//! The three authentication methods, scopes, expiry and revocation over HTTP.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{API_KEY, Client, config, start};
use ecommerce_sandbox::{Faults, SandboxConfig};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Sha256;

async fn oauth_token(client: &Client, form: &str) -> (StatusCode, Value) {
    let response = client
        .http
        .post(format!("{}/v1/oauth/token", client.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

const FORM: &str =
    "grant_type=client_credentials&client_id=sandbox-client&client_secret=cs_test_sandbox_secret";

fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}POST/v1/auth/token{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn signed_exchange(client: &Client, timestamp: i64, secret: &str) -> (StatusCode, Value) {
    let body = r#"{"grant_type":"client_credentials"}"#;
    let ts = timestamp.to_string();
    let response = client
        .http
        .post(format!("{}/v1/auth/token", client.base))
        .header("content-type", "application/json")
        .header("API-Key", "key_test_sandbox")
        .header("API-Timestamp", &ts)
        .header("API-Signature", sign(secret, &ts, body))
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn the_api_key_reads_everything_and_a_wrong_key_is_invalid_credentials() {
    let (sandbox, client) = start(config()).await;
    let account = client.ok("/v1/account").await;
    assert!(account.body["id"].as_str().unwrap().starts_with("acc_"));
    assert_eq!(account.body["timezone"], "Europe/Berlin");
    let wrong = client.with_bearer("sk_wrong").get("/v1/orders").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body,
        serde_json::json!({"error": {"code": "invalid_credentials", "message": wrong.body["error"]["message"]}})
    );
    let none = client
        .http
        .get(format!("{}/v1/orders", client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn oauth_client_credentials_work_in_the_form_and_in_http_basic() {
    let (sandbox, client) = start(config()).await;
    let (status, token) = oauth_token(&client, FORM).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    let bearer = token["access_token"].as_str().unwrap();
    client.with_bearer(bearer).ok("/v1/orders?limit=1").await;

    let basic = client
        .http
        .post(format!("{}/v1/oauth/token", client.base))
        .basic_auth("sandbox-client", Some("cs_test_sandbox_secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);

    let (status, error) = oauth_token(&client, &FORM.replace("cs_test", "cs_wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"]["code"], "invalid_credentials");
    let (status, error) = oauth_token(&client, "grant_type=password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "invalid_parameter");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_scoped_token_is_forbidden_on_other_resources_only() {
    let (sandbox, client) = start(config()).await;
    let (_, token) =
        oauth_token(&client, &format!("{FORM}&scope=customers:read+orders:read")).await;
    let scoped = client.with_bearer(token["access_token"].as_str().unwrap());
    scoped.ok("/v1/customers?limit=1").await;
    scoped.ok("/v1/orders?limit=1").await;
    scoped.ok("/v1/account").await;
    for path in ["/v1/products", "/v1/order_events"] {
        let answer = scoped.get(path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(answer.error_code(), "forbidden");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_signed_exchange_needs_the_right_hmac_and_a_close_clock() {
    let (sandbox, client) = start(config()).await;
    let (status, token) = signed_exchange(&client, now(), "as_test_sandbox_hmac_secret").await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["expires_in"], 900);
    client
        .with_bearer(token["access_token"].as_str().unwrap())
        .ok("/v1/order_events?limit=2")
        .await;

    let (status, error) = signed_exchange(&client, now(), "wrong_secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"]["code"], "invalid_credentials");

    for skewed in [now() - 400, now() + 400] {
        let (status, error) = signed_exchange(&client, skewed, "as_test_sandbox_hmac_secret").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error["error"]["code"], "clock_skew");
    }
    let (status, _) = signed_exchange(&client, now() - 250, "as_test_sandbox_hmac_secret").await;
    assert_eq!(status, StatusCode::OK);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let (sandbox, client) = start(SandboxConfig {
        oauth_token_ttl: Duration::from_secs(1),
        ..config()
    })
    .await;
    let (_, token) = oauth_token(&client, FORM).await;
    assert_eq!(token["expires_in"], 1);
    let with_token = client.with_bearer(token["access_token"].as_str().unwrap());
    with_token.ok("/v1/account").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let expired = with_token.get("/v1/account").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.error_code(), "token_expired");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn revocation_answers_token_expired_and_a_new_token_works() {
    let (sandbox, client) = start(config()).await;
    sandbox.set_faults(Faults {
        revoke_token_every: Some(3),
        ..Faults::default()
    });
    let (_, token) = oauth_token(&client, FORM).await;
    let with_token = client.with_bearer(token["access_token"].as_str().unwrap());
    with_token.ok("/v1/orders?limit=1").await;
    with_token.ok("/v1/orders?limit=1").await;
    let revoked = with_token.get("/v1/orders?limit=1").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.error_code(), "token_expired");
    // Revoked for good, while the API key is never revoked.
    assert_eq!(
        with_token.get("/v1/orders?limit=1").await.error_code(),
        "token_expired"
    );
    for _ in 0..5 {
        client.with_bearer(API_KEY).ok("/v1/orders?limit=1").await;
    }
    let (_, fresh) = oauth_token(&client, FORM).await;
    client
        .with_bearer(fresh["access_token"].as_str().unwrap())
        .ok("/v1/orders?limit=1")
        .await;
    sandbox.shutdown().await;
}
