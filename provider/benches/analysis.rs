//! Simulation of the canary analysis (no AWS): the provider's own rollout
//! loop, bakes, analysis gate and judgement, on a simulated clock, against a
//! simulated CloudWatch that serves production-shaped data (bursts, rate
//! noise, noisy hosts, late data points, incidents while traffic moves).
//! Results and how to read them: design/analysis.md.
//!
//! Run: `cargo bench -p terraform-provider-progressive --bench analysis`
//! (`RUNS=1000` for a quicker, coarser pass; the docs use the default).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use terraform_provider_progressive::engine::Clock;
use terraform_provider_progressive::engine::GateError;
use terraform_provider_progressive::engine::analysis::{AnalysisGate, AnalysisSettings, GroupCounts, MissingData};
use terraform_provider_progressive::engine::judge::{Counts, Form, JudgeSettings, SequentialJudge};
use terraform_provider_progressive::engine::rollout::{self, Cause, Outcome, Rollout};
use terraform_provider_progressive::engine::schedule::{Schedule, Strategy};
use terraform_provider_progressive::engine::traffic::{RouterError, Split, TrafficRouter};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

const BASELINE_ERROR_RATE: f64 = 0.01;
/// Traffic is drawn in slices this long; the split in force mid-slice applies.
const SLICE: Duration = Duration::from_secs(5);
/// Periods of history before the rollout (the dispersion check reads 30).
const HISTORY: u32 = 31;

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
    /// A multiplier with mean 1 and coefficient of variation `cv` (gamma,
    /// by Marsaglia–Tsang); exactly 1 when `cv` is 0.
    fn noise(&mut self, cv: f64) -> f64 {
        if cv <= 0.0 {
            return 1.0;
        }
        let shape = 1.0 / (cv * cv);
        let boost = if shape < 1.0 { self.uniform().powf(1.0 / shape) } else { 1.0 };
        let d = shape.max(1.0) - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v > 0.0 && self.uniform().ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return boost * d * v / shape;
            }
        }
    }
}

/// How production data break the model of independent errors.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    /// Share of errors that come in bursts, and the burst size.
    bursts: Option<(f64, u64)>,
    /// Per-minute noise on the error rate shared by both groups, and each group's own.
    shared_noise: f64,
    group_noise: f64,
    /// Hosts per group, each with its own per-minute noise.
    hosts: Option<(u32, f64)>,
    /// Share of error data points published late, and how late after the
    /// period's end (in periods, uniform).
    late: Option<(f64, (f64, f64))>,
    /// Incidents per hour on both groups: how long, and how many times the error rate.
    incidents: Option<(f64, Duration, f64)>,
}

#[derive(Debug, Clone, Copy)]
struct Timing {
    name: &'static str,
    period: Duration,
    poll: Duration,
    requests_per_second: f64,
    /// Step length of the linear rollout, and of the canary step.
    step: Duration,
    timeout: Duration,
    /// How long after its period ends a data point can be read.
    publish_delay: Duration,
}

/// What the acceptance tests use against the emulator (the analysis there
/// reads 5-second periods the simulator publishes every second).
const TEST_BED: Timing = Timing {
    name: "test bed (5 s periods, 1 s looks, 100 requests/s, 30-second steps, 15-minute timeout)",
    period: Duration::from_secs(5),
    poll: Duration::from_secs(1),
    requests_per_second: 100.0,
    step: Duration::from_secs(30),
    timeout: Duration::from_secs(900),
    publish_delay: Duration::from_secs(1),
};

const PRODUCTION: Timing = Timing {
    name: "production (60 s periods, 10 s looks, 50 requests/s, 5-minute steps, 60-minute timeout)",
    period: Duration::from_secs(60),
    poll: Duration::from_secs(10),
    requests_per_second: 50.0,
    step: Duration::from_secs(300),
    timeout: Duration::from_secs(3600),
    publish_delay: Duration::from_secs(15),
};

/// Simulated time shared by the clock and the router.
#[derive(Clone)]
struct SimTime(Arc<Mutex<OffsetDateTime>>);

impl Clock for SimTime {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
    async fn sleep(&self, duration: Duration) {
        *self.0.lock().unwrap() += duration;
    }
}

/// A router that applies splits at once and tells the world when.
struct SimRouter {
    time: SimTime,
    /// (from when, the canary's share in percent), in order.
    shares: Arc<Mutex<Vec<(OffsetDateTime, f64)>>>,
}

#[async_trait]
impl TrafficRouter for SimRouter {
    async fn read(&self) -> Result<Split, RouterError> {
        let percent = self.shares.lock().unwrap().last().map_or(0.0, |s| s.1);
        Ok(Split::between("baseline", "canary", percent))
    }
    async fn route(&self, split: &Split, _: &CancellationToken) -> Result<(), RouterError> {
        self.shares.lock().unwrap().push((self.time.now(), split.percent_of("canary")));
        Ok(())
    }
    fn describe(&self) -> String {
        "the simulated router".into()
    }
}

/// One published data point of one period: its value and when it can be read.
#[derive(Default, Clone, Copy)]
struct Point {
    value: u64,
    readable_at: Option<OffsetDateTime>,
}

/// A simulated CloudWatch: generates traffic slice by slice up to the time
/// it is asked at, and answers with the points published by then.
struct Store {
    time: SimTime,
    shares: Arc<Mutex<Vec<(OffsetDateTime, f64)>>>,
    state: Mutex<Generator>,
}

struct Generator {
    rng: Rng,
    shape: Shape,
    timing: Timing,
    /// The canary's error rate over the baseline's, and from when.
    canary_multiple: f64,
    onset: OffsetDateTime,
    generated_to: OffsetDateTime,
    /// Per period start: canary requests, canary errors, baseline requests, baseline errors.
    periods: BTreeMap<OffsetDateTime, [Point; 4]>,
    /// Noise of the current minute: shared, per group, per host.
    noise_minute: i64,
    noise: (f64, [f64; 2]),
    incident_until: OffsetDateTime,
}

impl Generator {
    fn period_start(&self, t: OffsetDateTime) -> OffsetDateTime {
        let p = self.timing.period.as_secs() as i64;
        OffsetDateTime::from_unix_timestamp(t.unix_timestamp().div_euclid(p) * p).unwrap()
    }

    fn redraw_noise(&mut self, minute: i64) {
        if minute == self.noise_minute {
            return;
        }
        self.noise_minute = minute;
        let shared = self.rng.noise(self.shape.shared_noise);
        let mut groups = [1.0; 2];
        for group in &mut groups {
            *group = self.rng.noise(self.shape.group_noise);
            if let Some((hosts, cv)) = self.shape.hosts {
                *group *= (0..hosts).map(|_| self.rng.noise(cv)).sum::<f64>() / f64::from(hosts);
            }
        }
        self.noise = (shared, groups);
    }

    /// Traffic of the slice starting at `t` with the canary at `percent`.
    fn slice(&mut self, t: OffsetDateTime, percent: f64) {
        self.redraw_noise(t.unix_timestamp().div_euclid(60));
        let seconds = SLICE.as_secs_f64();
        if let Some((per_hour, length, _)) = self.shape.incidents
            && t >= self.incident_until
            && self.rng.uniform() < per_hour * seconds / 3600.0
        {
            self.incident_until = t + length;
        }
        let incident = match self.shape.incidents {
            Some((_, _, multiple)) if t < self.incident_until => multiple,
            _ => 1.0,
        };
        let start = self.period_start(t);
        for (group, share) in [(0, percent / 100.0), (1, 1.0 - percent / 100.0)] {
            let requests = self.rng.poisson(self.timing.requests_per_second * seconds * share);
            let regression = if group == 0 && t >= self.onset { self.canary_multiple } else { 1.0 };
            let expected =
                requests as f64 * BASELINE_ERROR_RATE * regression * incident * self.noise.0 * self.noise.1[group];
            let errors = match self.shape.bursts {
                Some((fraction, size)) => {
                    self.rng.poisson(expected * (1.0 - fraction))
                        + size * self.rng.poisson(expected * fraction / size as f64)
                }
                None => self.rng.poisson(expected),
            };
            let points = self.periods.entry(start).or_default();
            points[2 * group].value += requests;
            points[2 * group + 1].value += errors;
        }
    }

    fn generate_to(&mut self, now: OffsetDateTime, shares: &[(OffsetDateTime, f64)]) {
        while self.generated_to + SLICE <= now {
            let t = self.generated_to;
            let middle = t + SLICE / 2;
            let percent = shares.iter().rev().find(|(at, _)| *at <= middle).map_or(0.0, |s| s.1);
            self.slice(t, percent);
            self.generated_to += SLICE;
            // A period is published once it is over: on time its timing's
            // delay after its end, some error points late.
            let start = self.period_start(t);
            if self.generated_to == start + self.timing.period {
                let end = self.generated_to;
                for metric in 0..4 {
                    let late = match self.shape.late {
                        Some((fraction, (from, to))) if metric % 2 == 1 && self.rng.uniform() < fraction => {
                            (from + (to - from) * self.rng.uniform()) * self.timing.period.as_secs_f64()
                        }
                        _ => self.timing.publish_delay.as_secs_f64(),
                    };
                    let point = &mut self.periods.get_mut(&start).unwrap()[metric];
                    point.readable_at = Some(end + Duration::from_secs_f64(late));
                }
            }
        }
    }
}

impl GroupCounts for &Store {
    async fn counts(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        _: Duration,
    ) -> Result<Vec<(OffsetDateTime, Counts)>, GateError> {
        let now = self.time.now();
        let mut generator = self.state.lock().unwrap();
        generator.generate_to(now, &self.shares.lock().unwrap());
        let seen = |p: &Point| if p.readable_at.is_some_and(|at| at <= now) { p.value } else { 0 };
        Ok(generator
            .periods
            .range(from..to)
            .map(|(start, p)| {
                (
                    *start,
                    Counts {
                        canary_requests: seen(&p[0]),
                        canary_errors: seen(&p[1]),
                        baseline_requests: seen(&p[2]),
                        baseline_errors: seen(&p[3]),
                    },
                )
            })
            .collect())
    }
}

/// What one simulated rollout did.
#[derive(Debug, Clone, Copy)]
struct Run {
    promoted: bool,
    /// Rolled back by the analysis (not by the timeout).
    judged_bad: bool,
    minutes: f64,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    strategy: Strat,
    canary_multiple: f64,
    /// When the regression begins, as a share of the linear rollout's nine steps.
    onset: f64,
    max_increase: f64,
    shape: Shape,
    timing: Timing,
}

#[derive(Debug, Clone, Copy)]
enum Strat {
    /// 10% to 90% in 10-point steps.
    Linear,
    /// One 10% step.
    Canary,
}

fn simulate(case: &Case, seed: u64) -> Run {
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let mut rng = Rng(seed);
    // Rollouts start anywhere within a period, so shifts fall mid-period.
    let offset = Duration::from_secs_f64(rng.uniform() * case.timing.period.as_secs_f64());
    let time = SimTime(Arc::new(Mutex::new(start + offset)));
    let shares = Arc::new(Mutex::new(Vec::new()));
    let history_start = start - case.timing.period * HISTORY;
    let store = Store {
        time: time.clone(),
        shares: shares.clone(),
        state: Mutex::new(Generator {
            rng,
            shape: case.shape,
            timing: case.timing,
            canary_multiple: case.canary_multiple,
            onset: start + offset + case.timing.step.mul_f64(9.0 * case.onset),
            generated_to: history_start,
            periods: BTreeMap::new(),
            noise_minute: i64::MIN,
            noise: (1.0, [1.0; 2]),
            incident_until: history_start,
        }),
    };
    let strategy = match case.strategy {
        Strat::Linear => Strategy::Linear { step_percent: 10.0, interval: case.timing.step },
        Strat::Canary => Strategy::Canary { percent: 10.0, bake: case.timing.step },
    };
    let schedule = Schedule::new(&strategy, Duration::ZERO).unwrap();
    let settings = AnalysisSettings {
        label: "5xx".into(),
        max_increase: case.max_increase,
        rule_out_increase: 1.0,
        confidence: 0.99,
        min_requests: 200,
        period: case.timing.period,
        on_missing_data: MissingData::Wait,
        form: None,
        steps: schedule.steps().len(),
    };
    let began = time.now();
    let rollout = Rollout {
        origin: "baseline".into(),
        target: "canary".into(),
        schedule,
        poll_interval: case.timing.poll,
        deadline: began + case.timing.timeout,
    };
    let router = SimRouter { time: time.clone(), shares };
    let gate = AnalysisGate::new(&store, &time, settings).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (outcome, _) =
        runtime.block_on(rollout::run(&router, &gate, &time, &rollout, 0.0, &CancellationToken::new(), |_| {}));
    let minutes = (time.now() - began).as_seconds_f64() / 60.0;
    match outcome {
        Outcome::Promoted => Run { promoted: true, judged_bad: false, minutes },
        Outcome::Halted(halt) => Run { promoted: false, judged_bad: matches!(halt.cause, Cause::Gate(_)), minutes },
    }
}

/// Runs `runs` rollouts of `case` on two threads.
fn sample(case: &Case, runs: u64, seed: u64) -> Vec<Run> {
    std::thread::scope(|s| {
        let halves: Vec<_> = (0..2u64)
            .map(|half| {
                s.spawn(move || {
                    (half..runs).step_by(2).map(|i| simulate(case, seed ^ (i * 0x9e37_79b9 + 1))).collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() { f64::NAN } else { values[values.len() / 2] }
}

fn share(runs: &[Run], f: impl Fn(&Run) -> bool) -> f64 {
    runs.iter().filter(|r| f(r)).count() as f64 / runs.len() as f64
}

fn shapes() -> Vec<(&'static str, Shape)> {
    let none = Shape::default();
    vec![
        ("independent errors (the model)", none),
        ("10% of errors in bursts of 5", Shape { bursts: Some((0.1, 5)), ..none }),
        ("25% of errors in bursts of 20", Shape { bursts: Some((0.25, 20)), ..none }),
        ("shared per-minute rate noise, CV 0.5", Shape { shared_noise: 0.5, ..none }),
        ("each group's own per-minute rate noise, CV 0.5", Shape { group_noise: 0.5, ..none }),
        ("4 hosts per group, per-minute host noise CV 1", Shape { hosts: Some((4, 1.0)), ..none }),
        ("10% of error points 1 to 1.83 periods late (60–110 s)", Shape { late: Some((0.1, (1.0, 1.83))), ..none }),
        (
            "incidents (4/h, 30 s, 10× errors) on both groups",
            Shape { incidents: Some((4.0, Duration::from_secs(30), 10.0)), ..none },
        ),
        (
            "all of the above at once",
            Shape {
                bursts: Some((0.25, 20)),
                shared_noise: 0.5,
                group_noise: 0.0,
                hosts: Some((4, 1.0)),
                late: Some((0.1, (1.0, 1.83))),
                incidents: Some((4.0, Duration::from_secs(30), 10.0)),
            },
        ),
    ]
}

fn main() {
    let runs: u64 = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(10_000);
    let timing = PRODUCTION;
    println!(
        "Timing: {}. Baseline errors {}%, confidence 0.99, rule_out_increase 1, min_requests 200, {runs} rollouts per row.\n",
        timing.name,
        BASELINE_ERROR_RATE * 100.0
    );

    println!("### False rollbacks: a canary exactly as good as its baseline, linear 10%..90%\n");
    println!(
        "| data | max_increase | rolled back by the analysis | bound | promoted | held to the timeout | median minutes to promotion |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, shape) in shapes() {
        for max_increase in [0.0, 0.25] {
            let case = Case { strategy: Strat::Linear, canary_multiple: 1.0, onset: 0.0, max_increase, shape, timing };
            let results = sample(&case, runs, 0x5eed);
            let promoted: Vec<f64> = results.iter().filter(|r| r.promoted).map(|r| r.minutes).collect();
            println!(
                "| {name} | {max_increase} | {:.4} | ≤ 0.01 | {:.1}% | {:.1}% | {:.1} |",
                share(&results, |r| r.judged_bad),
                100.0 * share(&results, |r| r.promoted),
                100.0 * share(&results, |r| !r.promoted && !r.judged_bad),
                median(promoted)
            );
        }
    }

    println!("\n### Regressions: caught before promotion (default settings)\n");
    println!(
        "| timing | rollout | canary | data | rolled back by the analysis | held to the timeout | promoted | median minutes to the rollback (all runs; never = timeout) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let regressions = [
        ("one 10% step", Strat::Canary, 2.0, 0.0, "2× from the start"),
        ("linear 10%..90%", Strat::Linear, 2.0, 0.0, "2× from the start"),
        ("linear 10%..90%", Strat::Linear, 2.0, 5.0 / 9.0, "2× from step 6 of 9"),
        ("linear 10%..90%", Strat::Linear, 1.5, 0.0, "1.5× from the start"),
    ];
    for timing in [PRODUCTION, TEST_BED] {
        for (rollout, strategy, multiple, onset, what) in regressions {
            for (name, shape) in [shapes()[0], shapes()[8]] {
                let case = Case { strategy, canary_multiple: multiple, onset, max_increase: 0.25, shape, timing };
                let results = sample(&case, runs, 0xbad);
                let minutes = median(
                    results
                        .iter()
                        .map(|r| if r.promoted { timing.timeout.as_secs_f64() / 60.0 } else { r.minutes })
                        .collect(),
                );
                println!(
                    "| {} | {rollout} | {what} | {name} | {:.1}% | {:.1}% | {:.1}% | {minutes:.1} |",
                    timing.name.split(" (").next().unwrap_or_default(),
                    100.0 * share(&results, |r| r.judged_bad),
                    100.0 * share(&results, |r| !r.promoted && !r.judged_bad),
                    100.0 * share(&results, |r| r.promoted)
                );
            }
        }
    }

    oracle_comparison(runs);
}

/// Canary requests until a 2× regression is caught at a fixed share, with
/// independent errors: the judgement (both forms) against the sequential
/// probability ratio test that knows the true ratio (the oracle).
fn oracle_comparison(runs: u64) {
    println!(
        "\n### Canary requests to catch a 2× regression at a fixed share, against an oracle (max_increase 0, 60 s periods, 50 requests/s)\n"
    );
    println!("| canary share | oracle SPRT: median | counting form: median | ratio | robust form: median | ratio |");
    println!("|---|---|---|---|---|---|");
    let horizon = 600;
    for share in [0.01, 0.05, 0.10, 0.25] {
        let mut medians = Vec::new();
        for method in [None, Some(Form::Counting { dispersion: 1.0 }), Some(Form::Periods)] {
            let mut rng = Rng(0x0c1e);
            let found: Vec<f64> = (0..runs)
                .map(|_| {
                    let mut judge = method.map(|form| {
                        let mut j = SequentialJudge::new(JudgeSettings {
                            max_increase: 0.0,
                            rule_out_increase: 1.0,
                            confidence: 0.99,
                            form,
                            steps: 1,
                        })
                        .unwrap();
                        j.begin_step();
                        j
                    });
                    let (mut log_ratio, mut requests) = (0.0, 0u64);
                    for _ in 0..horizon {
                        let nc = rng.poisson(50.0 * 60.0 * share);
                        let nb = rng.poisson(50.0 * 60.0 * (1.0 - share));
                        let counts = Counts {
                            canary_requests: nc,
                            canary_errors: rng.poisson(nc as f64 * 0.02),
                            baseline_requests: nb,
                            baseline_errors: rng.poisson(nb as f64 * 0.01),
                        };
                        requests += nc;
                        let caught = match judge.as_mut() {
                            Some(j) => {
                                j.observe(counts, 0);
                                j.judgement().failed()
                            }
                            None => {
                                let (c, b) = (nc as f64, nb as f64);
                                let (q0, q1) = (c / (c + b), 2.0 * c / (2.0 * c + b));
                                if c > 0.0 && b > 0.0 {
                                    log_ratio += counts.canary_errors as f64 * (q1 / q0).ln()
                                        + counts.baseline_errors as f64 * ((1.0 - q1) / (1.0 - q0)).ln();
                                }
                                log_ratio >= 100f64.ln()
                            }
                        };
                        if caught {
                            return requests as f64;
                        }
                    }
                    requests as f64
                })
                .collect();
            medians.push(median(found));
        }
        println!(
            "| {:.0}% | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
            share * 100.0,
            medians[0],
            medians[1],
            medians[1] / medians[0],
            medians[2],
            medians[2] / medians[0]
        );
    }
}
