//! The provider's memory and CPU while fifty rollouts bake in one apply
//! (results in benchmarks/README.md). It builds and uses the release binary.
//! Run: `cargo bench -p acceptance-tests --bench resources`
//!
//! Fifty rollouts, each on its own load balancer, all watching the same
//! three alarms and one metric threshold with a look every second, shift
//! all at once (`-parallelism=50`) and bake 60 s. The provider process is
//! sampled every 500 ms from /proc: resident memory (VmRSS) and CPU time
//! (utime + stime). "Baking" is from the moment all fifty have logged their
//! shift to 100% until the first logs its promotion.

use std::time::{Duration, Instant};

use acceptance_tests::scenarios::concurrent_rollouts_bed;
use acceptance_tests::use_release_provider;

const ROLLOUTS: usize = 50;

/// Resident memory in KiB and CPU time in clock ticks of process `pid`.
fn sample(pid: libc::pid_t) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((rss, ticks))
}

fn main() {
    use_release_provider(env!("CARGO"));

    let (_emulator, mut tf) = concurrent_rollouts_bed(ROLLOUTS, "60s");
    tf.set_env("TF_LOG", "INFO");
    let mut running = tf.spawn(&["apply", "-auto-approve", "-no-color", &format!("-parallelism={ROLLOUTS}")]);
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let started = Instant::now();
    let (mut peak_rss, mut baking_rss, mut baking_from) = (0u64, Vec::new(), None);
    let mut pid = None;
    let out = loop {
        if let Some(out) = running.wait_timeout(Duration::from_millis(500)) {
            break out;
        }
        // Terraform starts the provider more than once (schema, plan, apply):
        // follow the one running now.
        let Some((rss, ticks)) = pid.and_then(sample).or_else(|| {
            pid = running.provider_pids().first().copied();
            pid.and_then(sample)
        }) else {
            continue;
        };
        peak_rss = peak_rss.max(rss);
        let log = tf.log();
        let all_shifted = log.matches("progressive: shift: ").count() >= ROLLOUTS;
        let promoting = log.contains("progressive: verdict: promoted: ");
        if all_shifted && !promoting {
            baking_from.get_or_insert((Instant::now(), ticks));
            baking_rss.push(rss);
        } else if promoting && let Some((from, from_ticks)) = baking_from.take() {
            let cpu = (ticks - from_ticks) as f64 / ticks_per_second / from.elapsed().as_secs_f64();
            baking_rss.sort_unstable();
            println!(
                "| rollouts | baking for | provider RSS while baking, median | peak RSS, whole apply so far | CPU while baking |"
            );
            println!("|---|---|---|---|---|");
            println!(
                "| {ROLLOUTS} | {:.0} s | {:.1} MiB | {:.1} MiB | {:.2}% of one core |",
                from.elapsed().as_secs_f64(),
                baking_rss[baking_rss.len() / 2] as f64 / 1024.0,
                peak_rss as f64 / 1024.0,
                cpu * 100.0
            );
        }
    };
    assert!(out.success(), "{}", out.combined());
    println!(
        "apply took {:.0} s; peak provider RSS {:.1} MiB",
        started.elapsed().as_secs_f64(),
        peak_rss as f64 / 1024.0
    );
}
