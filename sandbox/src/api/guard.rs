//! What every authenticated endpoint does around its handler: authenticate,
//! maybe revoke the token (fault), rate-limit, check scope and forbidden
//! streams, maybe inject a failure, then add the rate-limit headers.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::error::ApiError;
use super::truncate;
use crate::app::App;
use crate::auth::Scopes;
use crate::faults::{Plan, StatusFault};
use crate::ratelimit::Decision;
use crate::stream::Stream;

/// What an authenticated request reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    Account,
    CustomFields,
    List(Stream),
}

impl Resource {
    /// Data requests are the ones faults are injected into.
    fn is_data(self) -> bool {
        !matches!(self, Resource::Account)
    }
}

/// Runs `handler` for an authenticated request to `resource`, with all checks.
pub(crate) async fn serve<F>(
    app: &App,
    headers: &HeaderMap,
    resource: Resource,
    handler: F,
) -> Response
where
    F: FnOnce() -> Result<Response, ApiError>,
{
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = Instant::now();
    let principal = match app.auth.authenticate(authorization, now) {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(token) = &principal.token
        && app.faults.revoke_due()
    {
        app.auth.revoke(token);
        return ApiError::token_expired().into_response();
    }
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let rate = app.limiter.check(&principal.bucket, now, now_unix);
    let mut plan = Plan::default();
    let mut response = if !rate.allowed {
        let http_date = app.faults.current().retry_after_http_date;
        ApiError::rate_limited(retry_after(rate.retry_after_secs, http_date)).into_response()
    } else if let Err(e) = authorize(app, &principal.scopes, resource) {
        e.into_response()
    } else {
        if resource.is_data() {
            plan = app.faults.plan_data_request();
        }
        match plan.status {
            Some(fault) => fault_response(app, fault),
            None => handler().unwrap_or_else(IntoResponse::into_response),
        }
    };
    if let (StatusCode::OK, Some(mode)) = (response.status(), plan.truncate) {
        response = truncate::cut_off(response, mode).await;
    }
    if let Some(delay) = plan.delay {
        tokio::time::sleep(delay).await;
    }
    add_rate_headers(response.headers_mut(), &rate);
    response
}

/// Scope and forbidden-stream checks.
fn authorize(app: &App, scopes: &Scopes, resource: Resource) -> Result<(), ApiError> {
    if resource == Resource::CustomFields && app.faults.forbids("custom_fields") {
        return Err(ApiError::forbidden(
            "this account may not read custom fields".to_owned(),
        ));
    }
    let Resource::List(stream) = resource else {
        return Ok(());
    };
    if !scopes.allows(stream) {
        return Err(ApiError::forbidden(format!(
            "the credentials lack the scope {} for this resource",
            stream.scope()
        )));
    }
    if app.faults.forbids(stream.name()) {
        return Err(ApiError::forbidden(format!(
            "this account may not read {stream}"
        )));
    }
    Ok(())
}

/// The answer of an injected status fault.
fn fault_response(app: &App, fault: StatusFault) -> Response {
    match fault {
        StatusFault::TooManyRequests => {
            let faults = app.faults.current();
            ApiError::rate_limited(retry_after(
                faults.retry_after_seconds,
                faults.retry_after_http_date,
            ))
            .into_response()
        }
        StatusFault::Internal => ApiError::internal().into_response(),
        StatusFault::Unavailable => ApiError::unavailable().into_response(),
        StatusFault::BadGatewayHtml => (
            StatusCode::BAD_GATEWAY,
            Html(
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                 <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
                 </body>\r\n</html>\r\n",
            ),
        )
            .into_response(),
    }
}

/// A `Retry-After` value: seconds, or the HTTP date that many seconds from
/// now (rounded up to the next whole second so it is never early).
pub(crate) fn retry_after(secs: u64, http_date: bool) -> HeaderValue {
    if !http_date {
        return HeaderValue::from(secs);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = UNIX_EPOCH + Duration::from_secs(now.as_secs() + 1 + secs);
    HeaderValue::from_str(&httpdate::fmt_http_date(at)).expect("HTTP dates are valid header values")
}

fn add_rate_headers(headers: &mut HeaderMap, rate: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(rate.reset_unix));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_future_http_date() {
        assert_eq!(retry_after(3, false), "3");
        let date = retry_after(3, true);
        let at = httpdate::parse_http_date(date.to_str().unwrap()).unwrap();
        let ahead = at.duration_since(SystemTime::now()).unwrap();
        assert!(
            ahead > Duration::from_secs(2) && ahead <= Duration::from_secs(4),
            "{ahead:?}"
        );
    }
}
