//! Feature flag rollback latency on the emulator (not a timed test; results
//! go in benchmarks/README.md). Run: `cargo bench -p acceptance-tests --bench feature_flag`.
//!
//! A flag is released with a strategy that gives it to 10% more clients
//! every AppConfig minute (one real second here), followed by the
//! provider's own engine and AppConfig adapter with an alarm gate read
//! every second. Once some clients have it, the alarm goes into ALARM at a
//! random phase of the poll cycle (fixed seed); measured: until the
//! deployment, read back with the bed's own client, is ROLLING_BACK or
//! ROLLED_BACK (from then on AppConfig serves every client the previous
//! configuration; a single new client is no proof before that, as most
//! clients of a deployment at 10% get the previous one anyway); and until
//! the engine has the rollback confirmed (StopDeployment, ROLLED_BACK, and
//! its own data-plane read of the previous configuration). 30 trials.

use std::time::{Duration, Instant};

use acceptance_tests::appconfig::{FlagBed, initial_flags};
use serde_json::json;
use terraform_provider_progressive::aws::connect;
use terraform_provider_progressive::config::ProviderConfig;
use terraform_provider_progressive::engine::SystemClock;
use terraform_provider_progressive::engine::alarms::AlarmGate;
use terraform_provider_progressive::engine::deployment::{self, Ending, Follow, Rollback};
use tokio_util::sync::CancellationToken;

const ALARM: &str = "bench-errors";
const TRIALS: usize = 30;
const POLL: Duration = Duration::from_secs(1);

fn main() {
    // SAFETY: no other thread exists yet; the SDK reads these when it starts.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let bed = FlagBed::start();
    let aws = &bed.aws;
    aws.put_metric_alarm(ALARM);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoints = ["cloudwatch", "appconfig", "appconfigdata"].map(|s| (s.to_owned(), bed.emulator.endpoint()));
    let config =
        ProviderConfig { region: Some("us-east-1".into()), endpoints: endpoints.to_vec(), ..ProviderConfig::default() };
    let clients = runtime.block_on(connect(&config)).unwrap();
    let mut enabled = initial_flags();
    enabled["values"]["checkout_v2"] = json!({ "enabled": true });

    let mut phase = acceptance_tests::bench::phases();
    let (mut restored, mut confirmed) = (Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        aws.set_alarm_state(ALARM, "OK", "bench: reset");
        let before =
            runtime.block_on(clients.appconfig.served(&bed.application, &bed.environment, &bed.profile)).unwrap();
        let version = aws.write_flags(&bed.application, &bed.profile, &enabled);
        let number = runtime
            .block_on(clients.appconfig.start(
                &bed.application,
                &bed.environment,
                &bed.profile,
                &bed.slow,
                version,
                "bench",
            ))
            .unwrap();
        let (appconfig, alarms) = (clients.appconfig.clone(), clients.alarms.clone());
        let (application, environment, profile) =
            (bed.application.clone(), bed.environment.clone(), bed.profile.clone());
        let handle = runtime.spawn(async move {
            let (gate, _) = AlarmGate::resolve(alarms, vec![ALARM.to_owned()]).await.unwrap();
            let id = number.to_string();
            let follow = Follow {
                id: &id,
                poll_interval: POLL,
                deadline: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            };
            let deployments = appconfig.deployments(
                &application,
                &environment,
                &profile,
                Some(Box::new(move |served: &[u8]| served == before.as_slice())),
            );
            let (ending, _) =
                deployment::follow(&deployments, &gate, &SystemClock, &follow, &CancellationToken::new(), |_| {}).await;
            (ending, Instant::now())
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while !aws.appconfig_deployment(&bed.application, &bed.environment, i64::from(number))["PercentageComplete"]
            .as_f64()
            .is_some_and(|p| p > 0.0)
        {
            assert!(Instant::now() < deadline, "trial {trial}: no exposure");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(phase());
        let tripped = Instant::now();
        aws.set_alarm_state(ALARM, "ALARM", "bench: tripped");
        while !matches!(
            aws.appconfig_deployment(&bed.application, &bed.environment, i64::from(number))["State"].as_str(),
            Some("ROLLING_BACK" | "ROLLED_BACK")
        ) {
            assert!(tripped.elapsed() < Duration::from_secs(30), "trial {trial}: never restored");
            std::thread::sleep(Duration::from_millis(5));
        }
        restored.push(tripped.elapsed());
        let (ending, ended) = runtime.block_on(handle).unwrap();
        assert!(
            matches!(ending, Ending::Stopped { rollback: Rollback::Confirmed { .. }, .. }),
            "trial {trial}: {ending:?}"
        );
        confirmed.push(ended - tripped);
        eprintln!("trial {trial}: restored {:?}, confirmed {:?}", restored[trial], confirmed[trial]);
    }
    println!("| resource | measure | runs | median | p99 | max |");
    println!("|---|---|---|---|---|---|");
    acceptance_tests::bench::row(
        "feature flag",
        "alarm in ALARM → the deployment reads back rolling back (poll 1s)",
        &restored,
    );
    acceptance_tests::bench::row(
        "feature flag",
        "alarm in ALARM → rollback confirmed by the engine's own read (poll 1s)",
        &confirmed,
    );
}
