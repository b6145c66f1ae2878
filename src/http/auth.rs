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
use crate::error::{Error, Result};

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
    /// Any JSON number: a server may send a negative, fractional or huge
    /// lifetime, which [`token_lifetime`] clamps instead of refusing.
    #[serde(default)]
    pub expires_in: Option<serde_json::Number>,
}

/// Whether `token` can travel in an `Authorization: Bearer` header: an
/// unusable value is a broken credential, not a network failure.
pub fn sendable_as_bearer(token: &Secret) -> bool {
    reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose())).is_ok()
}

/// The lifetime assumed when the token answer gives none.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// The longest lifetime believed: beyond it a token is renewed anyway, and
/// `Instant + lifetime` cannot overflow.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How long a token lives, from the `expires_in` the API sent: missing is
/// the default, zero, negative or not finite is 1 s (renew at once), more
/// than a day is a day.
pub fn token_lifetime(expires_in: Option<&serde_json::Number>) -> Duration {
    let Some(number) = expires_in else {
        return DEFAULT_TOKEN_LIFETIME;
    };
    let seconds = number.as_f64().unwrap_or(0.0);
    if !seconds.is_finite() || seconds < 1.0 {
        return Duration::from_secs(1);
    }
    Duration::from_secs_f64(seconds.min(MAX_TOKEN_LIFETIME.as_secs_f64()))
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
                if !sendable_as_bearer(key) {
                    return Err(Error::config(
                        "credentials.api_key holds a character that cannot be sent in an HTTP header (a newline or another control character); copy the key again without it.",
                    ));
                }
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
        if !sendable_as_bearer(&answer.access_token) {
            return Err(Error::system(
                "The API issued an access token that cannot be sent in an HTTP header (it holds a newline or another control character). The token endpoint broke its contract; report this to the API's maintainers.",
            ));
        }
        Ok(self.store(&mut token, answer))
    }

    /// Caches a freshly fetched token and returns it as a [`Bearer`].
    fn store(&self, slot: &mut Option<AccessToken>, answer: TokenAnswer) -> Bearer {
        let lifetime = token_lifetime(answer.expires_in.as_ref());
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
    /// was revoked; a newer token is kept. Whether this forgot it: `false`
    /// when another request's rejection already had (the token was shared).
    pub async fn invalidate(&self, generation: u64) -> bool {
        let mut token = self.token.lock().await;
        let current = token.as_ref().is_some_and(|t| t.generation == generation);
        if current {
            *token = None;
        }
        current
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
    let signature = hex::encode(mac.finalize().into_bytes());
    crate::secrets::register(&signature);
    signature
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
