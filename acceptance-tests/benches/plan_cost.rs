//! What `terraform plan` costs with this provider: fifty `progressive_rollout`
//! resources against fifty `terraform_data` (Terraform's built-in resource,
//! no provider process), and where the difference goes (results in
//! benchmarks/README.md). It builds and uses the release binary.
//! Run: `cargo bench -p acceptance-tests --bench plan_cost`
//!
//! Every configuration is planned `RUNS` times (default 7), interleaved, and
//! the median wall time of `terraform plan` is reported:
//!
//! * `terraform_data` ×50 and ×1: the baseline, and Terraform's own cost
//!   per resource.
//! * provider only: the provider block and one `terraform_data`, so the
//!   provider process starts, hands Terraform its schema and is
//!   configured, but plans nothing: the fixed cost of the provider.
//! * `progressive_rollout` ×1 and ×50 (each on its own load balancer in the
//!   emulator, so each plan reads its listener and target group): the cost
//!   per rollout.
//! * `progressive_rollout` ×50 all on the first load balancer: the same
//!   calls against one load balancer (moto's describes scan all it holds).
//! * `progressive_rollout` ×50 with the provider's region known only after
//!   apply (from a `terraform_data`): the plan defers its AWS checks to the
//!   apply, so this is what Terraform and the provider cost without AWS.
//! * `progressive_canary_gate` ×1 and ×50, checks deferred likewise: the same
//!   without AWS for a resource whose schema is a quarter the size, which
//!   shows how much of Terraform's own work per resource grows with it.

use std::time::{Duration, Instant};

use acceptance_tests::{AlbFixture, Emulator, Terraform, use_release_provider};

const N: usize = 50;

const HEADER: &str = "terraform {\n  required_providers {\n    progressive = { source = \"progressive-delivery/progressive\" }\n  }\n}\n";

fn data(n: usize) -> String {
    (0..n).map(|i| format!("resource \"terraform_data\" \"d{i}\" {{\n  input = \"release-{i}\"\n}}\n")).collect()
}

fn rollouts(fixtures: &[AlbFixture]) -> String {
    let body: String = fixtures
        .iter()
        .enumerate()
        .map(|(i, fx)| {
            format!(
                "resource \"progressive_rollout\" \"r{i}\" {{\n  alb {{\n    listener_arn     = \"{}\"\n    target_group_arn = \"{}\"\n  }}\n  canary {{\n    percent = 10\n    bake    = \"5m\"\n  }}\n}}\n",
                fx.listener_arn, fx.green_arn
            )
        })
        .collect();
    format!("{HEADER}provider \"progressive\" {{}}\n{body}")
}

fn gates(n: usize) -> String {
    (0..n).map(|i| format!("resource \"progressive_canary_gate\" \"g{i}\" {{\n  duration    = \"5m\"\n  alarm_names = [\"web-5xx\"]\n}}\n")).collect()
}

/// A provider region known only after apply: the plan checks nothing in AWS.
const DEFERRED: &str = "resource \"terraform_data\" \"region\" {\n  input = \"us-east-1\"\n}\nprovider \"progressive\" {\n  region = terraform_data.region.output\n}";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    use_release_provider(env!("CARGO"));
    let runs: usize = std::env::var("RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(7);

    let emulator = Emulator::start();
    let aws = emulator.client();
    let fixtures: Vec<AlbFixture> = (0..N).map(|_| AlbFixture::create(&aws)).collect();
    let configs = [
        (format!("{N} terraform_data"), format!("{HEADER}{}", data(N))),
        ("1 terraform_data".to_owned(), format!("{HEADER}{}", data(1))),
        ("provider only (1 terraform_data)".to_owned(), format!("{HEADER}provider \"progressive\" {{}}\n{}", data(1))),
        ("1 progressive_rollout".to_owned(), rollouts(&fixtures[..1])),
        (format!("{N} progressive_rollout"), rollouts(&fixtures)),
        (format!("{N} progressive_rollout on one load balancer"), rollouts(&vec![fixtures[0].clone(); N])),
        (
            format!("{N} progressive_rollout, checks deferred"),
            rollouts(&fixtures).replace("provider \"progressive\" {}", DEFERRED),
        ),
        ("1 progressive_canary_gate, checks deferred".to_owned(), format!("{HEADER}{DEFERRED}\n{}", gates(1))),
        (format!("{N} progressive_canary_gate, checks deferred"), format!("{HEADER}{DEFERRED}\n{}", gates(N))),
    ];
    let workspaces: Vec<Terraform> = configs
        .iter()
        .map(|(_, hcl)| {
            let mut tf = Terraform::new(&emulator);
            tf.set_env("TF_LOG", "");
            tf.write_config(hcl);
            tf
        })
        .collect();
    let mut samples = vec![Vec::new(); configs.len()];
    for run in 0..runs {
        for (i, tf) in workspaces.iter().enumerate() {
            let started = Instant::now();
            let out = tf.run(&["plan", "-no-color", "-input=false"]);
            assert!(out.success(), "{}: {}", configs[i].0, out.combined());
            samples[i].push(started.elapsed());
        }
        eprintln!("run {run} done");
    }
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| configuration planned | median `terraform plan` | against {N} terraform_data |");
    println!("|---|---|---|");
    for ((name, _), m) in configs.iter().zip(&medians) {
        println!("| {name} | {:.0} ms | {:.2}× |", ms(*m), m.as_secs_f64() / medians[0].as_secs_f64());
    }
    let per = |many: usize, one: usize| (ms(medians[many]) - ms(medians[one])) / (N - 1) as f64;
    println!(
        "\n{runs} runs each. Fixed cost of the provider (provider only minus 1 terraform_data): {:.0} ms; \
         per terraform_data: {:.1} ms; per progressive_rollout: {:.1} ms ({:.1} ms on one load balancer, \
         {:.1} ms with checks deferred); per progressive_canary_gate, checks deferred: {:.1} ms",
        ms(medians[2]) - ms(medians[1]),
        per(0, 1),
        per(4, 3),
        per(5, 3),
        per(6, 3),
        per(8, 7)
    );
}
