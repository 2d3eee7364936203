//! Simulation of the canary judgement (no AWS): how often it rolls back a
//! canary that is not worse, and how many canary requests it needs to catch
//! one that is, compared with a naive fixed-sample test repeated at every
//! poll. Results and how to read them: docs/analysis.md.
//!
//! Run: `cargo bench -p terraform-provider-progressive --bench analysis`

use terraform_provider_progressive::engine::judge::{Counts, SequentialJudge};

/// Requests per second across both groups, and seconds between looks.
const RATE: f64 = 50.0;
const POLL_SECONDS: f64 = 10.0;
const BASELINE_ERROR_RATE: f64 = 0.01;
const CONFIDENCE: f64 = 0.99;
/// One-sided z for α = 0.01, for the naive test.
const NAIVE_Z: f64 = 2.326;

/// SplitMix64: small, fast, and reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
    /// Poisson arrivals: exact (Knuth) for small means, normal beyond.
    fn poisson(&mut self, mean: f64) -> u64 {
        if mean < 30.0 {
            let limit = (-mean).exp();
            let (mut k, mut product) = (0, self.uniform());
            while product > limit {
                k += 1;
                product *= self.uniform();
            }
            k
        } else {
            (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64
        }
    }
    /// Exact binomial by geometric jumps between successes: O(n·p).
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if p <= 0.0 || n == 0 {
            return 0;
        }
        let log_q = (1.0 - p).ln();
        let (mut successes, mut position) = (0, 0u64);
        loop {
            position += (self.uniform().ln() / log_q).floor() as u64 + 1;
            if position > n {
                return successes;
            }
            successes += 1;
        }
    }
}

/// One rollout's traffic: the canary's share at each poll.
fn period(rng: &mut Rng, share: f64, canary_error_rate: f64) -> Counts {
    let per_poll = RATE * POLL_SECONDS;
    let canary_requests = rng.poisson(per_poll * share);
    let baseline_requests = rng.poisson(per_poll * (1.0 - share));
    Counts {
        canary_requests,
        canary_errors: rng.binomial(canary_requests, canary_error_rate),
        baseline_requests,
        baseline_errors: rng.binomial(baseline_requests, BASELINE_ERROR_RATE),
    }
}

/// A one-sided two-proportion z-test on everything seen so far, as a naive
/// gate would run at every poll.
fn naive_rejects(t: &Counts) -> bool {
    let (nc, nb) = (t.canary_requests as f64, t.baseline_requests as f64);
    if nc == 0.0 || nb == 0.0 {
        return false;
    }
    let (pc, pb) = (t.canary_errors as f64 / nc, t.baseline_errors as f64 / nb);
    let pooled = (t.canary_errors + t.baseline_errors) as f64 / (nc + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nb)).sqrt();
    se > 0.0 && (pc - pb) / se > NAIVE_Z
}

#[derive(Clone, Copy)]
enum Method {
    Sequential { max_increase: f64 },
    Naive,
}

/// Runs one rollout through `shares` (one entry per poll); returns the
/// canary requests seen when it rolled back, or `None` if it never did.
fn run(rng: &mut Rng, method: Method, shares: &[f64], canary_error_rate: f64) -> Option<u64> {
    let mut judge = match method {
        Method::Sequential { max_increase } => Some(SequentialJudge::new(max_increase, CONFIDENCE).unwrap()),
        Method::Naive => None,
    };
    let mut totals = Counts::default();
    for &share in shares {
        let counts = period(rng, share, canary_error_rate);
        totals += counts;
        let rejected = match judge.as_mut() {
            Some(judge) => {
                judge.observe(counts);
                judge.judgement().failed()
            }
            None => naive_rejects(&totals),
        };
        if rejected {
            return Some(totals.canary_requests);
        }
    }
    None
}

/// A linear rollout: 10% to 90% in 10-point steps, 5 minutes each, looking
/// every poll. (At 100% there is no baseline left to compare with.)
fn linear_schedule() -> Vec<f64> {
    let polls_per_step = (300.0 / POLL_SECONDS) as usize;
    (1..=9).flat_map(|step| std::iter::repeat_n(f64::from(step) / 10.0, polls_per_step)).collect()
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    (!values.is_empty()).then(|| values[values.len() / 2])
}

fn main() {
    let mut rng = Rng(0x5eed_cafe);
    let schedule = linear_schedule();
    let alpha = 1.0 - CONFIDENCE;

    println!("## False rollbacks: canary as good as the baseline ({}% errors), linear 10%..90% over 45 min, a look every {POLL_SECONDS}s\n", BASELINE_ERROR_RATE * 100.0);
    println!("| judgement | canary error rate | rollouts | rolled back | rate | bound |");
    println!("|---|---|---|---|---|---|");
    let runs = 10_000;
    for (name, method, canary_rate) in [
        ("sequential, max_increase 0", Method::Sequential { max_increase: 0.0 }, BASELINE_ERROR_RATE),
        ("sequential, max_increase 0.25", Method::Sequential { max_increase: 0.25 }, BASELINE_ERROR_RATE),
        ("sequential, max_increase 0.25", Method::Sequential { max_increase: 0.25 }, BASELINE_ERROR_RATE * 1.25),
        ("naive z-test at every look", Method::Naive, BASELINE_ERROR_RATE),
    ] {
        let rolled_back = (0..runs).filter(|_| run(&mut rng, method, &schedule, canary_rate).is_some()).count();
        let bound = if matches!(method, Method::Naive) { "none".to_owned() } else { format!("≤ {alpha:.2}") };
        println!("| {name} | {:.2}% | {runs} | {rolled_back} | {:.4} | {bound} |", canary_rate * 100.0, rolled_back as f64 / runs as f64);
    }

    println!("\n## Detection: canary requests until rollback, at a fixed canary share (3-hour horizon)\n");
    println!("| canary error rate | canary share | sequential (max_increase 0): median requests | detected | naive: median requests | detected |");
    println!("|---|---|---|---|---|---|");
    let horizon = (3.0 * 3600.0 / POLL_SECONDS) as usize;
    let detection_runs = 1_000;
    for multiple in [2.0, 1.5, 1.25] {
        for share in [0.01, 0.05, 0.10] {
            let shares = vec![share; horizon];
            let mut cells = Vec::new();
            for method in [Method::Sequential { max_increase: 0.0 }, Method::Naive] {
                let found: Vec<u64> = (0..detection_runs)
                    .filter_map(|_| run(&mut rng, method, &shares, BASELINE_ERROR_RATE * multiple))
                    .collect();
                let detected = found.len() as f64 / detection_runs as f64;
                cells.push(format!("{} | {:.0}%", median(found).map_or("–".into(), |m| m.to_string()), detected * 100.0));
            }
            println!("| {multiple}× baseline | {:.0}% | {} | {} |", share * 100.0, cells[0], cells[1]);
        }
    }
}
