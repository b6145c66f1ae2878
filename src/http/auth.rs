//! The three ways to authenticate, behind one type.
//!
//! An API key is sent as is. The two token flows (OAuth client credentials and
//! the signed token exchange) fetch a short-lived access token, cache it, and
//! renew it shortly before it expires or when the API says it was revoked.
//! This module owns that protocol (the cache, the lock that lets one request
//! fetch while the others wait, when to fetch); the client only lends it a
//! way to send the token request.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{Credentials, Secret};
use crate::error::Result;

/// Credentials plus the cached access token of the token flows.
pub struct Authenticator {
    method: Method,
    token: Mutex<Option<AccessToken>>,
    /// Tokens fetched so far. Only grows, so that a token fetched after an
    /// invalidation never shares the generation of the one it replaced.
    fetched: AtomicU64,
}

enum Method {
    ApiKey(Secret),
    Token(TokenFlow),
}

/// The flows that exchange credentials for an access token.
enum TokenFlow {
    OAuth {
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
    Signed {
        key_id: Secret,
        api_secret: Secret,
    },
}

/// A bearer token, and which fetch produced it (so that a renewal triggered
/// by an old token does not throw away a newer one).
#[derive(Clone)]
pub struct Bearer {
    pub token: Secret,
    pub generation: u64,
}

/// A cached access token and when to renew it.
struct AccessToken {
    token: Secret,
    renew_at: Instant,
    generation: u64,
}

impl AccessToken {
    /// The token as a [`Bearer`], unless it is due for renewal.
    fn valid(&self) -> Option<Bearer> {
        (Instant::now() < self.renew_at).then(|| Bearer {
            token: self.token.clone(),
            generation: self.generation,
        })
    }
}

/// The answer of both token endpoints.
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: Secret,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// How to ask for a token: the request the client must send.
pub struct TokenRequest {
    pub path: &'static str,
    pub build: Box<dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync>,
}

impl Authenticator {
    pub fn new(credentials: &Credentials) -> Self {
        let method = match credentials.clone() {
            Credentials::ApiKey { api_key } => Method::ApiKey(api_key),
            Credentials::OAuth2 {
                client_id,
                client_secret,
                scope,
            } => Method::Token(TokenFlow::OAuth {
                client_id,
                client_secret,
                scope: scope.filter(|s| !s.trim().is_empty()),
            }),
            Credentials::SignedToken { key_id, api_secret } => {
                Method::Token(TokenFlow::Signed { key_id, api_secret })
            }
        };
        Authenticator {
            method,
            token: Mutex::new(None),
            fetched: AtomicU64::new(0),
        }
    }

    /// The config fields to name when the API rejects these credentials.
    pub fn credential_fields(&self) -> &'static str {
        match self.method {
            Method::ApiKey(_) => "credentials.api_key",
            Method::Token(TokenFlow::OAuth { .. }) => {
                "credentials.client_id and credentials.client_secret"
            }
            Method::Token(TokenFlow::Signed { .. }) => {
                "credentials.key_id and credentials.api_secret"
            }
        }
    }

    /// What kind of credential this is, for messages.
    pub fn describe(&self) -> &'static str {
        match self.method {
            Method::ApiKey(_) => "the API key",
            Method::Token(TokenFlow::OAuth { .. }) => "the OAuth client credentials",
            Method::Token(TokenFlow::Signed { .. }) => "the signing key",
        }
    }

    /// The bearer token to send now. The token flows fetch one with
    /// `fetch` when none is cached or the cached one is due for renewal;
    /// concurrent callers wait for that one fetch instead of starting their
    /// own, and a fetch that fails leaves the cache empty.
    pub async fn bearer<F, Fut>(&self, fetch: F) -> Result<Bearer>
    where
        F: FnOnce(TokenRequest) -> Fut,
        Fut: Future<Output = Result<TokenAnswer>>,
    {
        let flow = match &self.method {
            Method::ApiKey(key) => {
                return Ok(Bearer {
                    token: key.clone(),
                    generation: 0,
                });
            }
            Method::Token(flow) => flow,
        };
        // Held across the fetch: that is what serializes fetches.
        let mut token = self.token.lock().await;
        if let Some(bearer) = token.as_ref().and_then(AccessToken::valid) {
            return Ok(bearer);
        }
        let answer = fetch(flow.token_request()).await?;
        Ok(self.store(&mut token, answer))
    }

    /// Caches a freshly fetched token and returns it as a [`Bearer`].
    fn store(&self, slot: &mut Option<AccessToken>, answer: TokenAnswer) -> Bearer {
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300).max(1));
        // Renew early: 10% of the lifetime, at least 5 s and at most 60 s, so
        // that a page request never starts with a token about to lapse.
        let margin = (lifetime / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
        let generation = self.fetched.fetch_add(1, Ordering::Relaxed) + 1;
        let bearer = Bearer {
            token: answer.access_token.clone(),
            generation,
        };
        *slot = Some(AccessToken {
            token: answer.access_token,
            renew_at: Instant::now() + lifetime.saturating_sub(margin),
            generation,
        });
        bearer
    }

    /// Forgets the token of `generation` after the API said it expired or
    /// was revoked; a newer token is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut token = self.token.lock().await;
        if token.as_ref().is_some_and(|t| t.generation == generation) {
            *token = None;
        }
    }
}

impl TokenFlow {
    /// The request that fetches a token.
    fn token_request(&self) -> TokenRequest {
        match self {
            TokenFlow::OAuth {
                client_id,
                client_secret,
                scope,
            } => {
                let mut form = vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.expose().to_owned()),
                ];
                if let Some(scope) = scope {
                    form.push(("scope", scope.clone()));
                }
                TokenRequest {
                    path: "/v1/oauth/token",
                    build: Box::new(move |request| request.form(&form)),
                }
            }
            TokenFlow::Signed { key_id, api_secret } => {
                let key_id = key_id.clone();
                let api_secret = api_secret.clone();
                TokenRequest {
                    path: "/v1/auth/token",
                    build: Box::new(move |request| {
                        let body = br#"{"grant_type":"client_credentials"}"#;
                        let timestamp = chrono::Utc::now().timestamp().to_string();
                        let signature =
                            sign(&api_secret, &timestamp, "POST", "/v1/auth/token", body);
                        request
                            .header("API-Key", key_id.expose())
                            .header("API-Timestamp", timestamp)
                            .header("API-Signature", signature)
                            .header("Content-Type", "application/json")
                            .body(body.as_slice())
                    }),
                }
            }
        }
    }
}

/// The signature of the signed token exchange: hex HMAC-SHA256, keyed by the
/// API secret, over `timestamp + method + path + body`.
pub fn sign(secret: &Secret, timestamp: &str, method: &str, path: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(method.as_bytes());
    mac.update(path.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
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
                expires_in: Some(expires_in),
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
}
