//! DescribeAlarms calls made by the provider when many gates watch the same
//! alarms in one apply (results in docs/benchmarks.md).
//! Run: `cargo bench -p acceptance-tests --bench polling`

use acceptance_tests::scenarios::concurrent_gates;

fn main() {
    println!("| concurrent gates | DescribeAlarms calls | calls per gate |");
    println!("|---|---|---|");
    for gates in [1, 10, 50] {
        let calls = concurrent_gates(gates);
        println!("| {gates} | {calls} | {:.2} |", calls as f64 / gates as f64);
    }
}
