//! What the benchmark programs share: latency rows for benchmarks/README.md
//! and a fixed-seed spread of moments over a poll cycle.

use std::time::Duration;

/// Prints one Markdown row: `who | what | runs | median | p99 | max`.
pub fn row(who: &str, what: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!("| {who} | {what} | {} | {} | {} | {} |", sorted.len(), ms(at(0.5)), ms(at(0.99)), ms(at(1.0)));
}

/// Moments within one second, the same sequence every run (a linear
/// congruential generator with a fixed seed): where in the poll cycle a
/// trial trips its alarm.
pub fn phases() -> impl FnMut() -> Duration {
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        Duration::from_micros((seed >> 33) % 1_000_000)
    }
}
