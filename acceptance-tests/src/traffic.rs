//! The traffic simulator (`testbed/traffic.py`) as a test fixture.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::{Emulator, venv_python, workspace_root};

/// Simulated requests through a listener (or rule): per-target-group ALB
/// metrics published to the emulator every second, following the weights.
/// Stopped on drop.
pub struct Traffic {
    child: Child,
    _stdin: ChildStdin,
}

/// How one target group behaves.
pub struct Behaviour<'a> {
    pub target_group_arn: &'a str,
    pub error_rate: f64,
}

impl Traffic {
    /// Starts `rate` requests per second through `listener_arn` (or
    /// `rule_arn` when given).
    pub fn start(emulator: &Emulator, listener_arn: &str, rule_arn: Option<&str>, rate: f64, groups: &[Behaviour<'_>]) -> Traffic {
        let mut command = Command::new(venv_python());
        command
            .arg(workspace_root().join("testbed/traffic.py"))
            .args(["--listener", listener_arn, "--rate", &rate.to_string(), "--exit-on-stdin-eof"])
            .env("AWS_ENDPOINT_URL", emulator.endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(rule) = rule_arn {
            command.args(["--rule", rule]);
        }
        for g in groups {
            command.args(["--group", &format!("{}={}", g.target_group_arn, g.error_rate)]);
        }
        let mut child = command.spawn().expect("start testbed/traffic.py");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut first).expect("traffic.py output");
        assert!(first.starts_with("traffic: running"), "traffic.py did not start: {first:?}");
        Traffic { child, _stdin: stdin }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
