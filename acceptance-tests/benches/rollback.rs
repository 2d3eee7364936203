//! Rollout benchmarks on the emulator (not a timed test; results go in
//! docs/benchmarks.md). Run: `cargo bench -p acceptance-tests --bench rollback`.
//!
//! 1. Rollback latency: a canary sits at 10% with the alarm gate polled every
//!    second; the alarm is put into ALARM at a random phase of the poll cycle,
//!    and the time until the listener, read back with the independent client,
//!    shows 100% on the origin is measured. 50 trials.
//! 2. Step overhead: a linear rollout of ten steps baking one second each;
//!    the time beyond the ten seconds of bakes, per step, is overhead: the
//!    shift, its read-back verification, and any wait for the shared alarm
//!    poller's next fetch that a bake's last look adds. 5 runs.
//!
//! The rollout runs on the provider's own engine and AWS adapters (the same
//! code `terraform apply` runs), talking to moto through the AWS SDK.

use std::time::{Duration, Instant};

use acceptance_tests::{AlbFixture, AwsClient, Emulator};
use terraform_provider_progressive::aws::{Clients, connect};
use terraform_provider_progressive::config::ProviderConfig;
use terraform_provider_progressive::engine::SystemClock;
use terraform_provider_progressive::engine::alarms::AlarmGate;
use terraform_provider_progressive::engine::rollout::{self, Outcome, Rollout};
use terraform_provider_progressive::engine::schedule::{Schedule, Strategy};
use terraform_provider_progressive::routers::RouterKind;
use terraform_provider_progressive::routers::alb::Alb;
use tokio_util::sync::CancellationToken;

const ALARM: &str = "bench-5xx";
const TRIALS: usize = 50;
const POLL: Duration = Duration::from_secs(1);

fn main() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let fx = AlbFixture::create(&aws);
    aws.put_metric_alarm(ALARM);
    // SAFETY: no other thread exists yet; the SDK reads these when it loads.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = ProviderConfig {
        region: Some("us-east-1".into()),
        endpoints: vec![("elbv2".into(), emulator.endpoint()), ("cloudwatch".into(), emulator.endpoint())],
        ..ProviderConfig::default()
    };
    let clients = runtime.block_on(connect(&config)).unwrap();

    let latencies = rollback_latency(&runtime, &clients, &aws, &fx);
    let overheads = step_overhead(&runtime, &clients, &aws, &fx);

    println!("| measure | runs | median | p99 | max |");
    println!("|---|---|---|---|---|");
    row("alarm in ALARM → listener reads back 100% origin (poll 1s)", &latencies);
    row("overhead per step beyond the bake (shift + verify + gate check)", &overheads);
}

fn row(what: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!("| {what} | {} | {} | {} | {} |", sorted.len(), ms(at(0.5)), ms(at(0.99)), ms(at(1.0)));
}

fn rollout(fx: &AlbFixture, strategy: Strategy, final_bake: Duration) -> Rollout {
    Rollout {
        origin: fx.blue_arn.clone(),
        target: fx.green_arn.clone(),
        schedule: Schedule::new(&strategy, final_bake).unwrap(),
        poll_interval: POLL,
        deadline: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

/// Starts a rollout on its own task; the handle yields its outcome.
fn start(runtime: &tokio::runtime::Runtime, clients: &Clients, fx: &AlbFixture, plan: Rollout) -> tokio::task::JoinHandle<Outcome> {
    // The router as the resource gets it: through the registry's routing.
    let router = Alb.import(&fx.listener_arn).expect("a listener ARN").unwrap().connect(clients);
    let alarms = clients.alarms.clone();
    runtime.spawn(async move {
        let names = vec![ALARM.to_owned()];
        let (gate, _) = AlarmGate::resolve(alarms, names).await.unwrap();
        rollout::run(router.as_ref(), &gate, &SystemClock, &plan, 0.0, &CancellationToken::new(), |_| {}).await.0
    })
}

fn green_percent(aws: &AwsClient, fx: &AlbFixture) -> u32 {
    let weights = aws.listener_weights(&fx.listener_arn);
    let total: u32 = weights.values().sum();
    weights.get(&fx.green_arn).map_or(0, |w| w * 100 / total.max(1))
}

fn wait_for_green(aws: &AwsClient, fx: &AlbFixture, percent: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while green_percent(aws, fx) != percent {
        assert!(Instant::now() < deadline, "the listener never showed {percent}% green");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn rollback_latency(runtime: &tokio::runtime::Runtime, clients: &Clients, aws: &AwsClient, fx: &AlbFixture) -> Vec<Duration> {
    // A fixed-seed generator spreads the alarm over the poll cycle the same way every run.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut phase = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        Duration::from_micros((seed >> 33) % 1_000_000)
    };
    let mut samples = Vec::with_capacity(TRIALS);
    for trial in 0..TRIALS {
        aws.set_listener_weights(&fx.listener_arn, &[(&fx.blue_arn, 1)]);
        aws.set_alarm_state(ALARM, "OK", "bench: reset");
        let handle = start(runtime, clients, fx, rollout(fx, Strategy::Canary { percent: 10.0, bake: Duration::from_secs(600) }, Duration::ZERO));
        wait_for_green(aws, fx, 10);
        std::thread::sleep(phase());
        let tripped = Instant::now();
        aws.set_alarm_state(ALARM, "ALARM", "bench: tripped");
        wait_for_green(aws, fx, 0);
        samples.push(tripped.elapsed());
        let outcome = runtime.block_on(handle).unwrap();
        assert!(matches!(outcome, Outcome::Halted(_)), "trial {trial}: {outcome:?}");
        eprintln!("rollback trial {trial}: {:?}", samples[trial]);
    }
    samples
}

fn step_overhead(runtime: &tokio::runtime::Runtime, clients: &Clients, aws: &AwsClient, fx: &AlbFixture) -> Vec<Duration> {
    aws.set_alarm_state(ALARM, "OK", "bench: healthy");
    (0..5)
        .map(|run| {
            aws.set_listener_weights(&fx.listener_arn, &[(&fx.blue_arn, 1)]);
            let second = Duration::from_secs(1);
            let plan = rollout(fx, Strategy::Linear { step_percent: 10.0, interval: second }, second);
            let steps = plan.schedule.steps().len() as u32;
            let baking = plan.schedule.total_bake();
            let started = Instant::now();
            let outcome = runtime.block_on(start(runtime, clients, fx, plan)).unwrap();
            let per_step = started.elapsed().saturating_sub(baking) / steps;
            assert_eq!(outcome, Outcome::Promoted);
            eprintln!("overhead run {run}: {per_step:?} per step over {steps} steps");
            per_step
        })
        .collect()
}
