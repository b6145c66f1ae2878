//! The three ways to authenticate, behind one type.
//!
//! An API key is sent as is. The two token flows (OAuth client credentials and
//! the signed token exchange) fetch a short-lived access token, cache it, and
//! renew it shortly before it expires or when the API says it was revoked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{Credentials, Secret};

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
pub struct AccessToken {
    token: Secret,
    renew_at: Instant,
    generation: u64,
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
            } => Method::OAuth {
                client_id,
                client_secret,
                scope: scope.filter(|s| !s.trim().is_empty()),
            },
            Credentials::SignedToken { key_id, api_secret } => {
                Method::Signed { key_id, api_secret }
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
            Method::OAuth { .. } => "credentials.client_id and credentials.client_secret",
            Method::Signed { .. } => "credentials.key_id and credentials.api_secret",
        }
    }

    /// What kind of credential this is, for messages.
    pub fn describe(&self) -> &'static str {
        match self.method {
            Method::ApiKey(_) => "the API key",
            Method::OAuth { .. } => "the OAuth client credentials",
            Method::Signed { .. } => "the signing key",
        }
    }

    /// The bearer token to send now, if one is at hand without a request.
    /// `None` means [`Authenticator::token_request`] must be fetched first.
    pub async fn cached(&self) -> Option<Bearer> {
        if let Method::ApiKey(key) = &self.method {
            return Some(Bearer {
                token: key.clone(),
                generation: 0,
            });
        }
        let token = self.token.lock().await;
        token
            .as_ref()
            .filter(|t| Instant::now() < t.renew_at)
            .map(|t| Bearer {
                token: t.token.clone(),
                generation: t.generation,
            })
    }

    /// Serializes token fetches: the caller holds this while it fetches, so
    /// concurrent requests wait for one fetch instead of starting their own.
    pub async fn lock_for_fetch(&self) -> tokio::sync::MutexGuard<'_, Option<AccessToken>> {
        self.token.lock().await
    }

    /// Stores a freshly fetched token (through the guard of
    /// [`Authenticator::lock_for_fetch`]) and returns it as a [`Bearer`].
    pub fn store(
        &self,
        guard: &mut tokio::sync::MutexGuard<'_, Option<AccessToken>>,
        answer: TokenAnswer,
    ) -> Bearer {
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300).max(1));
        // Renew early: 10% of the lifetime, at least 5 s and at most 60 s, so
        // that a page request never starts with a token about to lapse.
        let margin = (lifetime / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
        let generation = self.fetched.fetch_add(1, Ordering::Relaxed) + 1;
        let bearer = Bearer {
            token: answer.access_token.clone(),
            generation,
        };
        **guard = Some(AccessToken {
            token: answer.access_token,
            renew_at: Instant::now() + lifetime.saturating_sub(margin),
            generation,
        });
        bearer
    }

    /// If the guarded token is still valid (another task renewed it while we
    /// waited for the lock), returns it.
    pub fn still_valid(guard: &tokio::sync::MutexGuard<'_, Option<AccessToken>>) -> Option<Bearer> {
        guard
            .as_ref()
            .filter(|t| Instant::now() < t.renew_at)
            .map(|t| Bearer {
                token: t.token.clone(),
                generation: t.generation,
            })
    }

    /// Forgets the token of `generation` after the API said it expired or
    /// was revoked; a newer token is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut token = self.token.lock().await;
        if token.as_ref().is_some_and(|t| t.generation == generation) {
            *token = None;
        }
    }

    /// The token request of the token flows; `None` for an API key.
    pub fn token_request(&self) -> Option<TokenRequest> {
        match &self.method {
            Method::ApiKey(_) => None,
            Method::OAuth {
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
                Some(TokenRequest {
                    path: "/v1/oauth/token",
                    build: Box::new(move |request| request.form(&form)),
                })
            }
            Method::Signed { key_id, api_secret } => {
                let key_id = key_id.clone();
                let api_secret = api_secret.clone();
                Some(TokenRequest {
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
                })
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

    #[tokio::test]
    async fn a_token_is_renewed_before_it_expires() {
        let auth = Authenticator::new(&Credentials::OAuth2 {
            client_id: "id".into(),
            client_secret: Secret::new("secret"),
            scope: None,
        });
        {
            let mut guard = auth.lock_for_fetch().await;
            // 5 s lifetime, 5 s margin: due for renewal at once.
            auth.store(
                &mut guard,
                TokenAnswer {
                    access_token: Secret::new("t1"),
                    expires_in: Some(5),
                },
            );
        }
        assert!(auth.cached().await.is_none());
        {
            let mut guard = auth.lock_for_fetch().await;
            auth.store(
                &mut guard,
                TokenAnswer {
                    access_token: Secret::new("t2"),
                    expires_in: Some(3600),
                },
            );
        }
        assert_eq!(auth.cached().await.unwrap().token.expose(), "t2");
    }

    #[tokio::test]
    async fn invalidating_an_old_generation_keeps_the_newer_token() {
        let auth = Authenticator::new(&Credentials::SignedToken {
            key_id: Secret::new("k"),
            api_secret: Secret::new("s"),
        });
        let first = {
            let mut guard = auth.lock_for_fetch().await;
            auth.store(
                &mut guard,
                TokenAnswer {
                    access_token: Secret::new("t1"),
                    expires_in: Some(900),
                },
            )
        };
        {
            let mut guard = auth.lock_for_fetch().await;
            auth.store(
                &mut guard,
                TokenAnswer {
                    access_token: Secret::new("t2"),
                    expires_in: Some(900),
                },
            );
        }
        auth.invalidate(first.generation).await;
        assert_eq!(auth.cached().await.unwrap().token.expose(), "t2");
    }

    #[tokio::test]
    async fn a_stale_invalidation_after_a_renewal_keeps_the_renewed_token() {
        let auth = Authenticator::new(&Credentials::OAuth2 {
            client_id: "id".into(),
            client_secret: Secret::new("secret"),
            scope: None,
        });
        let answer = |token: &str| TokenAnswer {
            access_token: Secret::new(token),
            expires_in: Some(900),
        };
        let first = auth.store(&mut auth.lock_for_fetch().await, answer("t1"));
        // Two requests carried t1 and both got 401: the first renews...
        auth.invalidate(first.generation).await;
        auth.store(&mut auth.lock_for_fetch().await, answer("t2"));
        // ...and the second's late invalidation must not discard t2.
        auth.invalidate(first.generation).await;
        assert_eq!(auth.cached().await.unwrap().token.expose(), "t2");
    }

    #[test]
    fn rejected_credentials_name_their_fields() {
        let auth = Authenticator::new(&Credentials::ApiKey {
            api_key: Secret::new("k"),
        });
        assert_eq!(auth.credential_fields(), "credentials.api_key");
    }
}
