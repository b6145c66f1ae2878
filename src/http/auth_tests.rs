//! The token protocol: the cache, renewal, invalidation and one fetch at a time.

use super::*;

#[test]
fn signature_is_hex_hmac_sha256_over_timestamp_method_path_and_body() {
    // Reference value computed independently:
    // python3 -c 'import hmac,hashlib;print(hmac.new(b"s3cret",
    //   b"1700000000POST/v1/auth/token{\"grant_type\":\"client_credentials\"}",
    //   hashlib.sha256).hexdigest())'
    let signature = sign(
        &Secret::new("s3cret"),
        "1700000000",
        "POST",
        "/v1/auth/token",
        br#"{"grant_type":"client_credentials"}"#,
    );
    assert_eq!(
        signature,
        "cc5dc1813b3200a2a59dbd2dc71087382f7d3ecad99767cd538fe691128f1899"
    );
}

fn oauth() -> Authenticator {
    Authenticator::new(&Credentials::OAuth2 {
        client_id: "id".into(),
        client_secret: Secret::new("secret"),
        scope: None,
    })
}

/// The bearer of `auth`, counting in `fetches` the token requests made
/// and answering them with `token`, valid for `expires_in` seconds.
async fn bearer(
    auth: &Authenticator,
    fetches: &AtomicU64,
    token: &str,
    expires_in: u64,
) -> Result<Bearer> {
    auth.bearer(|request| async move {
        assert_eq!(request.path, "/v1/oauth/token");
        fetches.fetch_add(1, Ordering::SeqCst);
        Ok(TokenAnswer {
            access_token: Secret::new(token),
            expires_in: Some(expires_in.into()),
        })
    })
    .await
}

#[tokio::test]
async fn an_api_key_is_sent_as_is_without_a_token_request() {
    let auth = Authenticator::new(&Credentials::ApiKey {
        api_key: Secret::new("k"),
    });
    let bearer = auth
        .bearer(|_| async { panic!("an API key needs no token request") })
        .await
        .unwrap();
    assert_eq!(bearer.token.expose(), "k");
}

#[tokio::test]
async fn a_cached_token_is_reused_without_a_token_request() {
    let (auth, fetches) = (oauth(), AtomicU64::new(0));
    bearer(&auth, &fetches, "t1", 900).await.unwrap();
    let again = bearer(&auth, &fetches, "t2", 900).await.unwrap();
    assert_eq!(again.token.expose(), "t1");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let (auth, fetches) = (oauth(), AtomicU64::new(0));
    // 5 s lifetime, 5 s margin: due for renewal at once.
    bearer(&auth, &fetches, "t1", 5).await.unwrap();
    let renewed = bearer(&auth, &fetches, "t2", 3600).await.unwrap();
    assert_eq!(renewed.token.expose(), "t2");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_stale_invalidation_after_a_renewal_keeps_the_renewed_token() {
    let (auth, fetches) = (oauth(), AtomicU64::new(0));
    let first = bearer(&auth, &fetches, "t1", 900).await.unwrap();
    // Two requests carried t1 and both got 401: the first renews...
    auth.invalidate(first.generation).await;
    bearer(&auth, &fetches, "t2", 900).await.unwrap();
    // ...and the second's late invalidation must not discard t2.
    auth.invalidate(first.generation).await;
    let kept = bearer(&auth, &fetches, "t3", 900).await.unwrap();
    assert_eq!(kept.token.expose(), "t2");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_requests_wait_for_one_token_request() {
    let (auth, fetches) = (oauth(), AtomicU64::new(0));
    let (a, b, c) = tokio::join!(
        bearer(&auth, &fetches, "t1", 900),
        bearer(&auth, &fetches, "t2", 900),
        bearer(&auth, &fetches, "t3", 900),
    );
    let tokens = [a, b, c].map(|bearer| bearer.unwrap().token.expose().to_owned());
    assert_eq!(tokens, ["t1", "t1", "t1"]);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_token_request_caches_nothing() {
    let (auth, fetches) = (oauth(), AtomicU64::new(0));
    let failed = auth
        .bearer(|_| async { Err(crate::error::Error::transient("down")) })
        .await;
    assert_eq!(failed.err().unwrap().message(), "down");
    let next = bearer(&auth, &fetches, "t1", 900).await.unwrap();
    assert_eq!(next.token.expose(), "t1");
}

#[test]
fn rejected_credentials_name_their_fields() {
    let auth = Authenticator::new(&Credentials::ApiKey {
        api_key: Secret::new("k"),
    });
    assert_eq!(auth.credential_fields(), "credentials.api_key");
}

#[test]
fn token_lifetimes_are_clamped_whatever_number_the_api_sends() {
    let lifetime = |json: &str| token_lifetime(Some(&serde_json::from_str(json).unwrap()));
    assert_eq!(token_lifetime(None), DEFAULT_TOKEN_LIFETIME);
    assert_eq!(lifetime("900"), Duration::from_secs(900));
    assert_eq!(lifetime("18446744073709551615"), MAX_TOKEN_LIFETIME);
    assert_eq!(lifetime("1e300"), MAX_TOKEN_LIFETIME);
    assert_eq!(lifetime("-5"), Duration::from_secs(1));
    assert_eq!(lifetime("0"), Duration::from_secs(1));
    assert_eq!(lifetime("2.5"), Duration::from_secs_f64(2.5));
}

#[test]
fn a_token_is_known_to_the_scrubber_once_issued() {
    let answer: TokenAnswer =
        serde_json::from_str(r#"{"access_token":"tok-issued-9f3e","expires_in":-1}"#).unwrap();
    assert_eq!(answer.access_token.expose(), "tok-issued-9f3e");
    assert_eq!(
        crate::secrets::scrub("Bearer tok-issued-9f3e"),
        "Bearer ****"
    );
}

#[test]
fn a_token_with_a_newline_cannot_be_a_bearer() {
    assert!(sendable_as_bearer(&Secret::new("abc.def")));
    assert!(!sendable_as_bearer(&Secret::new("abc\ndef")));
    assert!(!sendable_as_bearer(&Secret::new("abc\r\nX-Injected: 1")));
}

#[tokio::test]
async fn an_api_key_with_a_newline_is_a_config_error() {
    let auth = Authenticator::new(&Credentials::ApiKey {
        api_key: Secret::new("key\n"),
    });
    let error = auth
        .bearer(|_| async { unreachable!("an API key needs no token request") })
        .await
        .err()
        .expect("the key is refused");
    assert_eq!(error.failure_type(), crate::error::FailureType::Config);
}
