//! The Lambda traffic simulator (`testbed/lambda_traffic.py`) as a test fixture.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::{Emulator, venv_python, workspace_root};

/// Simulated invocations through a Lambda alias: `AWS/Lambda` metrics
/// (`Invocations`, `Errors`, `Duration`, by `ExecutedVersion`, `Resource` and
/// `FunctionName`) published to the emulator every second, split between the
/// alias's versions by its routing weights. Stopped on drop.
pub struct LambdaTraffic {
    child: Child,
    _stdin: ChildStdin,
}

/// How one function version behaves.
pub struct VersionBehaviour<'a> {
    /// The version number, e.g. `"2"`.
    pub version: &'a str,
    pub error_rate: f64,
    /// Mean duration of an invocation, in milliseconds.
    pub duration_ms: f64,
}

impl LambdaTraffic {
    /// Starts `rate` invocations per second through `function:alias`.
    /// Versions without a [`VersionBehaviour`] never fail and take 50 ms.
    pub fn start(
        emulator: &Emulator,
        function: &str,
        alias: &str,
        rate: f64,
        versions: &[VersionBehaviour<'_>],
    ) -> LambdaTraffic {
        let mut command = Command::new(venv_python());
        command
            .arg(workspace_root().join("testbed/lambda_traffic.py"))
            .args([
                "--function",
                function,
                "--alias",
                alias,
                "--rate",
                &rate.to_string(),
                "--exit-on-stdin-eof",
            ])
            .env("AWS_ENDPOINT_URL", emulator.endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for v in versions {
            command.args([
                "--version",
                &format!("{}={}:{}", v.version, v.error_rate, v.duration_ms),
            ]);
        }
        let mut child = command.spawn().expect("start testbed/lambda_traffic.py");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut first)
            .expect("lambda_traffic.py output");
        assert!(
            first.starts_with("lambda_traffic: running"),
            "lambda_traffic.py did not start: {first:?}"
        );
        LambdaTraffic {
            child,
            _stdin: stdin,
        }
    }
}

impl Drop for LambdaTraffic {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
