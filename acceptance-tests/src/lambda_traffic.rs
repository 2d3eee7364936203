//! The Lambda traffic simulator (`testbed/lambda_traffic.py`) as a test fixture.

use crate::Emulator;
use crate::traffic::Simulator;

/// Simulated invocations through a Lambda alias: `AWS/Lambda` metrics
/// (`Invocations`, `Errors`, `Duration`, by `ExecutedVersion`, `Resource` and
/// `FunctionName`) published to the emulator every second, split between the
/// alias's versions by its routing weights. Stopped on drop.
pub struct LambdaTraffic {
    _simulator: Simulator,
}

/// How one function version behaves.
pub struct VersionBehaviour<'a> {
    /// The version number, e.g. `"2"`.
    pub version: &'a str,
    pub error_rate: f64,
    /// Median duration of an invocation, in milliseconds (durations are
    /// lognormal around it, `--latency-spread`; see testbed/README.md).
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
        let mut command = Simulator::command(emulator, "lambda_traffic.py");
        command.args(["--function", function, "--alias", alias, "--rate", &rate.to_string()]);
        for v in versions {
            command.args(["--version", &format!("{}={}:{}", v.version, v.error_rate, v.duration_ms)]);
        }
        LambdaTraffic { _simulator: Simulator::spawn(command, "lambda_traffic.py", "lambda_traffic") }
    }
}
