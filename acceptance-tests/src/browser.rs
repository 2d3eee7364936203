//! A headless Chromium driven through chromedriver's WebDriver HTTP API, to
//! check what a page lays out (where its elements are, how big, in which
//! colour), not just what its file contains. `scripts/bootstrap.sh` installs
//! both (Debian's `chromium` and `chromium-driver`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Browser {
    driver: Child,
    authority: String,
    session: String,
    // Chromium's profile, fresh for each browser and removed with it.
    _profile: tempfile::TempDir,
}

/// Whether a browser can be started here; `Err` says why not. The test
/// bed's bootstrap installs one with apt; a check is skipped only when
/// `PROGRESSIVE_SKIP_BROWSER=1` says so, never silently.
pub fn available() -> Result<bool, String> {
    crate::ensure_testbed();
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(true);
    }
    if std::env::var_os("PROGRESSIVE_SKIP_BROWSER").is_some_and(|v| v == "1") {
        return Ok(false);
    }
    let apt = Command::new("sh").args(["-c", "command -v apt-get"]).output().is_ok_and(|o| o.status.success());
    Err(if apt {
        format!("{CHROMIUM} or {CHROMEDRIVER} is missing although apt-get exists: run scripts/bootstrap.sh as root")
    } else {
        format!(
            "{CHROMIUM} or {CHROMEDRIVER} is missing and there is no apt-get to install them; install Chromium and \
             ChromeDriver there, or set PROGRESSIVE_SKIP_BROWSER=1 to skip the browser checks"
        )
    })
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium
    /// session with a fresh profile and nothing that reaches the network.
    pub fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut browser =
            Browser { driver, authority: format!("127.0.0.1:{port}"), session: String::new(), _profile: profile };
        let deadline = Instant::now() + TIMEOUT;
        while browser.call("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer on {}", browser.authority);
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1000",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        }}});
        let session = browser.call("POST", "/session", Some(&capabilities)).expect("a browser session");
        browser.session = session["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    /// Opens a local file and waits for it to load.
    pub fn open(&self, file: &Path) {
        let url = format!("file://{}", file.canonicalize().expect("the file exists").display());
        self.call("POST", &format!("/session/{}/url", self.session), Some(&json!({ "url": url })))
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn run(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.call("POST", &format!("/session/{}/execute/sync", self.session), Some(&body))
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// One WebDriver command; its `value`, or the error it reported.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let headers = [("Content-Type", "application/json")];
        let response = http::request(method, &self.authority, path, &headers, body.as_bytes(), TIMEOUT)
            .map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_slice(&response.body).map_err(|e| format!("{e}: {}", response.text()))?;
        if response.status == 200 { Ok(answer["value"].clone()) } else { Err(answer["value"].to_string()) }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
