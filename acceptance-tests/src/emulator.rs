//! The local AWS emulator process (`testbed/emulator.py`).

use crate::{AwsClient, http, venv_python, workspace_root};
use std::fs::{self, File};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long [`Emulator::start`] waits for the emulator to answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running emulator (moto with the RPCv2-CBOR bridge) on `127.0.0.1` and a
/// free port. One per test is the intended use: state is per process, and
/// [`Emulator::reset`] clears it.
///
/// Dropping it stops the process (SIGTERM, then SIGKILL after a few seconds).
/// If the test process dies without unwinding, the emulator still exits: it
/// watches its standard input, a pipe whose other end this struct holds.
pub struct Emulator {
    child: Child,
    /// Closing this (on drop, or when the test process dies) stops the emulator.
    stdin: Option<ChildStdin>,
    port: u16,
    dir: TempDir,
}

impl Emulator {
    /// Starts the emulator and waits until it answers HTTP requests.
    ///
    /// # Panics
    /// If the test bed cannot be set up, or the emulator does not come up
    /// within a minute (the panic message holds its log).
    pub fn start() -> Emulator {
        let python = venv_python();
        let dir = tempfile::Builder::new()
            .prefix("emulator-")
            .tempdir()
            .expect("create a temporary directory");
        let port_file = dir.path().join("port");
        let log = File::create(dir.path().join("emulator.log")).expect("create the emulator log");
        let script = workspace_root().join("testbed/emulator.py");
        let mut child = Command::new(&python)
            .arg("-I")
            .arg(&script)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--exit-on-stdin-eof",
                "--port-file",
            ])
            .arg(&port_file)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone a file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} {}: {e}",
                    python.display(),
                    script.display()
                )
            });
        let stdin = child.stdin.take();
        let mut emulator = Emulator {
            child,
            stdin,
            port: 0,
            dir,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        while emulator.port == 0 {
            if let Some(port) = fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                emulator.port = port;
            } else {
                emulator.check_alive(deadline);
                sleep(Duration::from_millis(50));
            }
        }
        // Listening is not answering yet; a reset is a cheap real request.
        while let Err(e) = emulator.try_reset() {
            emulator.check_alive(deadline);
            if Instant::now() > deadline {
                panic!(
                    "emulator on port {} does not answer: {e}\n{}",
                    emulator.port,
                    emulator.log()
                );
            }
            sleep(Duration::from_millis(100));
        }
        emulator
    }

    fn check_alive(&mut self, deadline: Instant) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "emulator exited during start-up ({status}):\n{}",
                self.log()
            );
        }
        if Instant::now() > deadline {
            panic!(
                "emulator did not start within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
        }
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:41234` (for `AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
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
        let authority = format!("127.0.0.1:{}", self.port);
        let response = http::post(
            &authority,
            "/moto-api/reset",
            &[],
            b"",
            Duration::from_secs(10),
        )
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
        fs::read_to_string(self.dir.path().join("emulator.log")).unwrap_or_default()
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

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // SIGTERM lets it close its socket; SIGKILL if it does not go quickly.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
