//! DescribeAlarms calls made by the provider when many gates or rollouts watch the same
//! alarms in one apply (results in docs/benchmarks.md).
//! Run: `cargo bench -p acceptance-tests --bench polling`

use acceptance_tests::scenarios::{concurrent_gates, concurrent_rollouts};

fn main() {
    println!("| resources in one apply | DescribeAlarms calls | calls per resource |");
    println!("|---|---|---|");
    for (kind, run) in [("canary gates", concurrent_gates as fn(usize) -> usize), ("rollouts", concurrent_rollouts)] {
        for n in [1, 10, 50] {
            let calls = run(n);
            println!("| {n} {kind} | {calls} | {:.2} |", calls as f64 / n as f64);
        }
    }
}
