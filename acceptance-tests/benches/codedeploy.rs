//! CodeDeploy rollback latency on the emulator (not a timed test; results
//! go in benchmarks/README.md). Run: `cargo bench -p acceptance-tests --bench codedeploy`.
//!
//! A Lambda deployment (`LambdaCanary10Percent30Minutes`, one real second
//! per CodeDeploy minute) holds its canary at 10%, followed by the
//! provider's own engine and CodeDeploy adapter (the code `terraform apply`
//! runs) with an alarm gate read every second. The alarm is put into ALARM at
//! a random phase of the poll cycle (fixed seed), and two times are taken:
//! until the alias, read back with the test bed's independent client, serves
//! the original version alone; and until the engine has the rollback
//! deployment confirmed as succeeded (what the apply waits for before it
//! fails). 30 trials.

use std::time::{Duration, Instant};

use acceptance_tests::codedeploy::{ALIAS, APPLICATION, CodeDeployBed, FUNCTION, GROUP};
use serde_json::json;
use terraform_provider_progressive::aws::connect;
use terraform_provider_progressive::config::ProviderConfig;
use terraform_provider_progressive::engine::SystemClock;
use terraform_provider_progressive::engine::alarms::AlarmGate;
use terraform_provider_progressive::engine::deployment::{self, Ending, Follow, Rollback};
use tokio_util::sync::CancellationToken;

const ALARM: &str = "bench-5xx";
const TRIALS: usize = 30;
const POLL: Duration = Duration::from_secs(1);

fn main() {
    // SAFETY: no other thread exists yet; the SDK reads these when it starts.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent30Minutes", json!({}));
    let aws = &bed.aws;
    aws.put_metric_alarm(ALARM);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoints = ["cloudwatch", "lambda", "codedeploy"].map(|s| (s.to_owned(), bed.emulator.endpoint()));
    let config =
        ProviderConfig { region: Some("us-east-1".into()), endpoints: endpoints.to_vec(), ..ProviderConfig::default() };
    let clients = runtime.block_on(connect(&config)).unwrap();
    let appspec = json!({ "version": 0.0, "Resources": [{ "fn": { "Type": "AWS::Lambda::Function", "Properties": {
        "Name": FUNCTION, "Alias": ALIAS, "CurrentVersion": "1", "TargetVersion": "2" } } }] })
    .to_string();

    let mut phase = acceptance_tests::bench::phases();
    let (mut restored, mut confirmed) = (Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        aws.set_alarm_state(ALARM, "OK", "bench: reset");
        let id = runtime.block_on(clients.codedeploy.create(APPLICATION, GROUP, None, &appspec, "bench")).unwrap();
        let (codedeploy, alarms, follow_id) = (clients.codedeploy.clone(), clients.alarms.clone(), id.clone());
        let handle = runtime.spawn(async move {
            let (gate, _) = AlarmGate::resolve(alarms, vec![ALARM.to_owned()]).await.unwrap();
            let follow = Follow {
                id: &follow_id,
                poll_interval: POLL,
                deadline: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            };
            let (ending, _) =
                deployment::follow(&codedeploy, &gate, &SystemClock, &follow, &CancellationToken::new(), |_| {}).await;
            (ending, Instant::now())
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while !bed.alias().additional.is_some_and(|(_, w)| w > 0.0) {
            assert!(Instant::now() < deadline, "trial {trial}: no canary shift");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(phase());
        let tripped = Instant::now();
        aws.set_alarm_state(ALARM, "ALARM", "bench: tripped");
        while !(bed.alias().function_version == "1" && bed.alias().additional.is_none()) {
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
    println!("| platform | measure | runs | median | p99 | max |");
    println!("|---|---|---|---|---|---|");
    acceptance_tests::bench::row(
        "lambda",
        "alarm in ALARM → alias reads back the original version alone (poll 1s)",
        &restored,
    );
    acceptance_tests::bench::row(
        "lambda",
        "alarm in ALARM → rollback deployment confirmed succeeded (poll 1s)",
        &confirmed,
    );
}
