//! Kill sweep: SIGKILL an apply of `progressive_rollout` at random moments
//! (Terraform and the provider together, or the provider alone), check what
//! it left with the independent client, then apply again and check that it
//! converges.
//!
//! The provider reaches the emulator through the fault proxy, which holds
//! back its answers to ModifyListener and AddTags for 0.8 s after they took
//! effect, so that kills land inside shifts, rollbacks and lease writes.
//!
//! Each point picks, from a seeded draw: a create (the resource is first
//! removed from state) or an update; a good release or a bad one (its alarm
//! trips at a random moment, so some kills land in the rollback); and the
//! moment of the kill, which lands in any phase: start-up and lease, shift
//! and read-back, bake, final bake, rollback, or after the apply ended. The
//! phase is read from the provider's log lines before the kill.
//!
//! After every kill: the listener sends traffic only to the origin and the
//! target; a lease left behind expires within its time to live. After the
//! next apply (alarm quiet): all traffic on the target, `promoted` only with
//! a final bake that ran its whole length behind it, no lease left, and a
//! plan with no changes.
//!
//! The test command runs a bounded sample (`KILL_POINTS`, default 3, per
//! test); `scripts/kill-sweep.sh` runs the full sweep (4 × 30 points) and its report is in
//! benchmarks/kill-sweep.md. `KILL_SEED` picks another draw.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::rollouts::{self, events, lease_expiry, values, wait_for_lapse};
use acceptance_tests::scenarios::rollout_config;
use acceptance_tests::{AlbBed, FaultProxy};
use serde_json::Value;

const ADDRESS: &str = "progressive_rollout.web";
const LEASE_TAG: &str = "progressive:rollout-lease";
const FINAL_BAKE: Duration = Duration::from_secs(2);
/// The lease's time to live (`engine::lease::LEASE_TTL`).
const LEASE_TTL: Duration = Duration::from_secs(20);
/// How long the fault proxy holds back the answers to the provider's
/// ModifyListener and AddTags (which take effect at once): shifts,
/// rollbacks and lease writes stay in flight this long, long enough for a
/// kill to land inside them.
const IN_FLIGHT: Duration = Duration::from_millis(800);

/// Seeded, so that a point can be replayed.
type Draw = fastrand::Rng;

fn uniform(draw: &mut Draw, low: f64, high: f64) -> f64 {
    low + (high - low) * draw.f64()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// When a point kills: at a moment after the apply started, or shortly
/// after the provider logs a rollout line (the phases that last
/// milliseconds, a shift and its read-back or a rollback, are hit only so).
#[derive(Debug, Clone, Copy)]
enum Trigger {
    After(Duration),
    OnLog { line: &'static str, then: Duration },
}

#[derive(Debug)]
struct Point {
    create: bool,
    bad: bool,
    provider_only: bool,
    trigger: Trigger,
    alarm_after: Duration,
}

impl Point {
    /// An apply takes about 7 s here: start-up and lease 1.5 s, a shift in
    /// flight, 50% for 2 s, a shift in flight, 100% for the 2 s final bake.
    /// Bad releases' alarms trip within it.
    fn draw(draw: &mut Draw) -> Point {
        let (create, bad, provider_only) = (draw.f64() < 0.35, draw.f64() < 0.35, draw.f64() < 0.25);
        let alarm_after = Duration::from_secs_f64(uniform(draw, 0.5, 4.5));
        let soon = |draw: &mut Draw, most: f64| Duration::from_secs_f64(uniform(draw, 0.0, most));
        let trigger = match uniform(draw, 0.0, 1.0) {
            _ if bad && draw.f64() < 0.5 => {
                Trigger::OnLog { line: "verdict: fail: ", then: soon(draw, IN_FLIGHT.as_secs_f64()) }
            }
            p if p < 0.25 => Trigger::After(Duration::from_secs_f64(uniform(draw, 0.2, 1.5))),
            p if p < 0.45 => Trigger::OnLog { line: "rollout starting", then: soon(draw, IN_FLIGHT.as_secs_f64()) },
            p if p < 0.6 => Trigger::OnLog { line: "verdict: pass: ", then: soon(draw, IN_FLIGHT.as_secs_f64()) },
            p if p < 0.75 => Trigger::OnLog { line: "shift: step 2 of 2: ", then: soon(draw, 2.0) },
            _ => Trigger::After(Duration::from_secs_f64(uniform(draw, 0.2, 6.0))),
        };
        Point { create, bad, provider_only, trigger, alarm_after }
    }
}

/// The Terraform log from a point on, read as it grows.
struct LogTail {
    file: std::fs::File,
    text: String,
}

impl LogTail {
    fn from_end(path: &std::path::Path) -> LogTail {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .create(true)
            .append(true)
            .open(path)
            .expect("open the Terraform log");
        file.seek(SeekFrom::End(0)).expect("seek the log");
        LogTail { file, text: String::new() }
    }

    fn read(&mut self) -> &str {
        use std::io::Read;
        let _ = self.file.read_to_string(&mut self.text);
        &self.text
    }
}

fn config(b: &AlbBed, target: &str) -> String {
    rollout_config(
        &format!("listener_arn = \"{}\"", b.fx.listener_arn),
        target,
        &format!(
            "  linear {{\n    step_percent = 50\n    interval = \"2s\"\n  }}\n  final_bake = \"{}s\"\n  alarm_names = [\"web-5xx\"]\n  poll_interval = \"1s\"",
            FINAL_BAKE.as_secs()
        ),
    )
}

/// The phase an apply was in, from the last rollout line the provider logged
/// (its progress lines: design/0015).
fn phase(log: &str) -> &'static str {
    let last = log.lines().rev().find_map(|line| {
        ["rollout starting", "shift", "verdict: pass", "verdict: fail", "rollback", "verdict: promoted"]
            .into_iter()
            .find(|message| line.contains(&format!("progressive: {message}:")))
            .map(|message| (message, line.contains(" percent=100 ")))
    });
    match last {
        None => "start-up, checks and lease",
        Some(("rollout starting", _)) => "first shift",
        Some(("shift", false)) => "bake",
        Some(("shift", true)) => "final bake",
        Some(("verdict: pass", false)) => "next shift",
        Some(("verdict: pass", true)) => "promotion",
        Some(("verdict: fail", _)) => "rollback",
        Some(_) => "writing state",
    }
}

/// Target groups with traffic, in percent.
fn split(b: &AlbBed) -> BTreeMap<String, u32> {
    b.listener_percentages()
}

/// Kills one apply as `point` says, checks the invariants, converges; one
/// report line.
fn run_point(b: &AlbBed, index: u64, point: &Point) -> String {
    let serving = split(b);
    assert_eq!(serving.len(), 1, "point {index} starts from one origin: {serving:?}");
    let origin = serving.keys().next().unwrap().clone();
    let target = if origin == b.fx.blue_arn { b.fx.green_arn.clone() } else { b.fx.blue_arn.clone() };
    if point.create && b.tf.resource(ADDRESS).is_some() {
        b.tf.run_ok(&["state", "rm", ADDRESS]);
    }
    b.tf.write_config(&config(b, &target));
    b.aws.set_alarm_state("web-5xx", "OK", "quiet");
    let allowed = |s: &BTreeMap<String, u32>| s.keys().all(|tg| *tg == origin || *tg == target);

    let mut log = LogTail::from_end(&b.tf.log_path());
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    let started = Instant::now();
    let mut alarmed = false;
    let mut ended = None;
    let mut kill_at = match point.trigger {
        Trigger::After(after) => Some(started + after),
        Trigger::OnLog { .. } => None,
    };
    // A trigger line that never comes (the apply ended first) kills nothing.
    while kill_at.is_none_or(|at| Instant::now() < at) {
        if point.bad && !alarmed && started.elapsed() >= point.alarm_after {
            b.aws.set_alarm_state("web-5xx", "ALARM", "5xx above 1%");
            alarmed = true;
        }
        if let (None, Trigger::OnLog { line, then }) = (kill_at, point.trigger)
            && log.read().contains(&format!("progressive: {line}"))
        {
            kill_at = Some(Instant::now() + then);
        }
        let now = split(b);
        assert!(allowed(&now), "point {index} {point:?}: traffic on a third target group mid-apply: {now:?}");
        if let Some(out) = running.wait_timeout(Duration::from_millis(if kill_at.is_some() { 2 } else { 20 })) {
            ended = Some(out);
            break;
        }
    }
    let killed_after = started.elapsed();
    let phase = if ended.is_some() { "after the apply ended" } else { phase(log.read()) };
    let how = if point.provider_only { "provider" } else { "apply" };
    if ended.is_none() {
        if point.provider_only {
            running.signal_provider(libc::SIGKILL);
        } else {
            running.signal_group(libc::SIGKILL);
        }
        let _ = running.finish_within(Duration::from_secs(60));
    }

    // What the kill left.
    let left = split(b);
    assert!(allowed(&left), "point {index} {point:?} killed in {phase}: traffic on a third target group: {left:?}");
    let lease = b.aws.listener_tags(&b.fx.listener_arn).remove(LEASE_TAG);
    if let Some(lease) = &lease {
        let expires = lease_expiry(lease);
        let latest = time::OffsetDateTime::now_utc() + LEASE_TTL + Duration::from_secs(2);
        assert!(expires <= latest, "point {index}: a lease that outlives its time to live: {lease}");
    }
    if let Some(state) = b.tf.resource(ADDRESS) {
        check_promotion(&state["values"], &target, index);
    }

    // The next apply converges.
    b.aws.set_alarm_state("web-5xx", "OK", "quiet");
    if let Some(lease) = &lease {
        wait_for_lapse(lease);
    }
    let converging = Instant::now();
    let out = b.tf.apply();
    let took = converging.elapsed();
    assert!(out.success(), "point {index} {point:?} killed in {phase}: the next apply failed:\n{}", out.combined());
    let v = values(&b.tf, ADDRESS);
    assert_eq!(v["status"], "promoted", "point {index}");
    assert_eq!(split(b), BTreeMap::from([(target.clone(), 100)]), "point {index}: all traffic on the target");
    check_promotion(&v, &target, index);
    assert!(!b.aws.listener_tags(&b.fx.listener_arn).contains_key(LEASE_TAG), "point {index}: the lease is released");
    assert_eq!(b.tf.plan_exit_code(), 0, "point {index}: converged");

    let on_target = left.get(&target).copied().unwrap_or(0);
    let history: Vec<String> = events(&v).iter().map(|(e, p)| format!("{e} {p}")).collect();
    format!(
        "{index:>4} {:<6} {:<4} kill {how:<8} at {:>5.1}s in {phase:<27} left {on_target:>3}% on target, lease {:<4} | next apply {:>5.1}s: {}",
        if point.create { "create" } else { "update" },
        if point.bad { "bad" } else { "good" },
        killed_after.as_secs_f64(),
        if lease.is_some() { "left" } else { "none" },
        took.as_secs_f64(),
        history.join(", ")
    )
}

/// A rollout recorded as promoted to `target` has its final bake as the
/// event before the promotion, and when the shift to 100% is in the same
/// history, the bake lasted its whole length after it.
fn check_promotion(v: &Value, target: &str, index: u64) {
    if v["status"] != "promoted" || v["alb"]["target_group_arn"] != target {
        return;
    }
    let history = rollouts::history(v);
    let n = history.len();
    assert!(n >= 2, "point {index}: promoted with history {history:?}");
    let (baked, promoted) = (&history[n - 2], &history[n - 1]);
    assert_eq!(
        (baked["event"].as_str(), baked["percent"].as_f64()),
        (Some("baked"), Some(100.0)),
        "point {index}: promoted without a final bake: {history:?}"
    );
    assert_eq!(promoted["event"], "promoted");
    let at = |e: &Value| {
        time::OffsetDateTime::parse(e["at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
    };
    if let Some(shift) = history.iter().rev().find(|e| e["event"] == "shift" && e["percent"].as_f64() == Some(100.0)) {
        let baked_for = at(baked) - at(shift);
        assert!(
            baked_for >= time::Duration::seconds(1),
            "point {index}: the final bake lasted {baked_for} (schedule {FINAL_BAKE:?})"
        );
    }
}

fn sweep(offset: u64) {
    let points = env_number("KILL_POINTS", 3);
    let seed = env_number("KILL_SEED", 1) * 2 + offset;
    let mut b = AlbBed::start();
    b.aws.put_metric_alarm("web-5xx");
    let proxy =
        FaultProxy::start(&b.emulator, &["elbv2:ModifyListener=slow:1", "elbv2:AddTags=slow:1"], seed, IN_FLIGHT);
    b.tf.set_env("AWS_ENDPOINT_URL", proxy.endpoint());
    let mut draw = Draw::with_seed(seed);
    for index in 0..points {
        let point = Point::draw(&mut draw);
        println!("{}", run_point(&b, index, &point));
    }
    println!("kill sweep (seed {seed}): {points} points, all converged");
}

#[test]
fn kill_sweep_even_seed() {
    sweep(0);
}

#[test]
fn kill_sweep_odd_seed() {
    sweep(1);
}
