//! The fault-injecting proxy (`testbed/fault_proxy.py`) in front of an
//! [`Emulator`]: the provider talks to it, the test bed's own client talks
//! to the emulator directly, so fixtures and assertions never see a fault.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::Emulator;
use crate::http;
use crate::process::LoopbackService;

/// A running proxy; dropping it stops the process.
pub struct FaultProxy {
    service: LoopbackService,
}

/// What the proxy counted: requests per service and operation, and the
/// faults it injected into them, per kind (`throttle`, `unavailable`,
/// `reset`, `slow`, `late`).
#[derive(Debug, Clone, Default)]
pub struct FaultStats {
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    pub faults: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
}

impl FaultStats {
    /// All requests the proxy saw.
    pub fn total_requests(&self) -> u64 {
        self.requests.values().flat_map(BTreeMap::values).sum()
    }

    /// All faults it injected.
    pub fn total_faults(&self) -> u64 {
        self.faults.values().flat_map(BTreeMap::values).flat_map(BTreeMap::values).sum()
    }

    /// Faults of one kind, over every operation.
    pub fn faults_of(&self, kind: &str) -> u64 {
        self.faults.values().flat_map(BTreeMap::values).filter_map(|kinds| kinds.get(kind)).sum()
    }

    /// One line for a test's output: requests and faults by kind.
    pub fn summary(&self) -> String {
        let kinds = ["throttle", "unavailable", "reset", "slow", "late"].map(|k| format!("{k} {}", self.faults_of(k)));
        format!("{} requests, {} faults ({})", self.total_requests(), self.total_faults(), kinds.join(", "))
    }
}

impl FaultProxy {
    /// Starts a proxy to `emulator` injecting `faults` (`SCOPE=KIND:P`, see
    /// the script's documentation), drawn from `seed`; a `slow` answer is
    /// held back `slow_delay`.
    pub fn start(emulator: &Emulator, faults: &[&str], seed: u64, slow_delay: Duration) -> FaultProxy {
        let mut args = vec!["--upstream".to_owned(), emulator.endpoint(), "--quiet".to_owned()];
        args.extend([
            "--seed".to_owned(),
            seed.to_string(),
            "--slow-delay".to_owned(),
            slow_delay.as_secs_f64().to_string(),
        ]);
        for fault in faults {
            args.extend(["--fault".to_owned(), (*fault).to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        FaultProxy { service: LoopbackService::start("fault_proxy.py", &args) }
    }

    /// The URL to give the provider as its AWS endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.service.authority())
    }

    /// What the proxy counted so far.
    ///
    /// # Panics
    /// If the proxy does not answer.
    pub fn stats(&self) -> FaultStats {
        let body = self.control("GET", "stats", b"");
        let value: Value = serde_json::from_slice(&body).expect("stats are JSON");
        let counts = |v: &Value| -> BTreeMap<String, u64> {
            v.as_object().into_iter().flatten().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect()
        };
        FaultStats {
            requests: value["requests"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(s, ops)| (s.clone(), counts(ops)))
                .collect(),
            faults: value["faults"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(s, ops)| {
                    (
                        s.clone(),
                        ops.as_object().into_iter().flatten().map(|(op, kinds)| (op.clone(), counts(kinds))).collect(),
                    )
                })
                .collect(),
        }
    }

    /// Replaces the faults (an empty list stops injecting).
    pub fn set_faults(&self, faults: &[&str]) {
        let body = serde_json::json!({ "faults": faults }).to_string();
        self.control("PUT", "faults", body.as_bytes());
    }

    fn control(&self, method: &str, what: &str, body: &[u8]) -> Vec<u8> {
        let response = http::request(
            method,
            &self.service.authority(),
            &format!("/_fault_proxy/{what}"),
            &[],
            body,
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("fault proxy {method} {what}: {e}\n{}", self.service.log()));
        assert_eq!(response.status, 200, "fault proxy {method} {what}: {}", response.text());
        response.body
    }
}
