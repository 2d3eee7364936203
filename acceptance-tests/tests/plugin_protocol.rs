//! What the `tfplugin` crate does for any provider, under the real Terraform:
//! the loopback TCP transport (with this repository's provider) and
//! deprecation messages (with the sample provider in
//! `src/bin/terraform-provider-sample.rs`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use acceptance_tests::{Emulator, Terraform};
use serde_json::Value;

/// The port range Terraform passes its plugins: go-plugin's client default
/// (go-plugin 1.7.0 in Terraform 1.15), set in `PLUGIN_MIN_PORT` and
/// `PLUGIN_MAX_PORT` over whatever the environment holds.
const TERRAFORM_PORTS: std::ops::RangeInclusive<u16> = 10000..=25000;

/// The `address=` of every log line of `terraform.log` that holds all of
/// `needles`, as a socket address.
fn logged_addresses(log: &str, needles: &[&str]) -> Vec<SocketAddr> {
    log.lines()
        .filter(|line| needles.iter().all(|n| line.contains(n)))
        .filter_map(|line| line.split_whitespace().find_map(|field| field.strip_prefix("address=")))
        .map(|address| address.parse().unwrap_or_else(|e| panic!("{address:?} is not a TCP address ({e})")))
        .collect()
}

#[test]
fn a_canary_gate_is_applied_over_loopback_tcp_within_terraforms_port_range() {
    let emulator = Emulator::start();
    emulator.client().put_metric_alarm("checkout-5xx");
    let mut tf = Terraform::new(&emulator);
    tf.set_env("TF_PLUGIN_TRANSPORT", "tcp");
    // The first port of the range is taken, when this test can take it:
    // the provider must pass over it.
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, *TERRAFORM_PORTS.start())).ok();
    tf.write_config(
        r#"
terraform {
  required_providers {
    progressive = { source = "progressive-delivery/progressive" }
  }
}

resource "progressive_canary_gate" "gate" {
  alarm_names   = ["checkout-5xx"]
  duration      = "1s"
  poll_interval = "1s"
}
"#,
    );
    let out = tf.apply();
    assert!(out.success(), "{}", tf.failure_report(&["apply"], &out));
    let gate = tf.resource("progressive_canary_gate.gate").expect("the gate in state");
    assert_eq!(gate["values"]["status"], "passed");

    // Every provider process Terraform started (apply, then show) said where
    // it listened: on TCP, where Terraform then reached it, as nothing else
    // was listening.
    let log = tf.log();
    let listened = logged_addresses(&log, &["listening:", "network=tcp", "provider=progressive"]);
    let started = log.lines().filter(|line| line.contains("starting plugin:")).count();
    assert!(started >= 2, "Terraform started the provider for apply and show:\n{log}");
    assert_eq!(listened.len(), started, "each provider process listened on TCP:\n{log}");
    for address in &listened {
        assert_eq!(address.ip(), Ipv4Addr::LOCALHOST, "loopback only");
        assert!(TERRAFORM_PORTS.contains(&address.port()), "{address} outside {TERRAFORM_PORTS:?}");
        if held.is_some() {
            assert_ne!(address.port(), *TERRAFORM_PORTS.start(), "the port in use was skipped");
        }
    }
    assert!(!log.contains("network=unix"), "no Unix socket when TCP was asked for");
}

/// The directory of the sample provider binary Cargo built for these tests.
fn sample_provider_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_terraform-provider-sample")).parent().expect("the binary's directory")
}

#[test]
fn terraform_shows_the_deprecation_message_of_an_attribute() {
    let tf = Terraform::with_provider("example/sample", sample_provider_dir());
    tf.write_config(
        r#"
terraform {
  required_providers {
    sample = { source = "example/sample" }
  }
}

resource "sample_note" "old" {
  text  = "hello"
  label = "greeting"
}

resource "sample_note" "new" {
  text = "world"
}

output "label" {
  value = sample_note.old.label
}
"#,
    );
    let out = tf.run(&["plan", "-json", "-no-color"]);
    assert!(out.success(), "{}", tf.failure_report(&["plan"], &out));
    let diagnostics: Vec<Value> = out
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["type"] == "diagnostic")
        .map(|message| message["diagnostic"].clone())
        .collect();
    let message = "Use `text` instead; `label` goes away in the next major version.";
    let warned = |summary: &str, detail: &str| {
        diagnostics.iter().any(|d| d["severity"] == "warning" && d["summary"] == summary && d["detail"] == detail)
    };
    // Terraform's own warning where the configuration reads the attribute:
    // it carries the schema's message (protocol 6.10) instead of its generic
    // "Deprecated resource attribute ... used".
    assert!(warned("Deprecated value used", message), "{diagnostics:#?}");
    // The crate's warning where the configuration sets it, once: the note
    // that leaves `label` out gets none.
    let set: Vec<_> = diagnostics.iter().filter(|d| d["summary"] == "Deprecated").collect();
    assert_eq!(set.len(), 1, "{diagnostics:#?}");
    assert_eq!(set[0]["detail"], format!("label is deprecated. {message}"));
    assert_eq!(set[0]["address"], "sample_note.old", "{:#?}", set[0]);
}
