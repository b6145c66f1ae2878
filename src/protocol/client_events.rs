//! The API client's events as Airbyte messages: LOG lines, and a
//! `STREAM_STATUS RUNNING` with reason `RATE_LIMITED` while a stream waits
//! out a 429.

use std::time::UNIX_EPOCH;

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
                if let Some(name) = stream {
                    let reset_ms = resets_at
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |since| since.as_millis() as i64);
                    let status = Message::Trace {
                        trace: TraceMessage::new(TraceBody::StreamStatus {
                            stream_status: StreamStatusTrace {
                                stream_descriptor: StreamDescriptor { name },
                                status: StreamStatus::Running,
                                reasons: vec![StatusReason::rate_limited(Some(reset_ms))],
                            },
                        }),
                    };
                    emitter.message(&status).await;
                }
                let message = format!(
                    "{}{request} was rate-limited (429); waiting {:.1} s as Retry-After asks",
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

impl ClientEvents for AirbyteClientEvents {
    fn report<'a>(&'a self, event: ClientEvent<'a>) -> Reported<'a> {
        Box::pin(self.write(event))
    }
}

/// `orders: ` in front of a message about a stream's request.
fn prefix(stream: Option<&str>) -> String {
    stream.map(|s| format!("{s}: ")).unwrap_or_default()
}
