//! One request-rate limiter for the whole process, shared by all streams.
//!
//! Two things slow requests down:
//! - the optional `requests_per_second` cap from the config, a strict GCRA
//!   limiter (`governor`) with a burst of one, so the cap holds over any
//!   window;
//! - the API's own bucket, which the limiter mirrors from `X-RateLimit-Limit`,
//!   `-Remaining` and `-Reset`: it believes the bucket holds what the last
//!   answer said, less the requests sent after that answer's request (the
//!   server had not counted them yet), plus what refilled since at the rate
//!   the headers prove. A request goes out when the belief holds a token, so
//!   the burst is spent at once and the refill rate is held without a 429;
//!   every answer corrects the belief. The server takes a request's token
//!   some time after it goes out, and the next request's likewise: while
//!   we are alone on the credential, the refill during the shortest round
//!   trip seen is credited to the belief ([`round_trip_credit`]). An answer is taken as counting only
//!   the requests that were answered before it was sent: a request let
//!   through but not yet sent, or one sent earlier that the server may have
//!   counted later (on another connection, under load), is taken from what
//!   the answer says is left. When the bucket empties faster than
//!   we spend (others on the same credential), a reserve of tokens is kept
//!   for their spending, so that our rate shrinks smoothly instead of
//!   provoking 429s. After a 429 every request waits until the
//!   `Retry-After` instant.
//!
//! The limiter only says how long a request would wait ([`RateLimiter::reserve`]),
//! or lets it through with a [`Ticket`] that follows the request until its
//! answer; the client decides whether a wait fits the request's time budget.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as Gcra};

/// The share of `requests_per_second` the limiter aims at.
const CAP_MARGIN: f64 = 0.97;

/// No wait the API's numbers imply is taken as longer than this (a year);
/// it keeps every instant and duration representable.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Others' spending is measured over at least this long: `Remaining` is
/// rounded to whole tokens, so shorter spans only measure the rounding.
const FOREIGN_SPAN: Duration = Duration::from_secs(1);

/// The reserve kept for others is what they spend in this long.
const FOREIGN_HORIZON: f64 = 0.5;

/// Requests that go out this much apart reach the server in the order they
/// went out: a request is only taken as possibly counted after one that went
/// out later than this after it (on another connection, under load) if it
/// was still unanswered when that one went out. Requests let through in one
/// burst go out microseconds apart; paced ones, a refill period apart.
const REORDER_SPAN: Duration = Duration::from_millis(20);

/// Requests followed at most; past it the oldest answered ones are
/// forgotten (a bound on memory only: pruning keeps far fewer).
const FLIGHTS_KEPT: usize = 4096;

/// See the module documentation.
pub struct RateLimiter {
    cap: Option<DefaultDirectRateLimiter>,
    server: Mutex<ServerBucket>,
}

#[derive(Debug, Default)]
struct ServerBucket {
    /// No request starts before this instant (after a 429).
    paused_until: Option<Instant>,
    /// The bucket size the refill estimate belongs to.
    limit: u64,
    /// The highest refill rate (tokens/s) the headers proved so far.
    refill: Option<f64>,
    /// The refill rate planned with: the proven one, or a guess before.
    rate: f64,
    /// When the API says its bucket is full again.
    full_at: Option<SystemTime>,
    /// The tokens we believe the bucket holds, at an instant.
    belief: Option<(f64, Instant)>,
    /// The requests let through that a later answer may not have counted,
    /// in the order they were let through.
    flights: VecDeque<Flight>,
    /// Requests let through in all; also the next ticket's id.
    admitted: u64,
    /// The start of the span over which others' spending is measured.
    anchor: Option<Anchor>,
    /// What others spend on the credential, in tokens/s.
    foreign: f64,
    /// The shortest round trip of an answered request.
    shortest_round_trip: Option<Duration>,
}

/// One request let through, from its ticket to its answer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Flight {
    id: u64,
    sent: Option<Instant>,
    /// When its answer arrived, or the request ended without one.
    answered: Option<Instant>,
}

impl Flight {
    /// Whether the server may have counted this request after it counted
    /// one sent at `sent`: one not yet sent, or sent after it, may have; one
    /// sent before it may have reached the server later, unless it was
    /// answered before that one went out or went out [`REORDER_SPAN`]
    /// earlier.
    fn may_count_after(&self, sent: Instant) -> bool {
        match self.sent {
            None => true,
            Some(own) if own > sent => true,
            Some(own) => {
                sent.saturating_duration_since(own) < REORDER_SPAN
                    && self.answered.is_none_or(|answered| answered > sent)
            }
        }
    }
}

/// A belief taken from an answer, kept to compare a later one with.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    tokens: f64,
    at: Instant,
    admitted: u64,
}

/// The API's rate-limit headers of one response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitHeaders {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds from the request's send until the bucket is full again
    /// (`Reset` minus the send).
    pub seconds_to_full: f64,
}

/// A lower bound of the bucket's refill rate (tokens/s) from one answer,
/// when it tells one. `Remaining` is rounded down and `Reset` up to whole
/// seconds, so the bucket misses more than `limit - remaining - 1` tokens
/// and refills them in at most `seconds_to_full`.
pub fn refill_floor(headers: RateLimitHeaders) -> Option<f64> {
    let missing = headers.limit.saturating_sub(headers.remaining);
    let seconds = headers.seconds_to_full;
    (missing >= 2 && seconds.is_finite() && seconds > 0.0)
        .then(|| (missing - 1) as f64 / seconds)
        .filter(|rate| rate.is_finite() && *rate > 0.0)
}

/// The tokens an answer proves the bucket holds now: what it said was
/// left, less the `uncounted` requests the server may not have counted
/// when it answered (let through but not sent, sent after it, or sent
/// before it but still out). The refill since the server counted is not
/// in it: when within the round trip it counted is unknown (a busy server
/// may count late); [`round_trip_credit`] is what may be added.
pub fn tokens_after_answer(remaining: u64, uncounted: usize) -> f64 {
    remaining as f64 - uncounted as f64
}

/// The tokens an answer's belief is credited for the refill while its
/// request and the next one travel: the refill during the shortest round
/// trip, at `refill` tokens/s (the proven floor of the rate). The answer
/// arrived after the server counted its request by the way back; the next
/// request will be counted after it goes out by the way there. Where the
/// two ways vary little between requests, together they take about a
/// round trip, at least the shortest one seen; `Remaining`, rounded down,
/// keeps up to a token more in hand for what they vary by. Nothing is
/// credited while others spend on the credential (their spending is kept
/// as a reserve instead; a 429 counts as such spending) or before a round
/// trip is timed.
pub fn round_trip_credit(shortest_round_trip: Option<Duration>, refill: f64, foreign: f64) -> f64 {
    match shortest_round_trip {
        Some(trip) if foreign <= 0.0 && refill.is_finite() && refill > 0.0 => {
            refill * trip.as_secs_f64()
        }
        _ => 0.0,
    }
}

/// How long a request waits for a bucket believed to hold `tokens` that
/// refills at `refill` tokens/s, when it needs `need` of them (one, plus
/// the reserve kept for others). `None`: it goes now.
pub fn wait_for_tokens(tokens: f64, need: f64, refill: f64) -> Option<Duration> {
    if tokens >= need {
        return None;
    }
    Some(seconds((need - tokens) / refill))
}

/// What others spent (tokens/s) between two beliefs taken from answers
/// `elapsed` apart, when we let `ours` requests through meanwhile: the
/// tokens missing from the later belief beyond our own spending, less one
/// for the rounding of `Remaining`. `None` when the bucket may have been
/// full meanwhile (refill lost to a full bucket is not spending).
pub fn foreign_rate(
    earlier: f64,
    later: f64,
    elapsed: Duration,
    ours: u64,
    refill: f64,
    limit: u64,
) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    let refilled = earlier + refill * secs;
    if secs <= 0.0 || refilled >= limit as f64 - 1.0 {
        return None;
    }
    let missing = refilled - ours as f64 - later - 1.0;
    Some((missing / secs).max(0.0)).filter(|rate| rate.is_finite())
}

/// The tokens kept back for others spending `foreign` tokens/s on a bucket
/// of `limit`: what they spend in [`FOREIGN_HORIZON`], at most half the
/// bucket.
pub fn reserve_for_others(foreign: f64, limit: u64) -> f64 {
    let reserve = (foreign * FOREIGN_HORIZON).ceil();
    if reserve.is_nan() {
        return 0.0;
    }
    reserve.clamp(0.0, limit as f64 / 2.0)
}

/// `secs` as a duration, NaN and negatives as zero, at most [`LONGEST_WAIT`].
fn seconds(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(secs.min(LONGEST_WAIT.as_secs_f64()))
}

impl ServerBucket {
    /// The refill rate to plan with: the proven floor, or without one the
    /// whole bucket over the time to full, never faster than the bucket
    /// size per second.
    fn refill_rate(&self, headers: RateLimitHeaders) -> f64 {
        self.refill
            .unwrap_or_else(|| headers.limit.max(1) as f64 / headers.seconds_to_full.max(1.0))
    }

    /// The believed tokens at `now`.
    fn tokens_at(&self, now: Instant) -> Option<f64> {
        let (tokens, at) = self.belief?;
        let refilled = tokens + self.rate * now.saturating_duration_since(at).as_secs_f64();
        Some(refilled.min(self.limit as f64))
    }

    /// The requests other than `id` that the server may not have counted
    /// when it counted one sent at `sent`.
    fn uncounted_by(&self, id: u64, sent: Instant) -> usize {
        self.flights
            .iter()
            .filter(|f| f.id != id && f.may_count_after(sent))
            .count()
    }

    fn flight(&mut self, id: u64) -> Option<&mut Flight> {
        self.flights.iter_mut().find(|f| f.id == id)
    }

    /// Forgets the answered requests no later answer can be unsure of:
    /// those answered before every request still out was sent.
    fn prune(&mut self) {
        let oldest_out = self
            .flights
            .iter()
            .filter(|f| f.answered.is_none())
            .filter_map(|f| f.sent)
            .min();
        self.flights.retain(|f| match (f.answered, oldest_out) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(answered), Some(sent)) => answered > sent,
        });
        while self.flights.len() > FLIGHTS_KEPT {
            let Some(at) = self.flights.iter().position(|f| f.answered.is_some()) else {
                break;
            };
            self.flights.remove(at);
        }
    }
}

/// A request the limiter let through, followed until it ends: the client
/// tells it when the request goes out and what its answer said; dropping
/// it (answered, failed or cancelled) ends the request for the limiter.
#[must_use = "a ticket follows its request; dropping it ends the request"]
pub struct Ticket<'a> {
    limiter: &'a RateLimiter,
    id: u64,
}

impl Ticket<'_> {
    /// Notes that the request goes out now. Requests are told apart by
    /// when they go out, not when they were let through: one let through
    /// earlier may still wait (for a token of the auth flow) when a later
    /// one is already answered.
    pub fn sending(&self, now: Instant) {
        let mut bucket = self.limiter.lock();
        if let Some(flight) = bucket.flight(self.id) {
            flight.sent = Some(now);
        }
    }

    /// Learns from the rate-limit headers of the request's answer.
    pub fn answered(&self, headers: RateLimitHeaders) {
        self.limiter.observe(self.id, headers, Instant::now());
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut bucket = self.limiter.lock();
        match bucket.flight(self.id) {
            // Never sent: it never reached the server.
            Some(flight) if flight.sent.is_none() => {
                let id = self.id;
                bucket.flights.retain(|f| f.id != id);
            }
            Some(flight) => {
                flight.answered.get_or_insert(now);
            }
            None => {}
        }
        bucket.prune();
    }
}

impl RateLimiter {
    /// A limiter capped at `requests_per_second` (if set).
    pub fn new(requests_per_second: Option<f64>) -> Self {
        let cap = requests_per_second
            .filter(|rps| rps.is_finite() && *rps > 0.0)
            .map(|rps| {
                // A request allowed now reaches the server a few milliseconds
                // later, by a varying amount; spacing requests 3% wider keeps
                // the rate the server sees under the cap in every window.
                // The spec bounds the rate; the clamp keeps any value a
                // representable, non-zero period all the same.
                let seconds = (1.0 / (rps * CAP_MARGIN)).clamp(1e-6, 1e6);
                let quota = Quota::with_period(Duration::from_secs_f64(seconds))
                    .expect("a period of at least a microsecond is positive")
                    .allow_burst(NonZeroU32::MIN);
                Gcra::direct(quota)
            });
        RateLimiter {
            cap,
            server: Mutex::new(ServerBucket::default()),
        }
    }

    /// Waits for the configured cap (which the config bounds to short waits).
    pub async fn acquire_cap(&self) {
        if let Some(cap) = &self.cap {
            cap.until_ready().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ServerBucket> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a request starting at `now` through (takes its token) with a
    /// ticket that follows it, or says how long it must wait for the API's
    /// bucket.
    pub fn reserve(&self, now: Instant) -> Result<Ticket<'_>, Duration> {
        let mut bucket = self.lock();
        if let Some(until) = bucket.paused_until {
            if until > now {
                return Err(until - now);
            }
            bucket.paused_until = None;
        }
        if let Some(tokens) = bucket.tokens_at(now) {
            let need = 1.0 + reserve_for_others(bucket.foreign, bucket.limit);
            if let Some(wait) = wait_for_tokens(tokens, need, bucket.rate) {
                return Err(wait.max(Duration::from_millis(1)));
            }
            bucket.belief = Some((tokens - 1.0, now));
        }
        let id = bucket.admitted;
        bucket.admitted += 1;
        bucket.flights.push_back(Flight {
            id,
            sent: None,
            answered: None,
        });
        Ok(Ticket { limiter: self, id })
    }

    /// When the API last said its bucket would be full again.
    pub fn full_at(&self) -> Option<SystemTime> {
        self.lock().full_at
    }

    /// Learns from the rate-limit headers of the answer to request `id`,
    /// which arrived at `now`.
    fn observe(&self, id: u64, headers: RateLimitHeaders, now: Instant) {
        let mut bucket = self.lock();
        let Some(flight) = bucket.flight(id) else {
            return;
        };
        let sent = flight.sent.unwrap_or(now);
        let timed = flight.sent.is_some();
        flight.answered = Some(now);
        if timed {
            let trip = now.saturating_duration_since(sent);
            let shortest = bucket.shortest_round_trip.map_or(trip, |t| t.min(trip));
            bucket.shortest_round_trip = Some(shortest);
        }
        if bucket.limit != headers.limit {
            // Another bucket (the account changed plan): learn it anew.
            bucket.limit = headers.limit;
            bucket.refill = None;
            bucket.anchor = None;
            bucket.foreign = 0.0;
        }
        if let Some(floor) = refill_floor(headers) {
            bucket.refill = Some(bucket.refill.map_or(floor, |r| r.max(floor)));
        }
        bucket.full_at = SystemTime::now()
            .checked_add(seconds(headers.seconds_to_full))
            .and_then(|full| full.checked_sub(now.saturating_duration_since(sent)));
        let refill = bucket.refill_rate(headers);
        bucket.rate = refill;
        let tokens = tokens_after_answer(headers.remaining, bucket.uncounted_by(id, sent));
        let credit = round_trip_credit(bucket.shortest_round_trip, refill, bucket.foreign);
        bucket.belief = Some(((tokens + credit).min(headers.limit as f64), now));
        match bucket.anchor {
            Some(anchor) if now.saturating_duration_since(anchor.at) >= FOREIGN_SPAN => {
                let ours = bucket.admitted - anchor.admitted;
                let elapsed = now - anchor.at;
                if let Some(rate) =
                    foreign_rate(anchor.tokens, tokens, elapsed, ours, refill, headers.limit)
                {
                    bucket.foreign = (bucket.foreign + rate) / 2.0;
                }
                bucket.anchor = Some(Anchor {
                    tokens,
                    at: now,
                    admitted: bucket.admitted,
                });
            }
            Some(_) => {}
            None => {
                bucket.anchor = Some(Anchor {
                    tokens,
                    at: now,
                    admitted: bucket.admitted,
                })
            }
        }
    }

    /// Makes every request wait until `until` (a 429's `Retry-After`). A
    /// 429 proves someone spent tokens we believed were there: until the
    /// headers measure others' spending, a quarter of the refill rate is
    /// assumed, so that a reserve is kept from now on.
    pub fn pause_until(&self, until: Instant) {
        let mut bucket = self.lock();
        bucket.foreign = bucket.foreign.max(bucket.rate / 4.0);
        if bucket.paused_until.is_none_or(|p| p < until) {
            bucket.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: u64, remaining: u64, seconds_to_full: f64) -> RateLimitHeaders {
        RateLimitHeaders {
            limit,
            remaining,
            seconds_to_full,
        }
    }

    #[test]
    fn a_request_goes_while_the_bucket_is_believed_to_hold_a_token() {
        assert_eq!(wait_for_tokens(1.0, 1.0, 20.0), None);
        assert_eq!(wait_for_tokens(39.0, 1.0, 20.0), None);
    }

    #[test]
    fn a_request_waits_for_the_refill_of_the_missing_part_of_a_token() {
        let wait = wait_for_tokens(0.5, 1.0, 20.0).unwrap().as_secs_f64();
        assert!((wait - 0.025).abs() < 1e-9, "{wait}");
    }

    #[test]
    fn a_wait_from_absurd_numbers_is_bounded() {
        assert_eq!(wait_for_tokens(0.0, 1.0, 0.0), Some(LONGEST_WAIT));
        assert_eq!(
            wait_for_tokens(0.0, 1.0, f64::INFINITY),
            Some(Duration::ZERO)
        );
        assert_eq!(wait_for_tokens(0.0, 1.0, f64::NAN), Some(Duration::ZERO));
        assert_eq!(wait_for_tokens(-1e300, 1.0, 1e-300), Some(LONGEST_WAIT));
    }

    #[test]
    fn requests_an_answer_may_not_have_counted_are_taken_from_what_it_says_is_left() {
        assert_eq!(tokens_after_answer(5, 0), 5.0);
        assert_eq!(tokens_after_answer(5, 3), 2.0);
        assert_eq!(tokens_after_answer(1, 3), -2.0);
    }

    #[test]
    fn the_refill_of_the_shortest_round_trip_is_credited() {
        let credit = round_trip_credit(Some(Duration::from_millis(50)), 20.0, 0.0);
        assert!((credit - 1.0).abs() < 1e-9, "{credit}");
    }

    #[test]
    fn nothing_is_credited_while_others_spend_or_before_a_round_trip_is_timed() {
        assert_eq!(
            round_trip_credit(Some(Duration::from_millis(50)), 20.0, 2.0),
            0.0
        );
        assert_eq!(round_trip_credit(None, 20.0, 0.0), 0.0);
    }

    #[test]
    fn an_unusable_refill_rate_credits_nothing() {
        let trip = Some(Duration::from_millis(50));
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(round_trip_credit(trip, rate, 0.0), 0.0, "{rate}");
        }
    }

    #[test]
    fn others_spending_is_what_is_missing_beyond_ours_and_the_rounding() {
        // 10 tokens, 1 s at 20/s, 12 of ours: 18 expected, 8 seen, less 1.
        let rate = foreign_rate(10.0, 8.0, Duration::from_secs(1), 12, 20.0, 40).unwrap();
        assert!((rate - 9.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn alone_on_the_credential_nothing_is_spent_by_others() {
        let rate = foreign_rate(10.0, 17.5, Duration::from_secs(1), 12, 20.0, 40).unwrap();
        assert_eq!(rate, 0.0);
    }

    #[test]
    fn a_bucket_that_may_have_been_full_tells_nothing_of_others() {
        assert_eq!(
            foreign_rate(30.0, 5.0, Duration::from_secs(1), 0, 20.0, 40),
            None
        );
        assert_eq!(foreign_rate(10.0, 5.0, Duration::ZERO, 0, 20.0, 40), None);
    }

    #[test]
    fn the_reserve_for_others_grows_with_their_spending_to_half_the_bucket() {
        assert_eq!(reserve_for_others(0.0, 40), 0.0);
        assert_eq!(reserve_for_others(8.0, 40), 4.0);
        assert_eq!(reserve_for_others(1000.0, 40), 20.0);
        assert_eq!(reserve_for_others(f64::NAN, 40), 0.0);
    }

    #[test]
    fn the_refill_floor_allows_for_rounded_headers() {
        // 36 missing, full within 2 s: more than 35 tokens in 2 s.
        assert_eq!(refill_floor(headers(40, 4, 2.0)), Some(17.5));
        assert_eq!(refill_floor(headers(40, 39, 1.0)), None);
        assert_eq!(refill_floor(headers(40, 0, 0.0)), None);
        assert_eq!(refill_floor(headers(40, 80, 1.0)), None);
        assert!(refill_floor(headers(u64::MAX, 0, f64::MAX)).is_some_and(f64::is_finite));
    }

    /// Lets a request through, or panics with the wait asked for.
    fn let_through(limiter: &RateLimiter, now: Instant) -> Ticket<'_> {
        limiter
            .reserve(now)
            .unwrap_or_else(|wait| panic!("asked to wait {wait:?}"))
    }

    fn wait_of(limiter: &RateLimiter, now: Instant) -> Duration {
        match limiter.reserve(now) {
            Ok(_) => Duration::ZERO,
            Err(wait) => wait,
        }
    }

    #[test]
    fn before_any_answer_requests_go_freely() {
        let limiter = RateLimiter::new(None);
        let now = Instant::now();
        for _ in 0..100 {
            let ticket = let_through(&limiter, now);
            ticket.sending(now);
        }
    }

    #[test]
    fn the_burst_is_spent_at_once_then_requests_wait_for_the_refill() {
        let limiter = RateLimiter::new(None);
        let sent = Instant::now();
        let first = let_through(&limiter, sent);
        first.sending(sent);
        // 38 missing, full in 2 s: a floor of 18.5 tokens/s; 2 left.
        first.answered(headers(40, 2, 2.0));
        drop(first);
        let now = Instant::now();
        let _second = let_through(&limiter, now);
        let _third = let_through(&limiter, now);
        let wait = wait_of(&limiter, now).as_secs_f64();
        assert!(wait > 0.04 && wait < 0.06, "waited {wait}");
    }

    #[test]
    fn an_empty_bucket_after_a_long_round_trip_lets_the_next_request_go_at_once() {
        let limiter = RateLimiter::new(None);
        // Sent 50 ms ago: the refill of its trip out and the next one's comes
        // before the server counts the next request.
        let sent = Instant::now() - Duration::from_millis(50);
        let first = let_through(&limiter, sent);
        first.sending(sent);
        // 40 missing, full within 2 s: at least 19.5 tokens/s; none left.
        first.answered(headers(40, 0, 2.0));
        drop(first);
        let wait = wait_of(&limiter, Instant::now());
        assert!(wait < Duration::from_millis(5), "waited {wait:?}");
    }

    #[test]
    fn an_empty_bucket_after_a_short_round_trip_waits_for_a_refill_period() {
        let limiter = RateLimiter::new(None);
        let sent = Instant::now();
        let first = let_through(&limiter, sent);
        first.sending(sent);
        first.answered(headers(40, 0, 2.0));
        drop(first);
        let wait = wait_of(&limiter, Instant::now());
        assert!(wait > Duration::from_millis(40), "waited {wait:?}");
    }

    #[test]
    fn a_request_sent_after_an_answered_one_is_taken_from_what_it_says_is_left() {
        let limiter = RateLimiter::new(None);
        let first_sent = Instant::now();
        let first = let_through(&limiter, first_sent);
        first.sending(first_sent);
        let second = let_through(&limiter, first_sent);
        second.sending(first_sent + Duration::from_millis(10));
        // The first request's answer: 1 left, but the second is on its way.
        first.answered(headers(40, 1, 2.0));
        assert!(wait_of(&limiter, Instant::now()) > Duration::ZERO);
    }

    #[test]
    fn a_request_let_through_but_not_yet_sent_is_taken_from_an_answer() {
        let limiter = RateLimiter::new(None);
        let now = Instant::now();
        let answered = let_through(&limiter, now);
        answered.sending(now);
        // Let through, still waiting to go out when the answer arrives.
        let _waiting = let_through(&limiter, now);
        answered.answered(headers(40, 1, 2.0));
        assert!(wait_of(&limiter, Instant::now()) > Duration::ZERO);
    }

    #[test]
    fn a_request_sent_earlier_and_still_out_may_be_counted_after_a_later_one() {
        let limiter = RateLimiter::new(None);
        let now = Instant::now();
        let earlier = let_through(&limiter, now);
        earlier.sending(now);
        let later = let_through(&limiter, now);
        later.sending(now + Duration::from_micros(50));
        // The server counted the later one first: its answer leaves 1,
        // and the earlier one, still out, may take it.
        later.answered(headers(40, 1, 2.0));
        assert!(wait_of(&limiter, Instant::now()) > Duration::ZERO);
        drop(earlier);
    }

    #[test]
    fn a_request_sent_a_reorder_span_earlier_is_counted_in_a_later_answer() {
        let limiter = RateLimiter::new(None);
        let start = Instant::now();
        let earlier = let_through(&limiter, start);
        earlier.sending(start);
        let later = let_through(&limiter, start);
        later.sending(start + REORDER_SPAN);
        // Paced requests: the earlier one, still out, went out well before.
        later.answered(headers(40, 1, 2.0));
        drop(later);
        assert!(limiter.reserve(start + REORDER_SPAN).is_ok());
        drop(earlier);
    }

    #[test]
    fn a_request_answered_before_another_was_sent_is_counted_in_its_answer() {
        let limiter = RateLimiter::new(None);
        let start = Instant::now();
        let first = let_through(&limiter, start);
        first.sending(start);
        first.answered(headers(40, 30, 2.0));
        drop(first);
        let second_sent = Instant::now();
        let second = let_through(&limiter, second_sent);
        second.sending(second_sent);
        second.answered(headers(40, 1, 2.0));
        drop(second);
        // One token left, and nothing else out: a request goes now.
        assert!(limiter.reserve(Instant::now()).is_ok());
    }

    #[test]
    fn a_ticket_dropped_before_its_request_went_out_gives_its_place_back() {
        let limiter = RateLimiter::new(None);
        let now = Instant::now();
        let answered = let_through(&limiter, now);
        answered.sending(now);
        drop(let_through(&limiter, now));
        answered.answered(headers(40, 1, 2.0));
        assert!(limiter.reserve(Instant::now()).is_ok());
    }

    #[test]
    fn requests_no_answer_can_be_unsure_of_are_forgotten() {
        let limiter = RateLimiter::new(None);
        for _ in 0..10_000 {
            let now = Instant::now();
            let ticket = let_through(&limiter, now);
            ticket.sending(now);
            ticket.answered(headers(40, 39, 1.0));
        }
        assert!(limiter.lock().flights.is_empty());
    }

    #[test]
    fn a_429_pauses_every_request_until_its_retry_after() {
        let limiter = RateLimiter::new(None);
        let now = Instant::now();
        limiter.pause_until(now + Duration::from_secs(3));
        assert_eq!(wait_of(&limiter, now), Duration::from_secs(3));
        assert!(limiter.reserve(now + Duration::from_secs(3)).is_ok());
    }

    #[test]
    fn extreme_headers_neither_panic_nor_overflow_a_wait() {
        let limiter = RateLimiter::new(None);
        for h in [
            headers(0, 0, 0.0),
            headers(u64::MAX, 0, f64::MAX),
            headers(40, 0, 1e300),
            headers(40, 0, -5.0),
            headers(1, 0, f64::INFINITY),
            headers(40, 0, f64::NAN),
            headers(u64::MAX, u64::MAX, 1.0),
        ] {
            let now = Instant::now();
            if let Ok(ticket) = limiter.reserve(now) {
                ticket.sending(now);
                ticket.answered(h);
            } else {
                limiter.lock().belief = None;
            }
            let now = Instant::now();
            let _ = limiter.reserve(now);
            assert!(wait_of(&limiter, now) <= LONGEST_WAIT, "{h:?}");
        }
    }

    #[tokio::test]
    async fn the_configured_cap_is_never_exceeded() {
        let limiter = RateLimiter::new(Some(50.0));
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire_cap().await;
        }
        // 11 requests at 50/s: the 11th may start 200 ms after the first.
        assert!(
            start.elapsed() >= Duration::from_millis(195),
            "{:?}",
            start.elapsed()
        );
    }
}
