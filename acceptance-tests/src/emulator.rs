//! The local AWS emulator process (`testbed/emulator.py`).

use crate::process::LoopbackService;
use crate::{AwsClient, http};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long [`Emulator::start`] waits for the emulator to answer once it listens.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Real seconds per CodeDeploy minute in the test bed (`--codedeploy-minute`;
/// AWS, and the emulator's default, is 60). CodeDeploy's predefined configs
/// wait 1 to 30 minutes between traffic shifts; at one second per minute a
/// `LambdaCanary10Percent5Minutes` deployment takes about 5 s. A test that
/// needs another scale sets `EMULATOR_CODEDEPLOY_MINUTE` before starting the
/// emulator; the flag is then left out so the variable applies.
const CODEDEPLOY_MINUTE: &str = "1";

/// Real seconds per AppConfig minute in the test bed (`--appconfig-minute`; AWS,
/// and the emulator's default, is 60). AppConfig deployment strategies last 0 to
/// 1440 minutes plus a final bake of up to 1440; at one second per minute
/// `AppConfig.Linear20PercentEvery6Minutes` (30 minutes, then 30 of bake) takes
/// about a minute. A test that needs another scale sets
/// `EMULATOR_APPCONFIG_MINUTE` before starting the emulator; the flag is then
/// left out so the variable applies.
const APPCONFIG_MINUTE: &str = "1";

/// A running emulator (moto with the RPCv2-CBOR bridge) on `127.0.0.1` and a
/// free port. One per test is the intended use: state is per process, and
/// [`Emulator::reset`] clears it.
///
/// Dropping it stops the process (SIGTERM, then SIGKILL after a few seconds).
/// If the test process dies without unwinding, the emulator still exits: it
/// watches its standard input, a pipe whose other end this struct holds.
pub struct Emulator {
    service: LoopbackService,
}

impl Emulator {
    /// Starts the emulator and waits until it answers HTTP requests.
    ///
    /// # Panics
    /// If the test bed cannot be set up, or the emulator does not come up
    /// within a minute (the panic message holds its log).
    pub fn start() -> Emulator {
        let mut args = vec!["--host", "127.0.0.1"];
        if std::env::var_os("EMULATOR_CODEDEPLOY_MINUTE").is_none() {
            args.extend(["--codedeploy-minute", CODEDEPLOY_MINUTE]);
        }
        if std::env::var_os("EMULATOR_APPCONFIG_MINUTE").is_none() {
            args.extend(["--appconfig-minute", APPCONFIG_MINUTE]);
        }
        let mut emulator = Emulator { service: LoopbackService::start("emulator.py", &args) };
        // Listening is not answering yet; a reset is a cheap real request.
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        while let Err(e) = emulator.try_reset() {
            emulator.service.check_alive(deadline);
            if Instant::now() > deadline {
                panic!("emulator on port {} does not answer: {e}\n{}", emulator.port(), emulator.log());
            }
            sleep(Duration::from_millis(100));
        }
        emulator
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:41234` (for `AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.service.authority())
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.service.port
    }

    /// Clears all emulated AWS state (moto's `POST /moto-api/reset`).
    ///
    /// # Panics
    /// If the emulator does not answer with 200.
    pub fn reset(&self) {
        if let Err(e) = self.try_reset() {
            panic!("emulator reset failed: {e}\n{}", self.log());
        }
    }

    fn try_reset(&self) -> Result<(), String> {
        let response = http::post(&self.service.authority(), "/moto-api/reset", &[], b"", Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        match response.status {
            200 => Ok(()),
            status => Err(format!("HTTP {status}: {}", response.text())),
        }
    }

    /// An independent CloudWatch client for fixtures and assertions.
    pub fn client(&self) -> AwsClient {
        AwsClient::new(&self.endpoint())
    }

    /// Everything the emulator printed so far (one line per request).
    pub fn log(&self) -> String {
        self.service.log()
    }

    /// How many `operation` requests the AWS SDK has made so far (the
    /// provider's calls): they arrive as RPCv2-CBOR at
    /// `/service/<service>/operation/<operation>` and are logged one a line.
    /// The test bed's own client speaks the Query protocol and is not counted.
    pub fn sdk_calls(&self, operation: &str) -> usize {
        let path = format!("/operation/{operation} ");
        self.log().lines().filter(|line| line.contains(&path)).count()
    }
}
