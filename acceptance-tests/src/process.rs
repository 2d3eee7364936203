//! A test-bed Python service on a free loopback port: `testbed/emulator.py`
//! and `testbed/fault_proxy.py` start, announce their port and stop alike.

use crate::{venv_python, workspace_root};
use std::fs::{self, File};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a service has to announce its port.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running service. Dropping it stops the process (SIGTERM, then SIGKILL
/// after a few seconds). If the test process dies without unwinding, the
/// service still exits: it watches its standard input, a pipe whose other
/// end this struct holds.
pub(crate) struct LoopbackService {
    child: Child,
    /// Closing this (on drop, or when the test process dies) stops the service.
    stdin: Option<ChildStdin>,
    pub port: u16,
    dir: TempDir,
}

impl LoopbackService {
    /// Starts `testbed/<script>` with `args` and waits until it has written
    /// its port (`--port 0 --port-file`).
    ///
    /// # Panics
    /// If the test bed cannot be set up, or the service does not announce a
    /// port within a minute (the panic message holds its log).
    pub fn start(script: &str, args: &[&str]) -> LoopbackService {
        let python = venv_python();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", script.trim_end_matches(".py")))
            .tempdir()
            .expect("create a temporary directory");
        let port_file = dir.path().join("port");
        let log = File::create(dir.path().join("service.log")).expect("create the service log");
        let script = workspace_root().join("testbed").join(script);
        let mut child = Command::new(&python)
            .arg("-I")
            .arg(&script)
            .args(args)
            .args(["--port", "0", "--exit-on-stdin-eof", "--port-file"])
            .arg(&port_file)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone a file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", python.display(), script.display()));
        let stdin = child.stdin.take();
        let mut service = LoopbackService { child, stdin, port: 0, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        while service.port == 0 {
            match fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse().ok()) {
                Some(port) => service.port = port,
                None => {
                    service.check_alive(deadline);
                    sleep(Duration::from_millis(50));
                }
            }
        }
        service
    }

    /// Panics, with the log, if the process has exited or `deadline` passed.
    pub fn check_alive(&mut self, deadline: Instant) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited during start-up ({status}):\n{}", self.name(), self.log());
        }
        if Instant::now() > deadline {
            panic!("{} did not start within {START_TIMEOUT:?}:\n{}", self.name(), self.log());
        }
    }

    fn name(&self) -> String {
        self.dir.path().file_name().unwrap_or_default().to_string_lossy().into_owned()
    }

    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything the service printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("service.log")).unwrap_or_default()
    }
}

impl Drop for LoopbackService {
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
