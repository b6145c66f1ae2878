//! Reading a page-numbered list sorted by id with no time filter: products.
//!
//! Full refresh emits every product and checkpoints its page position, so a
//! sync that was interrupted resumes there (resumable full refresh; `{}`
//! once complete). Incremental reads every page too, since the API cannot
//! list only changed products, but emits only products updated in
//! `(cursor, upper]`; `upper` is fixed when the sync starts, and a product
//! updated later arrives with the next sync. Mid-walk checkpoints keep the
//! old cursor, the page position, `upper` and the newest cursor emitted, so
//! a resumed walk filters exactly the same window.

use chrono::{DateTime, Utc};

use super::keys::RecordKeys;
use super::page_numbers::{PageWalk, Position};
use super::stream::{Pages, Sink, StreamRun};
use crate::error::Result;
use crate::protocol::SyncMode;
use crate::state::{Resume, StreamState};

/// Reads every page of the stream, emitting and checkpointing through its sink.
pub async fn read<P: Pages, K: Sink>(run: &StreamRun<P, K>) -> Result<()> {
    let input = run.state.clone().unwrap_or_default();
    let incremental = run.mode == SyncMode::Incremental;
    // Only a position saved in the same mode may be resumed (incremental
    // checkpoints carry `upper`, full refresh ones do not): a full refresh
    // that skipped pages an incremental sync had filtered would lose
    // products, and the other way round would skip changed ones.
    let resume = input
        .resume
        .as_ref()
        .filter(|r| r.upper.is_some() == incremental);
    if input.resume.is_some() && resume.is_none() {
        run.log(
            crate::protocol::LogLevel::Info,
            "the state holds a position saved by the other sync mode; reading from the first page",
        )
        .await;
    }
    let cursor = if incremental { input.cursor } else { None };
    let upper = resume
        .and_then(|r| r.upper)
        .filter(|_| incremental)
        .unwrap_or(run.settings.upper);
    let mut high_water = resume.and_then(|r| r.high_water).filter(|_| incremental);
    let position = resume
        .and_then(Position::from_resume)
        .unwrap_or_else(Position::start);
    if position.page > 1 {
        run.log(
            crate::protocol::LogLevel::Info,
            format!("resuming an interrupted walk at page {}", position.page),
        )
        .await;
    }

    let skipped = u64::from(position.page - 1) * u64::from(run.page_size());
    let mut pages = PageWalk::new(position);
    let request = |page: u32| {
        run.list_request()
            .param("page", page)
            .param("limit", run.page_size())
    };
    let keep = |keys: &RecordKeys<'_>| {
        run.wanted(keys.cursor)
            && (!incremental || (cursor.is_none_or(|c| keys.cursor > c) && keys.cursor <= upper))
    };
    let _permit = run.pages.permit().await?;
    let mut first = true;
    let mut since_checkpoint = 0u64;
    while let Some(page) = pages.next(run, request, keep).await? {
        if first {
            first = false;
            // X-Total-Count counts every product: the records still to come
            // in a full refresh, but not how many changed since the cursor.
            let estimate = page
                .total
                .filter(|_| !incremental)
                .map(|total| total.saturating_sub(skipped));
            run.sink.started_reading(estimate).await;
        }
        high_water = high_water.max(page.newest);
        since_checkpoint += page.read;
        if !page.batch.is_empty() {
            run.sink.records(page.batch).await;
        }
        if since_checkpoint >= run.settings.checkpoint_interval.get() && pages.position().page > 1 {
            since_checkpoint = 0;
            let mut state = checkpoint(cursor, pages.position(), incremental, upper, high_water);
            if run.hashes_primary_key() {
                // The last id is compared in order, so only the clear id
                // would do, and a clear key must not reach the state.
                // Without it a resumed walk skips nothing: products past
                // the checkpoint may come again, none is lost.
                if let Some(resume) = state.resume.as_mut() {
                    resume.last_id = None;
                }
            }
            run.sink.state(state).await;
        }
    }
    if first {
        run.sink.started_reading(Some(0)).await;
    }
    let last = StreamState {
        cursor: if incremental {
            cursor.max(high_water)
        } else {
            None
        },
        ..StreamState::default()
    };
    run.sink.state(last).await;
    Ok(())
}

fn checkpoint(
    cursor: Option<DateTime<Utc>>,
    position: &Position,
    incremental: bool,
    upper: DateTime<Utc>,
    high_water: Option<DateTime<Utc>>,
) -> StreamState {
    StreamState {
        cursor,
        resume: Some(Resume {
            page: Some(position.page),
            last_id: position.last_id.clone(),
            total: position.total,
            upper: incremental.then_some(upper),
            high_water: if incremental { high_water } else { None },
            after: None,
        }),
        ..StreamState::default()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use serde_json::json;

    use super::*;
    use crate::read::test_support::{Sent, numbered_page, scripted, settings, t};
    use crate::streams::PRODUCTS;

    const AT: &str = "2024-01-01T10:00:00Z";

    #[tokio::test]
    async fn a_full_refresh_emits_every_page_then_an_empty_state() {
        let run = scripted(
            &PRODUCTS,
            SyncMode::FullRefresh,
            None,
            settings(),
            vec![
                numbered_page(&PRODUCTS, &[("p1", AT), ("p2", AT)], true, Some(3)),
                numbered_page(&PRODUCTS, &[("p3", AT)], false, Some(3)),
            ],
        );
        read(&run).await.unwrap();
        let sent = run.sink.sent();
        assert_eq!(sent[0], Sent::Started(Some(3)));
        assert_eq!(run.sink.ids("id"), ["p1", "p2", "p3"]);
        assert_eq!(run.sink.states(), [json!({})]);
    }

    #[tokio::test]
    async fn an_empty_list_reports_running_and_ends_with_a_state() {
        let run = scripted(
            &PRODUCTS,
            SyncMode::FullRefresh,
            None,
            settings(),
            vec![numbered_page(&PRODUCTS, &[], false, Some(0))],
        );
        read(&run).await.unwrap();
        assert_eq!(
            run.sink.sent(),
            [Sent::Started(Some(0)), Sent::State(json!({}))]
        );
    }

    #[tokio::test]
    async fn a_checkpoint_after_the_interval_holds_the_next_page_position() {
        let mut settings = settings();
        settings.checkpoint_interval = NonZeroU64::new(2).unwrap();
        let run = scripted(
            &PRODUCTS,
            SyncMode::FullRefresh,
            None,
            settings,
            vec![
                numbered_page(&PRODUCTS, &[("p1", AT), ("p2", AT)], true, Some(3)),
                numbered_page(&PRODUCTS, &[("p3", AT)], false, Some(3)),
            ],
        );
        read(&run).await.unwrap();
        let sent = run.sink.sent();
        assert!(matches!(&sent[1], Sent::Records(r) if r.len() == 2));
        assert_eq!(
            sent[2],
            Sent::State(json!({"resume": {"page": 2, "last_id": "p2", "total": 3}}))
        );
        assert_eq!(run.sink.states().last(), Some(&json!({})));
    }

    #[tokio::test]
    async fn with_a_hashed_id_a_checkpoint_keeps_no_clear_id() {
        let mut settings = settings();
        settings.checkpoint_interval = NonZeroU64::new(2).unwrap();
        let policy = crate::read::test_support::hashed_key_policy(&PRODUCTS);
        let run = scripted(
            &PRODUCTS,
            SyncMode::FullRefresh,
            None,
            settings,
            vec![
                numbered_page(&PRODUCTS, &[("p1", AT), ("p2", AT)], true, Some(3)),
                numbered_page(&PRODUCTS, &[("p3", AT)], false, Some(3)),
            ],
        )
        .with_policy(Some(policy.clone()));
        read(&run).await.unwrap();
        let sent = run.sink.sent();
        assert_eq!(
            sent[2],
            Sent::State(json!({"resume": {"page": 2, "total": 3}}))
        );
        let ids: Vec<String> = ["p1", "p2", "p3"]
            .iter()
            .map(|id| policy.record_key(id).into_owned())
            .collect();
        assert_eq!(run.sink.ids("id"), ids);
    }

    #[tokio::test]
    async fn a_saved_position_resumes_at_its_page_and_estimates_what_is_left() {
        let state = StreamState {
            cursor: None,
            resume: Some(Resume {
                page: Some(2),
                last_id: Some("p2".into()),
                total: Some(3),
                ..Resume::default()
            }),
            ..StreamState::default()
        };
        let run = scripted(
            &PRODUCTS,
            SyncMode::FullRefresh,
            Some(state),
            settings(),
            vec![numbered_page(&PRODUCTS, &[("p3", AT)], false, Some(3))],
        );
        read(&run).await.unwrap();
        assert_eq!(run.pages.param("page"), ["2"]);
        assert!(run.sink.sent().contains(&Sent::Started(Some(1))));
        assert_eq!(run.sink.ids("id"), ["p3"]);
    }

    #[tokio::test]
    async fn incremental_emits_only_products_changed_after_the_cursor_up_to_upper() {
        let state = StreamState {
            cursor: Some(t("2024-01-01T09:00:00Z")),
            ..StreamState::default()
        };
        let run = scripted(
            &PRODUCTS,
            SyncMode::Incremental,
            Some(state),
            settings(),
            vec![numbered_page(
                &PRODUCTS,
                &[
                    ("old", "2024-01-01T09:00:00Z"),
                    ("new", "2024-01-01T10:00:00Z"),
                    ("later", "2024-01-01T12:00:01Z"),
                ],
                false,
                Some(3),
            )],
        );
        read(&run).await.unwrap();
        assert_eq!(run.sink.ids("id"), ["new"]);
        // X-Total-Count counts every product, not the changed ones.
        assert!(run.sink.sent().contains(&Sent::Started(None)));
        assert_eq!(
            run.sink.states(),
            [json!({"cursor": "2024-01-01T10:00:00Z"})]
        );
    }
}
