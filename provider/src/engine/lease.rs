//! Leases: one rollout at a time per router.
//!
//! A lease is a record on the router itself (a tag on the ALB listener or
//! rule) naming the holder and an expiry. A rollout takes it before moving
//! anything, renews it while it runs, and removes it when done; an apply that
//! was killed leaves a lease that expires on its own. Tags cannot be written
//! conditionally, so taking a lease is write-then-confirm: the later writer
//! wins and the earlier one sees that on its confirming read.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How long a lease lasts without renewal, and how often it is renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(20);
pub const LEASE_RENEW_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub holder: String,
    pub expires: OffsetDateTime,
}

impl LeaseRecord {
    pub fn new(holder: &str, now: OffsetDateTime) -> LeaseRecord {
        LeaseRecord { holder: holder.to_owned(), expires: (now + LEASE_TTL).replace_nanosecond(0).unwrap_or(now + LEASE_TTL) }
    }

    /// `<expiry RFC 3339> <holder>`; fits in a 256-character tag value.
    pub fn encode(&self) -> String {
        let expires = self.expires.format(&Rfc3339).unwrap_or_default();
        let mut value = format!("{expires} {}", self.holder);
        value.truncate(256);
        value
    }

    pub fn decode(value: &str) -> Option<LeaseRecord> {
        let (expires, holder) = value.split_once(' ')?;
        Some(LeaseRecord { holder: holder.to_owned(), expires: OffsetDateTime::parse(expires, &Rfc3339).ok()? })
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
    use super::*;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-01-01 12:00 UTC);

    #[test]
    fn records_round_trip() {
        let record = LeaseRecord::new("terraform@ci-7 pid 41", NOW);
        assert_eq!(record.encode(), "2026-01-01T12:00:20Z terraform@ci-7 pid 41");
        assert_eq!(LeaseRecord::decode(&record.encode()), Some(record));
        assert_eq!(LeaseRecord::decode("garbage"), None);
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
}
