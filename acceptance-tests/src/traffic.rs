//! The traffic simulator (`testbed/traffic.py`) as a test fixture.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::{Emulator, venv_python, workspace_root};

/// A traffic simulator script of `testbed/` (`traffic.py`,
/// `lambda_traffic.py`) running against the emulator; killed on drop. It
/// stops by itself when its standard input (held here) closes.
pub(crate) struct Simulator {
    child: Child,
    _stdin: ChildStdin,
}

impl Simulator {
    /// The command running `testbed/<script>` with the test bed's Python,
    /// talking to `emulator` with test credentials, its stdin and stdout piped.
    pub(crate) fn command(emulator: &Emulator, script: &str) -> Command {
        let mut command = Command::new(venv_python());
        command
            .arg(workspace_root().join("testbed").join(script))
            .arg("--exit-on-stdin-eof")
            .env("AWS_ENDPOINT_URL", emulator.endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        command
    }

    /// Spawns `command` (from [`Simulator::command`] for `script`) and waits
    /// until its first line says it started (`<banner>: running`).
    pub(crate) fn spawn(mut command: Command, script: &str, banner: &str) -> Simulator {
        let mut child = command.spawn().unwrap_or_else(|e| panic!("start testbed/{script}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut first)
            .unwrap_or_else(|e| panic!("{script} output: {e}"));
        assert!(first.starts_with(&format!("{banner}: running")), "{script} did not start: {first:?}");
        Simulator { child, _stdin: stdin }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Simulated requests through a listener (or rule): per-target-group ALB
/// metrics published to the emulator every second, following the weights.
/// Stopped on drop.
pub struct Traffic {
    _simulator: Simulator,
}

/// How one target group behaves.
pub struct Behaviour<'a> {
    pub target_group_arn: &'a str,
    pub error_rate: f64,
    /// Median response time in seconds (each request's is drawn around it).
    pub latency_seconds: f64,
}

impl Traffic {
    /// Starts `rate` requests per second through `listener_arn` (or
    /// `rule_arn` when given).
    pub fn start(
        emulator: &Emulator,
        listener_arn: &str,
        rule_arn: Option<&str>,
        rate: f64,
        groups: &[Behaviour<'_>],
    ) -> Traffic {
        Traffic::start_shaped(emulator, listener_arn, rule_arn, rate, groups, &[])
    }

    /// [`Traffic::start`] with production-shaped data: `shape` holds the
    /// simulator's shape flags (`--bursts 0.25:20`, `--rate-noise 0.5`,
    /// `--late-fraction 0.1`, ...; see testbed/README.md).
    pub fn start_shaped(
        emulator: &Emulator,
        listener_arn: &str,
        rule_arn: Option<&str>,
        rate: f64,
        groups: &[Behaviour<'_>],
        shape: &[&str],
    ) -> Traffic {
        let mut command = Simulator::command(emulator, "traffic.py");
        command.args(shape);
        command.args(["--listener", listener_arn, "--rate", &rate.to_string()]);
        if let Some(rule) = rule_arn {
            command.args(["--rule", rule]);
        }
        for g in groups {
            command.args(["--group", &format!("{}={}:{}", g.target_group_arn, g.error_rate, g.latency_seconds)]);
        }
        Traffic { _simulator: Simulator::spawn(command, "traffic.py", "traffic") }
    }
}
