//! Installing a release as a user would: `scripts/release.sh` packages the
//! built provider binary into Registry artifacts, a filesystem mirror serves
//! the zip, and a plain `terraform init` (no `dev_overrides`) installs it. The
//! lock file's hashes are computed here independently and compared with what
//! Terraform recorded and verified. Install tests package the debug build;
//! release builds belong to the release script.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use acceptance_tests::{
    Emulator, PROVIDER_BINARY, PROVIDER_SOURCE, Terraform, built_provider, provider_dir, venv_python, workspace_root,
};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use tempfile::TempDir;

const REGISTRY_HOST: &str = "registry.terraform.io";

/// provider/Cargo.toml's `version`, the one the release script accepts.
fn cargo_version() -> String {
    let manifest = fs::read_to_string(workspace_root().join("provider/Cargo.toml")).expect("read provider/Cargo.toml");
    let line = manifest.lines().find(|l| l.starts_with("version = ")).expect("a version line");
    line.trim_start_matches("version = ").trim_matches('"').to_string()
}

/// Terraform's name for the platform this test runs on.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

/// Runs `scripts/release.sh ARGS...` (packaging mode when `--binary` is given).
fn release_script(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(workspace_root().join("scripts/release.sh"))
        .args(args)
        .output()
        .expect("run scripts/release.sh")
}

/// Packages `binary` as release `version` into `out`, panicking on failure.
fn package(binary: &Path, out: &Path, version: &str) {
    let run = release_script(&["--binary", &binary.to_string_lossy(), "--out", &out.to_string_lossy(), version]);
    assert!(
        run.status.success(),
        "release.sh failed ({}):\n{}{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    digest(&SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The `h1:` hash of a package: Go's dirhash "Hash1", the SHA-256 of the
/// lines "<sha256 hex>  <relative path>\n" of its files sorted by path,
/// base64-encoded.
fn h1_hash(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let lines: String = sorted.iter().map(|(path, bytes)| format!("{}  {path}\n", sha256_hex(bytes))).collect();
    let summary = digest(&SHA256, lines.as_bytes());
    format!("h1:{}", base64::engine::general_purpose::STANDARD.encode(summary.as_ref()))
}

/// The entries of a zip as (name, unix mode, contents), read by Python's
/// zipfile rather than anything the release script shares with this test.
fn zip_entries(zip: &Path, scratch: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let listing = Command::new(venv_python())
        .args([
            "-c",
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             for e in z.infolist():\n\
             \x20   z.extract(e, sys.argv[2])\n\
             \x20   print(e.external_attr >> 16, e.filename)",
        ])
        .arg(zip)
        .arg(scratch)
        .output()
        .expect("run python");
    assert!(listing.status.success(), "{}", String::from_utf8_lossy(&listing.stderr));
    String::from_utf8(listing.stdout)
        .expect("UTF-8 names")
        .lines()
        .map(|line| {
            let (mode, name) = line.split_once(' ').expect("mode and name");
            let contents = fs::read(scratch.join(name)).expect("read an extracted file");
            (name.to_string(), mode.parse().expect("a mode"), contents)
        })
        .collect()
}

/// The quoted strings in the `hashes` list and the `version` of the lock
/// file's block for the provider.
fn locked(lock_file: &str) -> (String, Vec<String>) {
    let header = format!("provider \"{REGISTRY_HOST}/{PROVIDER_SOURCE}\" {{");
    let block = lock_file.split(&header).nth(1).unwrap_or_else(|| panic!("no {header} in:\n{lock_file}"));
    let block = &block[..block.find("\n}").expect("the block's end")];
    let version = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("version").map(|v| v.trim_start_matches([' ', '=']).trim_matches('"')))
        .expect("a version")
        .to_string();
    let list = &block[block.find("hashes = [").expect("hashes")..];
    let hashes = list[..list.find(']').expect("the list's end")].split('"').skip(1).step_by(2).map(String::from);
    (version, hashes.collect())
}

fn write_lock(tf: &Terraform, version: &str, hashes: &[&str]) {
    let quoted: Vec<String> = hashes.iter().map(|h| format!("    \"{h}\",\n")).collect();
    tf.write_file(
        ".terraform.lock.hcl",
        &format!(
            "provider \"{REGISTRY_HOST}/{PROVIDER_SOURCE}\" {{\n  version = \"{version}\"\n  hashes = [\n{}  ]\n}}\n",
            quoted.concat()
        ),
    );
}

#[test]
fn release_zip_from_a_filesystem_mirror_installs_with_the_hashes_it_is_published_with_and_applies() {
    let version = cargo_version();
    let binary = built_provider();
    let scratch = TempDir::new().expect("a temporary directory");
    let dist = scratch.path().join("dist");
    package(&binary, &dist, &version);

    // The artifacts, and SHA256SUMS over the zip and the manifest.
    let zip_name = format!("{PROVIDER_BINARY}_{version}_{}.zip", platform());
    let manifest_name = format!("{PROVIDER_BINARY}_{version}_manifest.json");
    let zip_bytes = fs::read(dist.join(&zip_name)).expect("the zip");
    let manifest = fs::read(dist.join(&manifest_name)).expect("the manifest");
    assert_eq!(manifest, fs::read(workspace_root().join("terraform-registry-manifest.json")).unwrap());
    let sums = fs::read_to_string(dist.join(format!("{PROVIDER_BINARY}_{version}_SHA256SUMS"))).expect("SHA256SUMS");
    assert_eq!(
        sums,
        format!("{}  {zip_name}\n{}  {manifest_name}\n", sha256_hex(&zip_bytes), sha256_hex(&manifest)),
        "SHA256SUMS in sha256sum's format, sorted by name"
    );

    // One entry: the binary as built, named for the Registry, executable.
    let entries = zip_entries(&dist.join(&zip_name), &scratch.path().join("unzipped"));
    let member = format!("{PROVIDER_BINARY}_v{version}");
    assert_eq!(entries.len(), 1, "{:?}", entries.iter().map(|e| &e.0).collect::<Vec<_>>());
    let (name, mode, contents) = &entries[0];
    assert_eq!((name, *mode), (&member, 0o100755));
    assert!(*contents == fs::read(&binary).unwrap(), "the zip holds the packaged binary");
    let zh = format!("zh:{}", sha256_hex(&zip_bytes));
    let h1 = h1_hash(&[(member.clone(), contents.clone())]);

    // Terraform's packed mirror layout: HOSTNAME/NAMESPACE/TYPE/<release zip>.
    let mirror = scratch.path().join("mirror");
    let mirror_dir = mirror.join(REGISTRY_HOST).join(PROVIDER_SOURCE);
    fs::create_dir_all(&mirror_dir).unwrap();
    fs::write(mirror_dir.join(&zip_name), &zip_bytes).unwrap();

    let emulator = Emulator::start();
    emulator.client().put_metric_alarm("checkout-5xx");
    let tf = Terraform::installing_from_mirror(&emulator, &mirror);
    tf.write_config(&format!(
        r#"
terraform {{
  required_providers {{
    progressive = {{ source = "{PROVIDER_SOURCE}", version = "{version}" }}
  }}
}}

resource "progressive_canary_gate" "release" {{
  alarm_names   = ["checkout-5xx"]
  duration      = "1s"
  poll_interval = "1s"
}}
"#
    ));

    // A plain init records the version and the package's h1: (a local mirror
    // has no signed zh: list to record).
    let init = tf.run_ok(&["init", "-no-color"]);
    assert!(init.stdout.contains(&format!("Installed {PROVIDER_SOURCE} v{version}")), "{}", init.stdout);
    let lock_path = tf.workdir().join(".terraform.lock.hcl");
    let (locked_version, hashes) = locked(&fs::read_to_string(&lock_path).unwrap());
    assert_eq!((locked_version.as_str(), hashes), (version.as_str(), vec![h1.clone()]));
    let installed = tf
        .workdir()
        .join(".terraform/providers")
        .join(REGISTRY_HOST)
        .join(PROVIDER_SOURCE)
        .join(&version)
        .join(platform());
    let installed_binary = installed.join(&member);
    assert_eq!(fs::metadata(&installed_binary).unwrap().permissions().mode() & 0o777, 0o755);

    // Terraform checks the zip against a lock file's zh: hash: a wrong one is
    // refused, the published one (SHA256SUMS's) accepted and kept beside h1:.
    let reinstall = |hashes: &[&str]| {
        let data_dir = tf.workdir().join(".terraform"); // a refused init leaves none
        if data_dir.exists() {
            fs::remove_dir_all(data_dir).unwrap();
        }
        write_lock(&tf, &version, hashes);
        tf.run(&["init", "-no-color"])
    };
    let wrong_zh = format!("zh:{}", sha256_hex(b"another package"));
    reinstall(&[&wrong_zh]).assert_failed_with(&["doesn't match any of the checksums previously recorded"]);
    let out = reinstall(&[&zh]);
    assert!(out.success(), "{}", tf.failure_report(&["init"], &out));
    let (_, hashes) = locked(&fs::read_to_string(&lock_path).unwrap());
    assert_eq!(hashes, vec![h1, zh]);

    // The installed provider plans and applies.
    let plan = tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(plan.code(), Some(2), "{}", plan.combined());
    assert!(!plan.combined().contains("development overrides"), "no dev_overrides: {}", plan.combined());
    let apply = tf.apply();
    assert!(apply.success(), "{}", tf.failure_report(&["apply"], &apply));
    assert!(apply.stdout.contains("1 added"), "{}", apply.stdout);
    let gate = tf.resource("progressive_canary_gate.release").expect("the gate in state");
    assert_eq!(gate["provider_name"], format!("{REGISTRY_HOST}/{PROVIDER_SOURCE}"));
    assert_eq!(gate["values"]["status"], "passed");
    assert_eq!(gate["values"]["alarm_names"], serde_json::json!(["checkout-5xx"]));
    assert_eq!(tf.plan_exit_code(), 0);
    let started = format!("starting plugin: path={}", Path::new(".terraform/providers").join(REGISTRY_HOST).display());
    assert!(tf.log().contains(&started), "Terraform ran the installed binary");
}

#[test]
fn release_zip_is_byte_for_byte_reproducible() {
    let scratch = TempDir::new().expect("a temporary directory");
    let binary = scratch.path().join("provider");
    fs::write(&binary, b"\x7fELF not really a provider").unwrap();
    let version = cargo_version();
    let zip_name = format!("{PROVIDER_BINARY}_{version}_{}.zip", platform());
    // Package the same bytes twice, with another mode and modification time.
    let package_as = |out: &str, mode: u32, modified_secs: u64| -> Vec<u8> {
        let file = fs::File::options().write(true).open(&binary).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(modified_secs)).unwrap();
        file.set_permissions(fs::Permissions::from_mode(mode)).unwrap();
        package(&binary, &scratch.path().join(out), &version);
        fs::read(scratch.path().join(out).join(&zip_name)).unwrap()
    };
    let first = package_as("first", 0o600, 1_600_000_000);
    let second = package_as("second", 0o755, 1_700_000_000);
    assert!(first == second, "two packagings of one binary differ");
    let entries = zip_entries(&scratch.path().join("first").join(&zip_name), &scratch.path().join("unzipped"));
    assert_eq!(entries[0].1, 0o100755, "executable whatever the source's mode");
}

#[test]
fn release_refuses_a_version_other_than_cargos_semver() {
    let scratch = TempDir::new().expect("a temporary directory");
    let out = scratch.path().join("dist");
    let binary = provider_dir().join(PROVIDER_BINARY);
    let version = cargo_version();
    let other = format!("{version}-rc.1");
    for (given, complaint) in [
        (format!("v{version}"), "must be semver"),
        ("1.2".to_string(), "must be semver"),
        (format!("{version}+build.7"), "must be semver"),
        (other, "is not provider/Cargo.toml's version"),
    ] {
        let run = release_script(&["--binary", &binary.to_string_lossy(), "--out", &out.to_string_lossy(), &given]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{given}: {stderr}");
        assert!(stderr.contains(complaint), "{given}: {stderr}");
    }
    assert!(!out.exists(), "nothing written for a refused version");
}
