//! Racing applies: two workspaces (each its own state) start a rollout on
//! the same listener at the same moment, to two different target groups.
//! The winner holds the lease for its 5 s bake, far longer than the two
//! applies' start-up times differ, so every race is a real overlap.
//! The lease must let exactly one of them move traffic; the other fails,
//! saying so, and moves nothing. `RACES` sets how many races (default 50).

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::scenarios::rollout_config;
use acceptance_tests::{AlbBed, Output, Terraform};

const ADDRESS: &str = "progressive_rollout.web";

fn config(b: &AlbBed, target: &str) -> String {
    rollout_config(
        &format!("listener_arn = \"{}\"", b.fx.listener_arn),
        target,
        "  canary {\n    percent = 20\n    bake = \"5s\"\n  }\n  final_bake = \"0s\"\n  poll_interval = \"1s\"",
    )
}

#[test]
fn rollout_racing_applies_exactly_one_moves_traffic() {
    let races: usize = std::env::var("RACES").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
    let b = AlbBed::start();
    let other = Terraform::new(&b.emulator);
    let workspaces = [&b.tf, &other];
    let groups = [b.fx.blue_arn.clone(), b.fx.green_arn.clone(), b.fx.third_arn.clone()];
    let mut wins = [0; 2];
    for race in 0..races {
        let serving = b.listener_percentages();
        assert_eq!(serving.len(), 1, "race {race} starts from one target group: {serving:?}");
        let origin = serving.keys().next().unwrap().clone();
        // Each workspace releases one of the two groups that do not serve.
        let targets: Vec<&String> = groups.iter().filter(|g| **g != origin).collect();
        for (tf, target) in workspaces.iter().zip(&targets) {
            tf.write_config(&config(&b, target));
        }
        let running: Vec<_> = workspaces.iter().map(|tf| tf.spawn(&["apply", "-auto-approve", "-no-color"])).collect();
        // Never both targets at once, and nothing but the origin and one target.
        let mut outputs: Vec<Option<Output>> = vec![None, None];
        let mut running: Vec<_> = running.into_iter().map(Some).collect();
        while outputs.iter().any(Option::is_none) {
            let split = b.listener_percentages();
            let targets_serving = targets.iter().filter(|t| split.contains_key(**t)).count();
            assert!(targets_serving <= 1, "race {race}: both targets serve at once: {split:?}");
            for (slot, out) in running.iter_mut().zip(outputs.iter_mut()) {
                if let Some(done) = slot.as_mut().and_then(|r| r.wait_timeout(Duration::from_millis(25))) {
                    *out = Some(done);
                    *slot = None;
                }
            }
        }
        let outputs: Vec<Output> = outputs.into_iter().map(Option::unwrap).collect();
        let winners: Vec<usize> = (0..2).filter(|i| outputs[*i].success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "race {race}: exactly one apply succeeds:\n--- first ---\n{}\n--- second ---\n{}",
            outputs[0].combined(),
            outputs[1].combined()
        );
        let (winner, loser) = (winners[0], 1 - winners[0]);
        wins[winner] += 1;
        outputs[loser].assert_failed_with(&["Another rollout is running on this routing", "No traffic was moved"]);
        assert_eq!(
            b.listener_percentages(),
            BTreeMap::from([(targets[winner].clone(), 100)]),
            "race {race}: the winner's target serves all"
        );
        let loser_state = workspaces[loser].resource(ADDRESS);
        if let Some(state) = loser_state {
            assert_ne!(
                state["values"]["alb"]["target_group_arn"],
                targets[loser].as_str(),
                "race {race}: the loser records no move"
            );
        }
        assert!(
            !b.aws.listener_tags(&b.fx.listener_arn).contains_key("progressive:rollout-lease"),
            "race {race}: the lease is released"
        );
    }
    println!("{races} races: the first workspace won {}, the second {}; every loser moved nothing", wins[0], wins[1]);
}
