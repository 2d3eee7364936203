//! Test bed for acceptance tests: the real Terraform CLI drives the provider
//! binary against a local AWS emulator.
//!
//! * [`Emulator`] runs `testbed/emulator.py` (moto, plus a bridge for the
//!   RPCv2-CBOR protocol that `aws-sdk-cloudwatch` speaks) on a free loopback
//!   port, one per test, killed on drop.
//! * [`AwsClient`] is an independent client (CloudWatch, ELBv2, EC2) for
//!   fixtures and assertions. It speaks the AWS Query protocol over a plain
//!   TCP socket, so it shares no code with the provider or the Rust AWS SDK
//!   and does not go through the emulator's CBOR bridge. Its Route 53 helpers
//!   (hosted zones, [`WeightedRecord`] sets, change status, zone tags) speak
//!   Route 53's REST-XML over the same socket code.
//! * [`AlbFixture`] is an application load balancer with blue, green and a
//!   third target group, a forwarding listener and rule, and a redirecting
//!   listener; [`AwsClient::listener_weights`] and friends read back and set
//!   how traffic is split.
//! * [`Terraform`] is a Terraform working directory in a temporary directory,
//!   set up so that `progressive-delivery/progressive` resolves to the locally
//!   built `terraform-provider-progressive` (a `dev_overrides` CLI config, or
//!   a filesystem mirror of release zips that `terraform init` installs from)
//!   and AWS calls go to the emulator.
//!
//! ```no_run
//! use acceptance_tests::{Emulator, Terraform};
//! use std::time::Duration;
//!
//! let emulator = Emulator::start();
//! let aws = emulator.client();
//! aws.put_metric_alarm("checkout-5xx");
//!
//! // Panics unless `cargo build -p terraform-provider-progressive` was run.
//! let tf = Terraform::new(&emulator);
//! tf.write_config(r#"
//!     terraform {
//!       required_providers {
//!         progressive = { source = "progressive-delivery/progressive" }
//!       }
//!     }
//!     resource "progressive_canary_gate" "gate" {
//!       alarm_names   = ["checkout-5xx"]
//!       duration      = "2s"
//!       poll_interval = "1s"
//!     }
//! "#);
//! // No `terraform init`: dev_overrides make it unnecessary.
//! let out = tf.run_ok(&["apply", "-auto-approve", "-no-color"]);
//! assert!(out.stdout.contains("Apply complete!"));
//! let gate = tf.resource("progressive_canary_gate.gate").expect("in state");
//! assert_eq!(gate["values"]["alarm_names"][0], "checkout-5xx");
//!
//! // Ctrl-C in the middle of an apply.
//! aws.set_alarm_state("checkout-5xx", "OK", "quiet");
//! tf.write_config(&std::fs::read_to_string(tf.workdir().join("main.tf")).unwrap().replace("2s", "60s"));
//! let mut apply = tf.spawn(&["apply", "-auto-approve", "-no-color"]);
//! assert!(apply.wait_for_stdout("Modifying...", Duration::from_secs(60)));
//! apply.interrupt(); // SIGINT to the process group
//! let out = apply.wait();
//! assert!(out.stdout.contains("Interrupt received") && !out.success(), "{}", out.combined());
//! ```
//!
//! The Python side (the embedded Terraform CLI and moto) lives in a virtualenv
//! at `<repo>/.venv`, made by `scripts/bootstrap.sh`; this crate runs that
//! script (once per process, it is a no-op when up to date) before it first
//! needs the virtualenv. See `testbed/README.md`.

mod alb;
pub mod appconfig;
mod aws;
pub mod bench;
pub mod browser;
pub mod codedeploy;
mod elbv2;
mod emulator;
mod fault_proxy;
mod http;
mod lambda;
mod lambda_traffic;
mod process;
pub mod rollouts;
mod route53;
pub mod scenarios;
mod terraform;
mod traffic;
mod xml;

pub use alb::{AlbBed, AlbFixture};
pub use aws::{AlarmInfo, AwsClient, AwsError};
pub use emulator::Emulator;
pub use fault_proxy::{FaultProxy, FaultStats};
pub use lambda::{AliasInfo, LAMBDA_ROLE_NAME};
pub use lambda_traffic::{LambdaTraffic, VersionBehaviour};
pub use route53::WeightedRecord;
pub use terraform::{
    Output, PROVIDER_BINARY, PROVIDER_SOURCE, Running, Terraform, built_provider, embedded_terraform, find_resource,
    provider_dir, terraform_program,
};
pub use traffic::{Behaviour, Traffic};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository (Cargo workspace) root.
pub fn workspace_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.parent().expect("acceptance-tests has a parent directory");
        root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
    })
}

/// Builds the provider's release binary with `cargo` (a bench passes
/// `env!("CARGO")`) and makes every later [`Terraform`] use it: benches
/// measure what users run. Call it first in `main`, before any thread.
///
/// # Panics
/// If the build fails.
pub fn use_release_provider(cargo: &str) {
    let built = Command::new(cargo)
        .args(["build", "--release", "-p", "terraform-provider-progressive"])
        .current_dir(workspace_root())
        .status()
        .expect("run cargo");
    assert!(built.success(), "release build failed");
    // SAFETY: called before the program starts other threads, so nothing
    // reads the environment concurrently.
    unsafe { std::env::set_var("PROGRESSIVE_PROVIDER_DIR", workspace_root().join("target/release")) };
}

/// The test bed's Python interpreter (`<repo>/.venv/bin/python`), after making
/// sure the virtualenv is up to date ([`ensure_testbed`]).
pub fn venv_python() -> PathBuf {
    ensure_testbed();
    workspace_root().join(".venv/bin/python")
}

/// Runs `scripts/bootstrap.sh` once per process (it is idempotent, serialized
/// across processes and quick when the virtualenv is already up to date).
///
/// # Panics
/// If the script fails; the panic message holds its output.
pub fn ensure_testbed() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        let script = workspace_root().join("scripts/bootstrap.sh");
        let out =
            Command::new("bash").arg(&script).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}):\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(message) = result {
        panic!("test bed setup failed: {message}");
    }
}
