//! DescribeAlarms and GetMetricData calls made by the provider when many
//! gates or rollouts watch the same alarms and metric in one apply (results
//! in benchmarks/README.md).
//! Run: `cargo bench -p acceptance-tests --bench polling`

use acceptance_tests::scenarios::{GateReads, concurrent_gates, concurrent_rollouts};

fn main() {
    println!(
        "| resources in one apply | bake | DescribeAlarms calls | GetMetricData calls | calls of each kind per resource |"
    );
    println!("|---|---|---|---|---|");
    let row = |what: String, bake: &str, n: usize, reads: GateReads| {
        let per = |calls: usize| format!("{:.2}", calls as f64 / n as f64);
        println!(
            "| {what} | {bake} | {} | {} | {} and {} |",
            reads.describe_alarms,
            reads.get_metric_data,
            per(reads.describe_alarms),
            per(reads.get_metric_data)
        );
    };
    for n in [1, 10, 50] {
        row(format!("{n} canary gates"), "5s", n, concurrent_gates(n));
    }
    for bake in ["5s", "30s"] {
        for n in [1, 10, 50] {
            row(format!("{n} rollouts"), bake, n, concurrent_rollouts(n, bake));
        }
    }
}
