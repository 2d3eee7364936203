//! Rollout benchmarks on the emulator, per router (not a timed test; results
//! go in benchmarks/README.md). Run: `cargo bench -p acceptance-tests --bench rollback`.
//!
//! For each router (`alb`, `lambda_alias`, `route53`):
//!
//! 1. Rollback latency: a canary sits at 10% with the alarm gate polled every
//!    second; the alarm is put into ALARM at a random phase of the poll cycle,
//!    and the time until the routing, read back with the independent client,
//!    shows 100% on the origin is measured. 50 trials.
//! 2. Step overhead: a linear rollout of ten steps baking one second each;
//!    the time from each bake's passing last look to the next shift read
//!    back (from the start for the first), taken from the rollout's own
//!    history, is a step's overhead: the shift and its read-back
//!    verification. (Bakes end on the poll grid, so a step also waits up to
//!    one poll interval for its last look; that is the bake, not overhead.)
//!    5 runs.
//!
//! Route 53 waits for each change to be `INSYNC` before it reads back. The
//! emulator reports `INSYNC` after a test-only delay; the benchmark sets it
//! to 0 (`EMULATOR_ROUTE53_INSYNC_DELAY`), so its numbers are the overhead
//! without propagation, which on AWS adds the time Route 53 takes to
//! propagate a change to its name servers (typically under 60 s).
//!
//! The rollout runs on the provider's own engine and routers (the same code
//! `terraform apply` runs), reached through the router registry, talking to
//! moto through the AWS SDK.

use std::time::{Duration, Instant};

use acceptance_tests::{AlbFixture, AwsClient, Emulator, WeightedRecord};
use terraform_provider_progressive::aws::{Clients, connect};
use terraform_provider_progressive::config::ProviderConfig;
use terraform_provider_progressive::engine::SystemClock;
use terraform_provider_progressive::engine::alarms::AlarmGate;
use terraform_provider_progressive::engine::rollout::{self, Event, EventKind, Outcome, Rollout};
use terraform_provider_progressive::engine::schedule::{Schedule, Strategy};
use terraform_provider_progressive::routers::{RouterKind, Routing};
use terraform_provider_progressive::routers::{alb::Alb, lambda_alias::LambdaAlias, route53::Route53};
use tokio_util::sync::CancellationToken;

const ALARM: &str = "bench-5xx";
const TRIALS: usize = 50;
const POLL: Duration = Duration::from_secs(1);

/// One router's routing on the emulator, with its two destinations and the
/// independent client's view of it.
struct Bed {
    name: &'static str,
    routing: Box<dyn Routing>,
    origin: String,
    target: String,
    /// Puts all traffic back on the origin, outside the provider.
    reset: Box<dyn Fn(&AwsClient)>,
    /// The target's share in percent, read back with the independent client.
    target_share: Box<dyn Fn(&AwsClient) -> f64>,
}

fn alb_bed(aws: &AwsClient) -> Bed {
    let fx = AlbFixture::create(aws);
    let (listener, blue, green) = (fx.listener_arn.clone(), fx.blue_arn.clone(), fx.green_arn.clone());
    let (l2, b2, g2) = (listener.clone(), blue.clone(), green.clone());
    Bed {
        name: "alb",
        routing: Alb.import(&listener).expect("a listener ARN").unwrap(),
        origin: blue,
        target: green,
        reset: Box::new(move |aws| aws.set_listener_weights(&listener, &[(&b2, 1)])),
        target_share: Box::new(move |aws| {
            let weights = aws.listener_weights(&l2);
            let total: u32 = weights.values().sum();
            100.0 * f64::from(weights.get(&g2).copied().unwrap_or(0)) / f64::from(total.max(1))
        }),
    }
}

fn lambda_bed(aws: &AwsClient) -> Bed {
    aws.create_function("bench");
    let (v1, v2) = (aws.publish_version("bench"), aws.publish_version("bench"));
    aws.create_alias("bench", "live", &v1, None);
    let (origin, target) = (v1.clone(), v2.clone());
    Bed {
        name: "lambda_alias",
        routing: LambdaAlias.import("bench:live").expect("a name:alias id").unwrap(),
        origin: v1,
        target: v2,
        reset: Box::new(move |aws| {
            aws.update_alias("bench", "live", &origin, None);
        }),
        target_share: Box::new(move |aws| match aws.alias_routing("bench", "live") {
            (primary, _) if primary == target => 100.0,
            (_, Some((version, weight))) if version == target => 100.0 * weight,
            _ => 0.0,
        }),
    }
}

fn route53_bed(aws: &AwsClient) -> Bed {
    let zone = aws.create_hosted_zone("bench.example.com");
    let record = |set: &str, weight| {
        WeightedRecord::new(
            "api.bench.example.com",
            "A",
            set,
            weight,
            60,
            if set == "blue" { "192.0.2.1" } else { "192.0.2.2" },
        )
    };
    aws.create_weighted_record(&zone, &record("blue", 1));
    aws.create_weighted_record(&zone, &record("green", 0));
    let (z1, z2) = (zone.clone(), zone.clone());
    Bed {
        name: "route53",
        routing: Route53.import(&format!("{zone}/api.bench.example.com/A/blue/green")).expect("a record id").unwrap(),
        origin: "blue".into(),
        target: "green".into(),
        reset: Box::new(move |aws| {
            aws.upsert_weighted_record(&z1, &record("blue", 1));
            aws.upsert_weighted_record(&z1, &record("green", 0));
        }),
        target_share: Box::new(move |aws| {
            let weights = aws.record_weights(&z2, "api.bench.example.com", "A");
            let total: u32 = weights.values().sum();
            100.0 * f64::from(weights.get("green").copied().unwrap_or(0)) / f64::from(total.max(1))
        }),
    }
}

fn main() {
    // SAFETY: no other thread exists yet; the SDK and the emulator read these when they start.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("EMULATOR_ROUTE53_INSYNC_DELAY", "0");
    }
    let emulator = Emulator::start();
    let aws = emulator.client();
    aws.put_metric_alarm(ALARM);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoints = ["elbv2", "cloudwatch", "lambda", "route53"].map(|s| (s.to_owned(), emulator.endpoint()));
    let config =
        ProviderConfig { region: Some("us-east-1".into()), endpoints: endpoints.to_vec(), ..ProviderConfig::default() };
    let clients = runtime.block_on(connect(&config)).unwrap();

    println!("| router | measure | runs | median | p99 | max |");
    println!("|---|---|---|---|---|---|");
    for make in [alb_bed, lambda_bed, route53_bed] {
        let bed = make(&aws);
        let latencies = rollback_latency(&runtime, &clients, &aws, &bed);
        let overheads = step_overhead(&runtime, &clients, &aws, &bed);
        acceptance_tests::bench::row(bed.name, "alarm in ALARM → routing reads back 100% origin (poll 1s)", &latencies);
        acceptance_tests::bench::row(
            bed.name,
            "overhead per step: from the bake's last look to the next shift read back",
            &overheads,
        );
    }
}

fn rollout(bed: &Bed, strategy: Strategy, final_bake: Duration) -> Rollout {
    Rollout {
        origin: bed.origin.clone(),
        target: bed.target.clone(),
        schedule: Schedule::new(&strategy, final_bake).unwrap(),
        poll_interval: POLL,
        deadline: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

/// Starts a rollout on its own task; the handle yields its outcome and history.
fn start(
    runtime: &tokio::runtime::Runtime,
    clients: &Clients,
    bed: &Bed,
    plan: Rollout,
) -> tokio::task::JoinHandle<(Outcome, Vec<Event>)> {
    // The router as the resource gets it: connected from the routing.
    let router = bed.routing.connect(clients);
    let alarms = clients.alarms.clone();
    runtime.spawn(async move {
        let names = vec![ALARM.to_owned()];
        let (gate, _) = AlarmGate::resolve(alarms, names).await.unwrap();
        rollout::run(router.as_ref(), &gate, &SystemClock, &plan, 0.0, &CancellationToken::new(), |_| {}).await
    })
}

fn wait_for_target_share(aws: &AwsClient, bed: &Bed, percent: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ((bed.target_share)(aws) - percent).abs() > 1e-6 {
        assert!(Instant::now() < deadline, "{} never showed {percent}% on the target", bed.name);
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn rollback_latency(runtime: &tokio::runtime::Runtime, clients: &Clients, aws: &AwsClient, bed: &Bed) -> Vec<Duration> {
    // A fixed-seed generator spreads the alarm over the poll cycle the same way every run.
    let mut phase = acceptance_tests::bench::phases();
    let mut samples = Vec::with_capacity(TRIALS);
    for trial in 0..TRIALS {
        (bed.reset)(aws);
        aws.set_alarm_state(ALARM, "OK", "bench: reset");
        let handle = start(
            runtime,
            clients,
            bed,
            rollout(bed, Strategy::Canary { percent: 10.0, bake: Duration::from_secs(600) }, Duration::ZERO),
        );
        wait_for_target_share(aws, bed, 10.0);
        std::thread::sleep(phase());
        let tripped = Instant::now();
        aws.set_alarm_state(ALARM, "ALARM", "bench: tripped");
        wait_for_target_share(aws, bed, 0.0);
        samples.push(tripped.elapsed());
        let (outcome, _) = runtime.block_on(handle).unwrap();
        assert!(matches!(outcome, Outcome::Halted(_)), "trial {trial}: {outcome:?}");
        eprintln!("{} rollback trial {trial}: {:?}", bed.name, samples[trial]);
    }
    samples
}

fn step_overhead(runtime: &tokio::runtime::Runtime, clients: &Clients, aws: &AwsClient, bed: &Bed) -> Vec<Duration> {
    aws.set_alarm_state(ALARM, "OK", "bench: healthy");
    (0..5)
        .map(|run| {
            (bed.reset)(aws);
            let second = Duration::from_secs(1);
            let plan = rollout(bed, Strategy::Linear { step_percent: 10.0, interval: second }, second);
            let steps = plan.schedule.steps().len() as u32;
            let started = time::OffsetDateTime::now_utc();
            let (outcome, history) = runtime.block_on(start(runtime, clients, bed, plan)).unwrap();
            assert_eq!(outcome, Outcome::Promoted);
            // Each shift, from the event before it: the run's start or the bake that passed.
            let mut since = started;
            let mut overhead = time::Duration::ZERO;
            for event in &history {
                match event.kind {
                    EventKind::Shift => overhead += event.at - since,
                    EventKind::Baked => since = event.at,
                    _ => {}
                }
            }
            let per_step = Duration::try_from(overhead).unwrap_or_default() / steps;
            eprintln!("{} overhead run {run}: {per_step:?} per step over {steps} steps", bed.name);
            per_step
        })
        .collect()
}
