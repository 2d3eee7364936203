//! Alarm gates: healthy while no watched alarm is in ALARM.

use std::future::Future;

use time::OffsetDateTime;

use super::{Finding, Gate, GateError, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Ok,
    Alarm,
    /// Not enough data to decide. Not a failure: a quiet canary has none.
    InsufficientData,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmStatus {
    pub name: String,
    pub state: AlarmState,
    pub reason: String,
    pub updated: Option<OffsetDateTime>,
}

/// Where alarm states come from (CloudWatch in production).
pub trait AlarmSource {
    /// The alarms among `names` that exist, in any order. `Send`, so that
    /// the shared poller can read on its own task.
    fn describe(&self, names: &[String]) -> impl Future<Output = Result<Vec<AlarmStatus>, GateError>> + Send;
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResolveError {
    #[error("{} not found: {}", if .0.len() == 1 { "alarm" } else { "alarms" }, .0.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "))]
    Missing(Vec<String>),
    #[error(transparent)]
    Source(#[from] GateError),
}

pub struct AlarmGate<S> {
    source: S,
    names: Vec<String>,
}

impl<S: AlarmSource> AlarmGate<S> {
    /// Checks that every alarm exists before anything is watched, so a typo
    /// fails fast instead of passing a gate that watched nothing.
    pub async fn resolve(source: S, names: Vec<String>) -> Result<(AlarmGate<S>, Vec<AlarmStatus>), ResolveError> {
        let found = source.describe(&names).await?;
        let missing: Vec<String> = names.iter().filter(|n| !found.iter().any(|a| &a.name == *n)).cloned().collect();
        if !missing.is_empty() {
            return Err(ResolveError::Missing(missing));
        }
        Ok((AlarmGate { source, names }, found))
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl<S: AlarmSource> Gate for AlarmGate<S> {
    async fn check(&self) -> Result<Verdict, GateError> {
        let statuses = self.source.describe(&self.names).await?;
        let status_of = |name: &String| statuses.iter().find(|a| &a.name == name);
        // Configured order, so the first alarm named is the one reported.
        let mut failing = self.names.iter().filter_map(|name| match status_of(name) {
            None => Some(Finding {
                source: format!("alarm {name:?}"),
                reason: "the alarm was deleted while the gate was watching it".into(),
                since: None,
            }),
            Some(a) if a.state == AlarmState::Alarm => {
                Some(Finding { source: format!("alarm {name:?}"), reason: a.reason.clone(), since: a.updated })
            }
            Some(_) => None,
        });
        let Some(mut first) = failing.next() else { return Ok(Verdict::Healthy) };
        let others: Vec<String> = failing.map(|f| f.source).collect();
        if !others.is_empty() {
            first.reason = format!("{} (also failing: {})", first.reason, others.join(", "));
        }
        Ok(Verdict::Unhealthy(first))
    }
}

#[cfg(test)]
pub(crate) mod fake {
    use std::sync::Mutex;

    use super::*;

    /// Alarm states set by the test.
    #[derive(Default)]
    pub struct FakeAlarms(pub Mutex<Vec<AlarmStatus>>);

    impl FakeAlarms {
        pub fn with(names: &[&str]) -> FakeAlarms {
            let alarms = names
                .iter()
                .map(|n| AlarmStatus { name: (*n).into(), state: AlarmState::Ok, reason: String::new(), updated: None })
                .collect();
            FakeAlarms(Mutex::new(alarms))
        }
        pub fn set(&self, name: &str, state: AlarmState, reason: &str) {
            let mut alarms = self.0.lock().unwrap();
            let alarm = alarms.iter_mut().find(|a| a.name == name).expect("known alarm");
            alarm.state = state;
            alarm.reason = reason.into();
        }
    }

    impl AlarmSource for &FakeAlarms {
        async fn describe(&self, names: &[String]) -> Result<Vec<AlarmStatus>, GateError> {
            Ok(self.0.lock().unwrap().iter().filter(|a| names.contains(&a.name)).cloned().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeAlarms;
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn missing_alarms_are_named_before_watching() {
        let alarms = FakeAlarms::with(&["a"]);
        let err = AlarmGate::resolve(&alarms, names(&["a", "b", "c"])).await.err().unwrap();
        assert_eq!(err, ResolveError::Missing(names(&["b", "c"])));
        assert_eq!(err.to_string(), "alarms not found: \"b\", \"c\"");
    }

    #[tokio::test]
    async fn insufficient_data_is_healthy_and_alarm_is_not() {
        let alarms = FakeAlarms::with(&["a", "b"]);
        let (gate, _) = AlarmGate::resolve(&alarms, names(&["a", "b"])).await.unwrap();
        alarms.set("a", AlarmState::InsufficientData, "no data");
        assert_eq!(gate.check().await, Ok(Verdict::Healthy));
        alarms.set("b", AlarmState::Alarm, "5xx above 1%");
        alarms.set("a", AlarmState::Alarm, "p99 above 800ms");
        let Ok(Verdict::Unhealthy(finding)) = gate.check().await else { panic!("expected unhealthy") };
        assert_eq!(finding.source, "alarm \"a\"");
        assert_eq!(finding.reason, "p99 above 800ms (also failing: alarm \"b\")");
    }

    #[tokio::test]
    async fn an_alarm_deleted_mid_watch_fails_the_gate() {
        let alarms = FakeAlarms::with(&["a"]);
        let (gate, _) = AlarmGate::resolve(&alarms, names(&["a"])).await.unwrap();
        alarms.0.lock().unwrap().clear();
        assert!(matches!(gate.check().await, Ok(Verdict::Unhealthy(f)) if f.reason.contains("deleted")));
    }
}
