//! The API client's events as Airbyte messages: LOG lines, and a
//! `STREAM_STATUS RUNNING` with reason `RATE_LIMITED` while a stream waits
//! out a 429 or a long pace for the API's bucket.

use std::time::{SystemTime, UNIX_EPOCH};

use super::emitter::Emitter;
use super::messages::{
    LogLevel, Message, StatusReason, StreamDescriptor, StreamStatus, StreamStatusTrace, TraceBody,
    TraceMessage,
};
use crate::http::{Answer, ClientEvent, ClientEvents, Reported};

/// Writes the client's events through an [`Emitter`].
pub struct AirbyteClientEvents {
    emitter: Emitter,
}

impl AirbyteClientEvents {
    pub fn new(emitter: Emitter) -> Self {
        AirbyteClientEvents { emitter }
    }

    async fn write(&self, event: ClientEvent<'_>) {
        let emitter = &self.emitter;
        match event {
            ClientEvent::RequestDone {
                stream,
                request,
                answer,
                took,
            } => {
                if !emitter.enabled(LogLevel::Debug) {
                    return;
                }
                let answer = match answer {
                    Answer::Status {
                        status,
                        bytes,
                        request_id,
                    } => format!(
                        "{status} ({bytes} bytes, X-Request-Id {})",
                        request_id.unwrap_or("-")
                    ),
                    Answer::Failed { summary } => summary,
                };
                let message = format!(
                    "{}{request} -> {answer} in {} ms",
                    prefix(stream),
                    took.as_millis()
                );
                emitter.log(LogLevel::Debug, message).await;
            }
            ClientEvent::Retrying {
                stream,
                request,
                failure,
                retry,
                max_retries,
                delay,
            } => {
                let message = format!(
                    "{}{request} failed ({failure}); retry {retry} of {max_retries} in {:.1} s",
                    prefix(stream),
                    delay.as_secs_f64()
                );
                emitter.log(LogLevel::Warn, message).await;
            }
            ClientEvent::RateLimited {
                stream,
                request,
                wait,
                resets_at,
            } => {
                self.rate_limited(stream, resets_at).await;
                let message = format!(
                    "{}{request} was rate-limited (429); waiting {:.1} s as Retry-After asks",
                    prefix(stream),
                    wait.as_secs_f64()
                );
                emitter.log(LogLevel::Info, message).await;
            }
            ClientEvent::Paced {
                stream,
                request,
                wait,
                resets_at,
            } => {
                self.rate_limited(stream, resets_at).await;
                let message = format!(
                    "{}{request} waits {:.1} s for the API's rate limit (its bucket is low)",
                    prefix(stream),
                    wait.as_secs_f64()
                );
                emitter.log(LogLevel::Info, message).await;
            }
            ClientEvent::BreakerOpened { request, failures } => {
                let message = format!(
                    "{request} failed {failures} times in a row; holding its requests and probing it one at a time (circuit breaker open)"
                );
                emitter.log(LogLevel::Warn, message).await;
            }
            ClientEvent::TokenRejected { request } => {
                let message =
                    format!("{request}: the access token expired or was revoked; renewing it");
                emitter.log(LogLevel::Info, message).await;
            }
            ClientEvent::TokenRenewed => {
                emitter
                    .log(LogLevel::Debug, "fetched a new access token")
                    .await;
            }
        }
    }
}

impl AirbyteClientEvents {
    /// `STREAM_STATUS RUNNING` with `RATE_LIMITED` until `resets_at`, for a
    /// stream's request.
    async fn rate_limited(&self, stream: Option<&str>, resets_at: SystemTime) {
        let Some(name) = stream else { return };
        let reset_ms = resets_at.duration_since(UNIX_EPOCH).map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        });
        let status = Message::Trace {
            trace: TraceMessage::new(TraceBody::StreamStatus {
                stream_status: StreamStatusTrace {
                    stream_descriptor: StreamDescriptor { name },
                    status: StreamStatus::Running,
                    reasons: vec![StatusReason::rate_limited(Some(reset_ms))],
                },
            }),
        };
        self.emitter.message(&status).await;
    }
}

impl ClientEvents for AirbyteClientEvents {
    fn report<'a>(&'a self, event: ClientEvent<'a>) -> Reported<'a> {
        Box::pin(self.write(event))
    }
}

/// `orders: ` in front of a message about a stream's request.
fn prefix(stream: Option<&str>) -> String {
    stream.map(|s| format!("{s}: ")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::protocol::Captured;

    /// The messages `events` become at log `level`, parsed.
    async fn written(level: LogLevel, events: Vec<ClientEvent<'_>>) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let (emitter, handle) = Emitter::start(captured.clone(), Vec::new(), level);
        let sink = AirbyteClientEvents::new(emitter);
        for event in events {
            sink.report(event).await;
        }
        drop(sink);
        handle.finish().unwrap();
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    fn log(level: &str, message: &str) -> serde_json::Value {
        serde_json::json!({"type": "LOG", "log": {"level": level, "message": message}})
    }

    #[tokio::test]
    async fn a_429_on_a_stream_reports_it_rate_limited_then_logs_the_wait() {
        let resets_at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let lines = written(
            LogLevel::Info,
            vec![ClientEvent::RateLimited {
                stream: Some("orders"),
                request: "GET /v1/orders",
                wait: Duration::from_millis(2500),
                resets_at,
            }],
        )
        .await;
        assert_eq!(lines.len(), 2, "{lines:?}");
        let status = &lines[0]["trace"]["stream_status"];
        assert_eq!(lines[0]["trace"]["type"], "STREAM_STATUS");
        assert_eq!(status["stream_descriptor"]["name"], "orders");
        assert_eq!(status["status"], "RUNNING");
        assert_eq!(
            status["reasons"],
            serde_json::json!([{"type": "RATE_LIMITED", "rate_limited": {"quota_reset": 1_700_000_000_123_i64}}])
        );
        assert_eq!(
            lines[1],
            log(
                "INFO",
                "orders: GET /v1/orders was rate-limited (429); waiting 2.5 s as Retry-After asks"
            )
        );
    }

    #[tokio::test]
    async fn a_long_pace_on_a_stream_reports_it_rate_limited_until_the_quota_resets() {
        let resets_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_004);
        let lines = written(
            LogLevel::Info,
            vec![ClientEvent::Paced {
                stream: Some("orders"),
                request: "GET /v1/orders",
                wait: Duration::from_millis(1500),
                resets_at,
            }],
        )
        .await;
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0]["trace"]["stream_status"]["reasons"],
            serde_json::json!([{"type": "RATE_LIMITED", "rate_limited": {"quota_reset": 1_700_000_004_000_i64}}])
        );
        assert_eq!(
            lines[1],
            log(
                "INFO",
                "orders: GET /v1/orders waits 1.5 s for the API's rate limit (its bucket is low)"
            )
        );
    }

    #[tokio::test]
    async fn a_429_outside_a_stream_is_only_logged() {
        let lines = written(
            LogLevel::Info,
            vec![ClientEvent::RateLimited {
                stream: None,
                request: "GET /v1/account",
                wait: Duration::from_secs(1),
                resets_at: SystemTime::now(),
            }],
        )
        .await;
        assert_eq!(
            lines,
            [log(
                "INFO",
                "GET /v1/account was rate-limited (429); waiting 1.0 s as Retry-After asks"
            )]
        );
    }

    fn request_done() -> ClientEvent<'static> {
        ClientEvent::RequestDone {
            stream: Some("orders"),
            request: "GET /v1/orders",
            answer: Answer::Status {
                status: 200,
                bytes: 1234,
                request_id: Some("req-1"),
            },
            took: Duration::from_millis(42),
        }
    }

    #[tokio::test]
    async fn each_request_is_logged_at_debug_only() {
        assert!(
            written(LogLevel::Info, vec![request_done()])
                .await
                .is_empty()
        );
        let lines = written(LogLevel::Debug, vec![request_done()]).await;
        assert_eq!(
            lines,
            [log(
                "DEBUG",
                "orders: GET /v1/orders -> 200 (1234 bytes, X-Request-Id req-1) in 42 ms"
            )]
        );
    }

    #[tokio::test]
    async fn a_retry_is_a_warning_naming_the_failure_and_the_delay() {
        let lines = written(
            LogLevel::Info,
            vec![ClientEvent::Retrying {
                stream: Some("orders"),
                request: "GET /v1/orders",
                failure: "GET /v1/orders: 503 unavailable",
                retry: 2,
                max_retries: 5,
                delay: Duration::from_millis(1500),
            }],
        )
        .await;
        assert_eq!(
            lines,
            [log(
                "WARN",
                "orders: GET /v1/orders failed (GET /v1/orders: 503 unavailable); retry 2 of 5 in 1.5 s"
            )]
        );
    }

    #[tokio::test]
    async fn the_breaker_opening_and_token_renewals_are_logged() {
        let lines = written(
            LogLevel::Debug,
            vec![
                ClientEvent::BreakerOpened {
                    request: "GET /v1/orders",
                    failures: 6,
                },
                ClientEvent::TokenRejected {
                    request: "GET /v1/orders",
                },
                ClientEvent::TokenRenewed,
            ],
        )
        .await;
        assert_eq!(
            lines,
            [
                log(
                    "WARN",
                    "GET /v1/orders failed 6 times in a row; holding its requests and probing it one at a time (circuit breaker open)"
                ),
                log(
                    "INFO",
                    "GET /v1/orders: the access token expired or was revoked; renewing it"
                ),
                log("DEBUG", "fetched a new access token"),
            ]
        );
    }
}
