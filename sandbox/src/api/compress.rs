//! `Accept-Encoding: gzip`: the contract's compression of answer bodies.

use std::io::Write as _;

use axum::body::{Body, HttpBody as _};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use flate2::Compression;
use flate2::write::GzEncoder;

/// Whether an `Accept-Encoding` header value accepts gzip (`gzip` or `*`,
/// unless its quality is zero). Other encodings are ignored, as the contract
/// says.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// `response` with its body gzip-compressed and `Content-Length` the
/// compressed size. A body that is not in memory (a streamed, deliberately
/// cut-off answer) is left as it is.
pub(crate) async fn gzip(response: Response) -> Response {
    if response.headers().contains_key(header::CONTENT_ENCODING)
        || response.body().size_hint().exact().is_none()
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // An in-memory body: collecting it cannot fail.
    let plain = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    // The fast level: the sandbox shares two cores with its clients, and
    // list pages still shrink about 5x.
    let mut encoder = GzEncoder::new(Vec::with_capacity(plain.len() / 4), Compression::fast());
    let compressed = encoder
        .write_all(&plain)
        .and_then(|()| encoder.finish())
        .expect("writing into memory cannot fail");
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts
        .headers
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(compressed.len()));
    Response::from_parts(parts, Body::from(compressed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn gzip_is_accepted_by_name_or_wildcard_unless_its_quality_is_zero() {
        assert!(accepts_gzip(&accept("gzip")));
        assert!(accepts_gzip(&accept("br, GZIP;q=0.5")));
        assert!(accepts_gzip(&accept("*")));
        assert!(!accepts_gzip(&accept("gzip;q=0")));
        assert!(!accepts_gzip(&accept("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_compressed_body_inflates_to_the_original_and_states_its_size() {
        let plain = br#"{"data":[{"id":"ord_1"},{"id":"ord_2"}],"has_more":false}"#.repeat(50);
        let response = gzip(Response::new(Body::from(plain.clone()))).await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        let length: usize = response.headers()[header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let wire = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(wire.len(), length);
        assert!(wire.len() < plain.len() / 5, "{} bytes", wire.len());
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&wire[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, plain);
    }
}
