//! Who is calling: API keys, OAuth client credentials, signed token exchange.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::Credentials;
use crate::crypto::{ct_eq, verify_hmac_sha256};
use crate::rng::{Purpose, Rng};
use crate::stream::Stream;

/// Largest accepted distance between `API-Timestamp` and the server clock.
pub(crate) const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Path signed in the token exchange.
pub(crate) const SIGNED_EXCHANGE_PATH: &str = "/v1/auth/token";

/// Why a caller was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("{0}")]
    InvalidCredentials(&'static str),
    #[error("the access token has expired or was revoked; fetch a new one")]
    TokenExpired,
    #[error("API-Timestamp is more than 300 s away from the server clock ({0} s)")]
    ClockSkew(i64),
    #[error("{0}")]
    InvalidParameter(String),
}

/// Which resources a credential may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scopes {
    /// No scope was requested: everything.
    All,
    /// Only the listed streams (plus account and custom field metadata).
    Only(Vec<Stream>),
}

impl Scopes {
    /// Parses an OAuth `scope` parameter (space-separated `<stream>:read`).
    pub(crate) fn parse(scope: Option<&str>) -> Result<Scopes, AuthError> {
        let Some(scope) = scope.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Scopes::All);
        };
        scope
            .split_ascii_whitespace()
            .map(|s| {
                Stream::ALL
                    .into_iter()
                    .find(|stream| stream.scope() == s)
                    .ok_or_else(|| AuthError::InvalidParameter(format!("unknown scope {s:?}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Scopes::Only)
    }

    /// Whether the stream's list endpoint may be read.
    pub(crate) fn allows(&self, stream: Stream) -> bool {
        match self {
            Scopes::All => true,
            Scopes::Only(streams) => streams.contains(&stream),
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The credential whose rate-limit bucket the request draws from.
    pub bucket: String,
    pub scopes: Scopes,
    /// The access token used, for token-based callers (revocable).
    pub token: Option<String>,
}

/// A freshly issued access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issued {
    pub access_token: String,
    pub expires_in: u64,
}

/// A signed token exchange request, as received.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignedRequest<'a> {
    pub key_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub method: &'a str,
    pub body: &'a [u8],
}

#[derive(Debug)]
struct TokenRecord {
    bucket: String,
    scopes: Scopes,
    expires_at: Instant,
    revoked: bool,
}

/// Credential checks and the tokens this server issued.
#[derive(Debug)]
pub(crate) struct Auth {
    credentials: Credentials,
    oauth_ttl: Duration,
    signed_ttl: Duration,
    tokens: Mutex<HashMap<String, TokenRecord>>,
    rng: Mutex<Rng>,
}

impl Auth {
    /// Auth for the given credentials; tokens are random but seeded.
    pub(crate) fn new(
        credentials: Credentials,
        seed: u64,
        oauth_ttl: Duration,
        signed_ttl: Duration,
    ) -> Auth {
        Auth {
            credentials,
            oauth_ttl,
            signed_ttl,
            tokens: Mutex::new(HashMap::new()),
            rng: Mutex::new(Rng::keyed(seed, Purpose::Tokens, 0)),
        }
    }

    /// The accepted credentials.
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Checks an `Authorization` header: the API key or an issued token.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        now: Instant,
    ) -> Result<Principal, AuthError> {
        let bearer = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(AuthError::InvalidCredentials(
                "missing Authorization: Bearer header",
            ))?;
        if ct_eq(bearer.as_bytes(), self.credentials.api_key.as_bytes()) {
            return Ok(Principal {
                bucket: "api_key".to_owned(),
                scopes: Scopes::All,
                token: None,
            });
        }
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let record = tokens.get(bearer).ok_or(AuthError::InvalidCredentials(
            "unknown API key or access token",
        ))?;
        if record.revoked || now >= record.expires_at {
            return Err(AuthError::TokenExpired);
        }
        Ok(Principal {
            bucket: record.bucket.clone(),
            scopes: record.scopes.clone(),
            token: Some(bearer.to_owned()),
        })
    }

    /// Revokes an issued token early.
    pub(crate) fn revoke(&self, token: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(record) = tokens.get_mut(token) {
            record.revoked = true;
        }
    }

    /// OAuth 2.0 client credentials grant: form body, client authentication
    /// in HTTP Basic or in the form.
    pub(crate) fn issue_oauth(
        &self,
        form: &[u8],
        basic: Option<&str>,
        now: Instant,
    ) -> Result<Issued, AuthError> {
        let fields = parse_form(form)?;
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match field("grant_type") {
            Some("client_credentials") => {}
            Some(other) => {
                return Err(AuthError::InvalidParameter(format!(
                    "unsupported grant_type {other:?}"
                )));
            }
            None => return Err(AuthError::InvalidParameter("grant_type is required".into())),
        }
        let (id, secret) = match basic {
            Some(header) => decode_basic(header)?,
            None => (
                field("client_id").unwrap_or_default().to_owned(),
                field("client_secret").unwrap_or_default().to_owned(),
            ),
        };
        let c = &self.credentials;
        if !(ct_eq(id.as_bytes(), c.client_id.as_bytes())
            && ct_eq(secret.as_bytes(), c.client_secret.as_bytes()))
        {
            return Err(AuthError::InvalidCredentials(
                "unknown client_id or wrong client_secret",
            ));
        }
        let scopes = Scopes::parse(field("scope"))?;
        Ok(self.issue("oat_", format!("oauth:{id}"), scopes, self.oauth_ttl, now))
    }

    /// Signed token exchange: HMAC-SHA256 over `timestamp + method + path + body`.
    pub(crate) fn issue_signed(
        &self,
        request: &SignedRequest<'_>,
        now_unix: i64,
        now: Instant,
    ) -> Result<Issued, AuthError> {
        let c = &self.credentials;
        let key_id = request
            .key_id
            .ok_or(AuthError::InvalidCredentials("missing API-Key header"))?;
        if !ct_eq(key_id.as_bytes(), c.key_id.as_bytes()) {
            return Err(AuthError::InvalidCredentials("unknown API-Key"));
        }
        let timestamp = request.timestamp.ok_or(AuthError::InvalidCredentials(
            "missing API-Timestamp header",
        ))?;
        let ts: i64 = timestamp.trim().parse().map_err(|_| {
            AuthError::InvalidParameter("API-Timestamp must be unix seconds".into())
        })?;
        let skew = now_unix - ts;
        if skew.abs() > MAX_CLOCK_SKEW_SECS {
            return Err(AuthError::ClockSkew(skew));
        }
        let signature = request
            .signature
            .and_then(|s| hex::decode(s.trim()).ok())
            .ok_or(AuthError::InvalidCredentials(
                "missing or non-hex API-Signature header",
            ))?;
        let message: [&[u8]; 4] = [
            timestamp.as_bytes(),
            request.method.as_bytes(),
            SIGNED_EXCHANGE_PATH.as_bytes(),
            request.body,
        ];
        if signature.len() != 32
            || !verify_hmac_sha256(c.api_secret.as_bytes(), &message, &signature)
        {
            return Err(AuthError::InvalidCredentials(
                "API-Signature does not match",
            ));
        }
        let body: serde_json::Value = serde_json::from_slice(request.body)
            .map_err(|_| AuthError::InvalidParameter("body must be JSON".into()))?;
        if body.get("grant_type").and_then(|g| g.as_str()) != Some("client_credentials") {
            return Err(AuthError::InvalidParameter(
                "body must be {\"grant_type\":\"client_credentials\"}".into(),
            ));
        }
        Ok(self.issue(
            "sgt_",
            format!("signed:{key_id}"),
            Scopes::All,
            self.signed_ttl,
            now,
        ))
    }

    fn issue(
        &self,
        prefix: &str,
        bucket: String,
        scopes: Scopes,
        ttl: Duration,
        now: Instant,
    ) -> Issued {
        let access_token = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            format!("{prefix}{:016x}{:016x}", rng.next_u64(), rng.next_u64())
        };
        let record = TokenRecord {
            bucket,
            scopes,
            expires_at: now + ttl,
            revoked: false,
        };
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(access_token.clone(), record);
        Issued {
            access_token,
            expires_in: ttl.as_secs(),
        }
    }
}

/// `application/x-www-form-urlencoded` pairs; a repeated name is an error.
fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, AuthError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if fields.iter().any(|(seen, _)| *seen == k) {
            return Err(AuthError::InvalidParameter(format!("{k} is given twice")));
        }
        fields.push((k.into_owned(), v.into_owned()));
    }
    Ok(fields)
}

/// Client id and secret from `Authorization: Basic ...` (each form-url-encoded
/// before base64, RFC 6749 §2.3.1).
fn decode_basic(header: &str) -> Result<(String, String), AuthError> {
    const BAD: AuthError = AuthError::InvalidCredentials("malformed Authorization: Basic header");
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
        .ok_or(BAD)?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| BAD)?;
    let text = String::from_utf8(decoded).map_err(|_| BAD)?;
    let (id, secret) = text.split_once(':').ok_or(BAD)?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    Ok((unescape(id), unescape(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hmac_sha256;

    fn auth() -> Auth {
        Auth::new(
            Credentials::default(),
            42,
            Duration::from_secs(3600),
            Duration::from_secs(900),
        )
    }

    const FORM: &[u8] = b"grant_type=client_credentials&client_id=sandbox-client&client_secret=cs_test_sandbox_secret";

    #[test]
    fn the_api_key_authenticates_with_all_scopes() {
        let p = auth()
            .authenticate(Some("Bearer sk_test_sandbox_0123456789"), Instant::now())
            .unwrap();
        assert_eq!(
            (p.bucket.as_str(), p.scopes, p.token),
            ("api_key", Scopes::All, None)
        );
        assert_eq!(
            auth().authenticate(Some("Bearer nope"), Instant::now()),
            Err(AuthError::InvalidCredentials(
                "unknown API key or access token"
            ))
        );
        assert!(matches!(
            auth().authenticate(None, Instant::now()),
            Err(AuthError::InvalidCredentials(_))
        ));
    }

    #[test]
    fn oauth_tokens_work_until_they_expire_or_are_revoked() {
        let auth = auth();
        let now = Instant::now();
        let issued = auth.issue_oauth(FORM, None, now).unwrap();
        assert_eq!(issued.expires_in, 3600);
        let header = format!("Bearer {}", issued.access_token);
        assert!(auth.authenticate(Some(&header), now).is_ok());
        assert_eq!(
            auth.authenticate(Some(&header), now + Duration::from_secs(3600)),
            Err(AuthError::TokenExpired)
        );
        let other = auth.issue_oauth(FORM, None, now).unwrap();
        assert_ne!(other.access_token, issued.access_token);
        auth.revoke(&other.access_token);
        let header = format!("Bearer {}", other.access_token);
        assert_eq!(
            auth.authenticate(Some(&header), now),
            Err(AuthError::TokenExpired)
        );
    }

    #[test]
    fn oauth_accepts_http_basic_and_rejects_wrong_secrets() {
        let auth = auth();
        let basic = format!(
            "Basic {}",
            STANDARD.encode("sandbox-client:cs_test_sandbox_secret")
        );
        assert!(
            auth.issue_oauth(
                b"grant_type=client_credentials",
                Some(&basic),
                Instant::now()
            )
            .is_ok()
        );
        let wrong = format!("Basic {}", STANDARD.encode("sandbox-client:wrong"));
        assert!(matches!(
            auth.issue_oauth(
                b"grant_type=client_credentials",
                Some(&wrong),
                Instant::now()
            ),
            Err(AuthError::InvalidCredentials(_))
        ));
        assert!(matches!(
            auth.issue_oauth(b"client_id=sandbox-client", None, Instant::now()),
            Err(AuthError::InvalidParameter(_))
        ));
    }

    #[test]
    fn scoped_tokens_only_allow_their_streams() {
        let auth = auth();
        let form = [FORM, b"&scope=customers:read%20orders:read"].concat();
        let issued = auth.issue_oauth(&form, None, Instant::now()).unwrap();
        let p = auth
            .authenticate(
                Some(&format!("Bearer {}", issued.access_token)),
                Instant::now(),
            )
            .unwrap();
        assert!(p.scopes.allows(Stream::Customers) && p.scopes.allows(Stream::Orders));
        assert!(!p.scopes.allows(Stream::Products) && !p.scopes.allows(Stream::OrderEvents));
        let bad = [FORM, b"&scope=everything"].concat();
        assert!(matches!(
            auth.issue_oauth(&bad, None, Instant::now()),
            Err(AuthError::InvalidParameter(_))
        ));
    }

    fn signed<'a>(ts: &'a str, signature: &'a str, body: &'a [u8]) -> SignedRequest<'a> {
        SignedRequest {
            key_id: Some("key_test_sandbox"),
            timestamp: Some(ts),
            signature: Some(signature),
            method: "POST",
            body,
        }
    }

    fn sign(ts: &str, body: &[u8]) -> String {
        hex::encode(hmac_sha256(
            b"as_test_sandbox_hmac_secret",
            &[ts.as_bytes(), b"POST", b"/v1/auth/token", body],
        ))
    }

    #[test]
    fn signed_exchange_verifies_the_hmac_over_timestamp_method_path_and_body() {
        let auth = auth();
        let body = br#"{"grant_type":"client_credentials"}"#;
        let now = 1_700_000_000;
        let sig = sign("1700000000", body);
        let issued = auth
            .issue_signed(&signed("1700000000", &sig, body), now, Instant::now())
            .unwrap();
        assert_eq!(issued.expires_in, 900);
        assert!(issued.access_token.starts_with("sgt_"));
        // Any change to the signed material breaks the signature.
        let other_body = br#"{"grant_type": "client_credentials"}"#;
        assert!(matches!(
            auth.issue_signed(&signed("1700000000", &sig, other_body), now, Instant::now()),
            Err(AuthError::InvalidCredentials(_))
        ));
        assert!(matches!(
            auth.issue_signed(&signed("1700000001", &sig, body), now, Instant::now()),
            Err(AuthError::InvalidCredentials(_))
        ));
    }

    #[test]
    fn signed_exchange_rejects_clocks_more_than_300_seconds_off() {
        let auth = auth();
        let body = br#"{"grant_type":"client_credentials"}"#;
        let now = 1_700_000_000;
        for (ts, ok) in [
            ("1699999700", true),
            ("1700000300", true),
            ("1699999699", false),
            ("1700000301", false),
        ] {
            let result = auth.issue_signed(&signed(ts, &sign(ts, body), body), now, Instant::now());
            assert_eq!(result.is_ok(), ok, "{ts}");
            if !ok {
                assert!(matches!(result, Err(AuthError::ClockSkew(_))));
            }
        }
    }
}
