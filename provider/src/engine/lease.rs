//! Leases: one rollout at a time per routing.
//!
//! A lease is a record kept beside the routing (a tag on the ALB listener or
//! rule, on the Lambda function, on the hosted zone: each router says where,
//! through [`LeaseStore`]) naming the holder and an expiry. A rollout takes
//! it before moving anything, renews it while it runs, and removes it when
//! done; an apply that was killed leaves a lease that expires on its own.
//! Tags cannot be written conditionally, so taking a lease is
//! write-then-confirm: the later writer wins and the earlier one sees that
//! on its confirming read.
//!
//! Once a rollout knows its origin, the lease names it too. A create has no
//! state to record the origin in until it ends, so an apply killed during a
//! create's final bake would otherwise leave the next apply with the target
//! serving everything and nothing to say that its watch never finished, nor
//! where to roll back.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use tokio_util::sync::CancellationToken;

use super::Clock;
use super::traffic::{RouterError, Split, TrafficRouter};

/// How long a lease lasts without renewal, and how often it is renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(20);
pub const LEASE_RENEW_EVERY: Duration = Duration::from_secs(5);
/// How long a taker waits before reading its write back: long enough for a
/// competing write sent at the same moment to have landed.
const CONFIRM_AFTER: Duration = Duration::from_millis(250);

/// Where a routing's lease record lives.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    async fn read_lease(&self) -> Result<Option<String>, RouterError>;
    async fn write_lease(&self, record: &str) -> Result<(), RouterError>;
    async fn remove_lease(&self) -> Result<(), RouterError>;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeaseError {
    #[error("held by {} until {}", .0.holder, .0.expires)]
    Held(LeaseRecord),
    #[error("{0}")]
    Store(RouterError),
}

/// What a lease left behind says: a lease record was already there
/// (expired, or unreadable), so an apply was killed or could not clean up
/// and its rollout is unfinished; and the origin it named, if it got that far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftover {
    pub unfinished: bool,
    pub origin: Option<String>,
}

/// Takes the lease for `me`, and says what an earlier lease left behind.
pub async fn take(store: &dyn LeaseStore, me: &str, clock: &impl Clock) -> Result<Leftover, LeaseError> {
    let existing = store.read_lease().await.map_err(LeaseError::Store)?;
    may_take(existing.as_deref(), me, clock.now()).map_err(LeaseError::Held)?;
    store.write_lease(&LeaseRecord::new(me, clock.now()).encode()).await.map_err(LeaseError::Store)?;
    // Tags have no compare-and-set: confirm that this write is the one that stuck.
    clock.sleep(CONFIRM_AFTER).await;
    let now_held = store.read_lease().await.map_err(LeaseError::Store)?;
    may_take(now_held.as_deref(), me, clock.now()).map_err(LeaseError::Held)?;
    Ok(Leftover {
        unfinished: existing.is_some(),
        origin: existing.as_deref().and_then(LeaseRecord::decode).and_then(|r| r.origin),
    })
}

/// Names `origin` in `me`'s lease (and in every renewal after, through
/// `noted`), so that an apply killed from here on leaves it behind.
pub async fn note_origin(
    store: &dyn LeaseStore,
    me: &str,
    origin: &str,
    noted: &OnceLock<String>,
    clock: &impl Clock,
) -> Result<(), RouterError> {
    let _ = noted.set(origin.to_owned());
    store.write_lease(&LeaseRecord::new(me, clock.now()).naming(Some(origin)).encode()).await
}

/// Removes `me`'s lease; a lease another apply took meanwhile (ours had
/// lapsed) is left to its holder.
pub async fn release(store: &dyn LeaseStore, me: &str) -> Result<(), RouterError> {
    let current = store.read_lease().await?;
    match current.as_deref().and_then(LeaseRecord::decode) {
        Some(record) if record.holder != me => Ok(()),
        _ => store.remove_lease().await,
    }
}

/// Renews `me`'s lease every [`LEASE_RENEW_EVERY`] for as long as it is
/// polled, naming the origin once one is `noted`; returns only when another
/// holder took it (ours had lapsed), as renewing then would let both run. A
/// failed renewal is retried at the next turn (`on_error` hears of it).
pub async fn keep(
    store: &dyn LeaseStore,
    me: &str,
    clock: &impl Clock,
    noted: &OnceLock<String>,
    mut on_error: impl FnMut(&RouterError),
) -> LeaseRecord {
    loop {
        clock.sleep(LEASE_RENEW_EVERY).await;
        match store.read_lease().await {
            Ok(current) => {
                if let Err(theirs) = may_take(current.as_deref(), me, clock.now()) {
                    return theirs;
                }
            }
            Err(e) => on_error(&e),
        }
        if let Err(e) =
            store.write_lease(&LeaseRecord::new(me, clock.now()).naming(noted.get().map(String::as_str)).encode()).await
        {
            on_error(&e);
        }
    }
}

/// A traffic router that moves traffic only while `me` holds the lease:
/// every change first reads the lease, and is refused when another apply's
/// live record is there. Taking a lease is write-then-confirm, so a rival's
/// write that lands late (a throttled AddTags retried after its backoff) can
/// replace a lease already confirmed; this stops the apply that lost it
/// before its next move, instead of letting both move traffic.
pub struct Guarded<'a, C> {
    pub router: &'a dyn TrafficRouter,
    pub store: &'a dyn LeaseStore,
    pub me: &'a str,
    pub clock: &'a C,
}

#[async_trait]
impl<C: Clock + Sync> TrafficRouter for Guarded<'_, C> {
    async fn read(&self) -> Result<Split, RouterError> {
        self.router.read().await
    }

    async fn route(&self, split: &Split, stop: &CancellationToken) -> Result<(), RouterError> {
        let current = self.store.read_lease().await?;
        if let Err(theirs) = may_take(current.as_deref(), self.me, self.clock.now()) {
            return Err(RouterError::Failed(format!(
                "the rollout lease on {} is now held by {} until {}: another apply took it, so this one stopped moving traffic",
                self.router.describe(),
                theirs.holder,
                theirs.expires.format(&Rfc3339).unwrap_or_default()
            )));
        }
        self.router.route(split, stop).await
    }

    fn describe(&self) -> String {
        self.router.describe()
    }
}

/// The most characters a tag value holds.
const TAG_VALUE_MAX: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub holder: String,
    pub expires: OffsetDateTime,
    /// The destination the rollout rolls back to, once it knows it.
    pub origin: Option<String>,
}

impl LeaseRecord {
    pub fn new(holder: &str, now: OffsetDateTime) -> LeaseRecord {
        LeaseRecord {
            holder: holder.to_owned(),
            expires: (now + LEASE_TTL).replace_nanosecond(0).unwrap_or(now + LEASE_TTL),
            origin: None,
        }
    }

    pub fn naming(self, origin: Option<&str>) -> LeaseRecord {
        LeaseRecord { origin: origin.map(str::to_owned), ..self }
    }

    /// `<expiry RFC 3339> <holder>[=<origin, base64url>]` in at most 256
    /// characters, all of them allowed in tag values. Holders have no `=`;
    /// the holder is shortened to make room for the origin, which is never
    /// cut (an origin too long to fit is left out).
    pub fn encode(&self) -> String {
        let expires = self.expires.format(&Rfc3339).unwrap_or_default();
        let origin = self.origin.as_ref().map(|o| format!("={}", URL_SAFE_NO_PAD.encode(o))).unwrap_or_default();
        let room = TAG_VALUE_MAX.saturating_sub(expires.len() + 1);
        let origin = if origin.len() < room { origin } else { String::new() };
        let mut holder = self.holder.clone();
        holder.truncate(room - origin.len());
        format!("{expires} {holder}{origin}")
    }

    pub fn decode(value: &str) -> Option<LeaseRecord> {
        let (expires, rest) = value.split_once(' ')?;
        let (holder, origin) = match rest.rsplit_once('=') {
            Some((holder, origin)) => {
                (holder, URL_SAFE_NO_PAD.decode(origin).ok().and_then(|o| String::from_utf8(o).ok()))
            }
            None => (rest, None),
        };
        Some(LeaseRecord { holder: holder.to_owned(), expires: OffsetDateTime::parse(expires, &Rfc3339).ok()?, origin })
    }

    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires > now
    }
}

/// Whether `me` may take a router whose lease tag holds `existing`.
/// Unreadable records are treated as free: they cannot name a holder.
pub fn may_take(existing: Option<&str>, me: &str, now: OffsetDateTime) -> Result<(), LeaseRecord> {
    match existing.and_then(LeaseRecord::decode) {
        Some(record) if record.holder != me && record.is_live(now) => Err(record),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::engine::clock::SimClock;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-01-01 12:00 UTC);

    /// A store that keeps the record in memory; a rival apply's record
    /// replaces the write with the given number (1-based), as a competing
    /// write landing just after it would.
    #[derive(Default)]
    struct MemoryStore {
        record: Mutex<Option<String>>,
        rival: Mutex<Option<(usize, String)>>,
        writes: Mutex<usize>,
        /// Every record written, in order.
        written: Mutex<Vec<String>>,
    }

    impl MemoryStore {
        fn holder(&self) -> Option<String> {
            self.record.lock().unwrap().as_deref().and_then(LeaseRecord::decode).map(|r| r.holder)
        }
        fn rival_on_write(&self, write: usize, holder: &str, now: OffsetDateTime) {
            *self.rival.lock().unwrap() = Some((write, LeaseRecord::new(holder, now).encode()));
        }
    }

    #[async_trait]
    impl LeaseStore for MemoryStore {
        async fn read_lease(&self) -> Result<Option<String>, RouterError> {
            Ok(self.record.lock().unwrap().clone())
        }
        async fn write_lease(&self, record: &str) -> Result<(), RouterError> {
            let mut writes = self.writes.lock().unwrap();
            *writes += 1;
            self.written.lock().unwrap().push(record.to_owned());
            let rival = self.rival.lock().unwrap().clone().filter(|(at, _)| *at == *writes).map(|(_, r)| r);
            *self.record.lock().unwrap() = Some(rival.unwrap_or_else(|| record.to_owned()));
            Ok(())
        }
        async fn remove_lease(&self) -> Result<(), RouterError> {
            *self.record.lock().unwrap() = None;
            Ok(())
        }
    }

    #[tokio::test]
    async fn taking_writes_then_confirms() {
        let clock = SimClock::new();
        let store = MemoryStore::default();
        assert_eq!(take(&store, "me", &clock).await, Ok(Leftover::default()));
        assert_eq!(store.holder().as_deref(), Some("me"));
        // A lease left by a killed apply, expired: taken, and reported with
        // the origin it named.
        let killed = LeaseRecord::new("killed", clock.now() - time::Duration::minutes(1)).naming(Some("blue"));
        *store.record.lock().unwrap() = Some(killed.encode());
        assert_eq!(take(&store, "me", &clock).await, Ok(Leftover { unfinished: true, origin: Some("blue".into()) }));
    }

    #[tokio::test]
    async fn the_origin_once_noted_stays_in_every_renewal() {
        let clock = SimClock::new();
        let store = MemoryStore::default();
        take(&store, "me", &clock).await.unwrap();
        let noted = OnceLock::new();
        let origin = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";
        note_origin(&store, "me", origin, &noted, &clock).await.unwrap();
        let stored = || store.record.lock().unwrap().as_deref().and_then(LeaseRecord::decode).unwrap();
        assert_eq!(stored().origin.as_deref(), Some(origin));
        store.rival_on_write(4, "other", clock.now() + time::Duration::seconds(10));
        keep(&store, "me", &clock, &noted, |_| {}).await;
        let written: Vec<LeaseRecord> =
            store.written.lock().unwrap().iter().filter_map(|r| LeaseRecord::decode(r)).collect();
        assert_eq!(written.len(), 4, "take, note, and two renewals (the second lost to the rival)");
        assert_eq!(written[0].origin, None, "the origin is not known when the lease is taken");
        assert!(written[1..].iter().all(|r| r.origin.as_deref() == Some(origin)), "{written:?}");
    }

    #[tokio::test]
    async fn a_live_lease_or_a_later_writer_refuses() {
        let clock = SimClock::new();
        let store = MemoryStore::default();
        *store.record.lock().unwrap() = Some(LeaseRecord::new("them", clock.now()).encode());
        assert!(matches!(take(&store, "me", &clock).await, Err(LeaseError::Held(r)) if r.holder == "them"));
        assert_eq!(*store.writes.lock().unwrap(), 0, "nothing written over a live lease");

        let store = MemoryStore::default();
        store.rival_on_write(1, "rival", clock.now());
        assert!(
            matches!(take(&store, "me", &clock).await, Err(LeaseError::Held(r)) if r.holder == "rival"),
            "the later write wins"
        );
    }

    #[tokio::test]
    async fn releasing_leaves_another_holders_lease() {
        let clock = SimClock::new();
        let store = MemoryStore::default();
        take(&store, "me", &clock).await.unwrap();
        release(&store, "me").await.unwrap();
        assert_eq!(store.holder(), None);
        *store.record.lock().unwrap() = Some(LeaseRecord::new("other", clock.now()).encode());
        release(&store, "me").await.unwrap();
        assert_eq!(store.holder().as_deref(), Some("other"));
    }

    #[tokio::test]
    async fn keeping_renews_until_another_holder_took_it() {
        let clock = SimClock::new();
        let store = MemoryStore::default();
        take(&store, "me", &clock).await.unwrap();
        let started = clock.now();
        // Write 1 was the take; renewals at 5 s (write 2) and 10 s (write 3,
        // lost to the rival); the read at 15 s sees the rival.
        store.rival_on_write(3, "other", started + time::Duration::seconds(10));
        let lost_to = keep(&store, "me", &clock, &OnceLock::new(), |_| {}).await;
        assert_eq!(lost_to.holder, "other");
        assert_eq!(clock.now() - started, time::Duration::seconds(15));
        assert_eq!(store.holder().as_deref(), Some("other"), "not overwritten");
    }

    #[test]
    fn records_round_trip() {
        let record = LeaseRecord::new("terraform@ci-7 pid 41", NOW);
        assert_eq!(record.encode(), "2026-01-01T12:00:20Z terraform@ci-7 pid 41");
        assert_eq!(LeaseRecord::decode(&record.encode()), Some(record));
        assert_eq!(LeaseRecord::decode("garbage"), None);
        // With an origin: every character allowed in tag values, at most 256
        // of them, the holder shortened before the origin is cut.
        let origin = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue-green-checkout-service/73e2d6bc24d8a067";
        let long = LeaseRecord::new(&format!("apply 1a2b3c4d provider pid 4242 on {}", "h".repeat(200)), NOW)
            .naming(Some(origin));
        let encoded = long.encode();
        assert!(encoded.len() <= 256, "{}", encoded.len());
        assert!(encoded.chars().all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c)), "{encoded}");
        assert_eq!(LeaseRecord::decode(&encoded).unwrap().origin.as_deref(), Some(origin));
        assert!(LeaseRecord::decode(&encoded).unwrap().holder.starts_with("apply 1a2b3c4d"));
    }

    #[test]
    fn a_live_lease_of_another_holder_refuses() {
        let theirs = LeaseRecord::new("them", NOW).encode();
        assert_eq!(may_take(Some(&theirs), "me", NOW).unwrap_err().holder, "them");
        assert!(may_take(Some(&theirs), "them", NOW).is_ok(), "renewing your own lease");
        assert!(may_take(Some(&theirs), "me", NOW + time::Duration::seconds(21)).is_ok(), "expired");
        assert!(may_take(None, "me", NOW).is_ok());
        assert!(may_take(Some("not a lease"), "me", NOW).is_ok());
    }

    /// Records every route it is asked for.
    #[derive(Default)]
    struct Recording(Mutex<Vec<Split>>);

    #[async_trait]
    impl TrafficRouter for Recording {
        async fn read(&self) -> Result<Split, RouterError> {
            Ok(Split::all_to("blue"))
        }
        async fn route(&self, split: &Split, _: &CancellationToken) -> Result<(), RouterError> {
            self.0.lock().unwrap().push(split.clone());
            Ok(())
        }
        fn describe(&self) -> String {
            "listener web".into()
        }
    }

    #[tokio::test]
    async fn a_guarded_router_moves_traffic_only_while_the_lease_is_ours() {
        let clock = SimClock::new();
        let (store, router) = (MemoryStore::default(), Recording::default());
        take(&store, "me", &clock).await.unwrap();
        let guarded = Guarded { router: &router, store: &store, me: "me", clock: &clock };
        let stop = CancellationToken::new();
        guarded.route(&Split::all_to("green"), &stop).await.unwrap();
        // A rival's late write replaced our confirmed lease.
        *store.record.lock().unwrap() = Some(LeaseRecord::new("rival", clock.now()).encode());
        let refused = guarded.route(&Split::all_to("blue"), &stop).await.unwrap_err().to_string();
        assert!(refused.contains("held by rival") && refused.contains("stopped moving traffic"), "{refused}");
        assert_eq!(router.0.lock().unwrap().len(), 1, "the refused change never reached the router");
        // A rival's record that has lapsed (or none) does not hold anything up.
        *store.record.lock().unwrap() =
            Some(LeaseRecord::new("rival", clock.now() - time::Duration::minutes(1)).encode());
        guarded.route(&Split::all_to("blue"), &stop).await.unwrap();
        store.remove_lease().await.unwrap();
        guarded.route(&Split::all_to("blue"), &stop).await.unwrap();
        assert_eq!(router.0.lock().unwrap().len(), 3);
    }
}
