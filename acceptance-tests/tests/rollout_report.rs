//! What a rollout tells people: the report it writes (`report_path`), read
//! back and rendered in a real headless Chromium; the INFO progress lines in
//! `TF_LOG`; and how short the next release's plan is.

use std::time::Duration;

use acceptance_tests::browser::{self, Browser};
use acceptance_tests::rollouts::{self, wait_until};
use acceptance_tests::scenarios::rollout_config;
use acceptance_tests::{AlbBed, Terraform};
use serde_json::Value;

const ADDRESS: &str = "progressive_rollout.web";

fn values(tf: &Terraform) -> Value {
    rollouts::values(tf, ADDRESS)
}

fn green_percent(b: &AlbBed) -> u32 {
    b.listener_percentages().get(&b.fx.green_arn).copied().unwrap_or(0)
}

/// A 20% canary that bakes 3s, then 100% with `final_bake`, gated by the
/// alarm `web-5xx`, with `extra` settings.
fn canary_to(b: &AlbBed, target: &str, final_bake: &str, extra: &str) -> String {
    rollout_config(
        &format!("listener_arn = \"{}\"", b.fx.listener_arn),
        target,
        &format!(
            "  canary {{\n    percent = 20\n    bake = \"3s\"\n  }}\n  final_bake = \"{final_bake}\"\n  alarm_names = [\"web-5xx\"]\n  poll_interval = \"1s\"\n{extra}"
        ),
    )
}

/// A rollout that passes its canary and fails its final bake: the report
/// shows both steps, the looks, the verdicts and the rollback, the way a
/// browser lays them out; `TF_LOG=INFO` shows one line per shift, look and
/// verdict.
#[test]
fn rollout_report_of_a_rollback_shows_each_step_in_a_browser_and_the_log() {
    let mut b = AlbBed::start();
    b.aws.put_metric_alarm("web-5xx");
    // Provider log lines on Terraform's stderr, as a person running apply sees them.
    b.tf.set_env("TF_LOG", "INFO").set_env("TF_LOG_PATH", "");
    b.tf.write_config(&canary_to(&b, &b.fx.green_arn, "60s", "  report_path = \"reports/web\""));
    let running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(wait_until(Duration::from_secs(60), || green_percent(&b) == 100), "{}", running.stdout_so_far());
    std::thread::sleep(Duration::from_secs(2));
    b.aws.set_alarm_state("web-5xx", "ALARM", "5xx rate 7% above 1%");
    let out = running.finish_within(Duration::from_secs(30));
    out.assert_failed_with(&["Rollout rolled back: alarm \"web-5xx\" is failing: 5xx rate 7% above 1%"]);
    assert_eq!(green_percent(&b), 0, "read from the listener: all traffic back on blue");
    assert_eq!(values(&b.tf)["status"], "rolled_back");

    // The log: one line per shift, look and verdict, in stable words.
    let progress: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("[INFO]") && l.contains("@module=progressive.rollout"))
        .filter_map(|l| l.split_once("provider.terraform-provider-progressive: ").map(|(_, rest)| rest))
        .collect();
    let count = |prefix: &str| progress.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("shift: step 1 of 2: 20% to the target"), 1, "{progress:#?}");
    assert_eq!(count("shift: step 2 of 2: 100% to the target"), 1, "{progress:#?}");
    assert!(count("look: pass: step 1 of 2 at 20%: all gates healthy") >= 3, "{progress:#?}");
    assert!(count("look: pass: step 2 of 2 at 100%") >= 1, "{progress:#?}");
    assert_eq!(count("look: fail: step 2 of 2 at 100%: alarm \"web-5xx\": 5xx rate 7% above 1%"), 1, "{progress:#?}");
    assert_eq!(count("verdict: pass: step 1 of 2: baked 3s at 20%"), 1, "{progress:#?}");
    assert_eq!(count("verdict: fail: step 2 of 2: alarm \"web-5xx\""), 1, "{progress:#?}");
    assert_eq!(count("rollback: all traffic back on the origin"), 1, "{progress:#?}");

    // The Markdown summary.
    let reports = b.tf.workdir().join("reports");
    let md = std::fs::read_to_string(reports.join("web.md")).expect("the Markdown report");
    let lines: Vec<&str> = md.lines().collect();
    assert!(lines[0].starts_with("### ❌ Rollout rolled back: target group ") && lines[0].ends_with("green"), "{md}");
    let row = |step: &str| lines.iter().find(|l| l.starts_with(&format!("| {step} |"))).copied().unwrap_or_default();
    assert!(row("step 1 of 2").contains("| 20% |") && row("step 1 of 2").contains("| pass: baked 3s at 20%"), "{md}");
    assert!(row("step 2 of 2").contains("| **fail**: alarm \"web-5xx\" after"), "{md}");
    assert!(md.contains("\n**Rollback** at "), "{md}");
    assert!(md.contains("step 2 of 2 at 100%: alarm \"web-5xx\" is failing: 5xx rate 7% above 1%"), "{md}");

    // The page, as Chromium lays it out.
    match browser::available() {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("SKIPPED the browser check, as PROGRESSIVE_SKIP_BROWSER=1 asks");
            return;
        }
        Err(why) => panic!("{why}"),
    }
    let chrome = Browser::start();
    chrome.open(&reports.join("web.html"));
    let page = chrome.run(LAYOUT);
    let bakes = page["bakes"].as_array().unwrap();
    assert_eq!(bakes.len(), 2, "one shaded bake per step: {page:#}");
    let (canary, last) = (&bakes[0], &bakes[1]);
    assert_eq!((canary["step"].as_str(), last["step"].as_str()), (Some("1"), Some("2")), "{page:#}");
    assert_eq!(canary["fill"], "rgb(46, 125, 50)", "the passed bake is green: {page:#}");
    assert_eq!(last["fill"], "rgb(198, 40, 40)", "the failed bake is red: {page:#}");
    let right = |e: &Value| e["x"].as_f64().unwrap() + e["width"].as_f64().unwrap();
    for bake in bakes {
        assert!(bake["width"].as_f64().unwrap() > 20.0 && bake["height"].as_f64().unwrap() > 150.0, "{page:#}");
    }
    assert!(right(canary) <= last["x"].as_f64().unwrap() + 1.0, "the steps follow each other: {page:#}");
    // Every look sits inside its step's bake, at its share's height.
    let looks = page["looks"].as_array().unwrap();
    assert!(looks.len() >= 5, "{page:#}");
    let centre = |e: &Value| (e["x"].as_f64().unwrap() + e["width"].as_f64().unwrap() / 2.0, e["y"].as_f64().unwrap());
    let inside = |look: &Value, bake: &Value| {
        let (x, _) = centre(look);
        x >= bake["x"].as_f64().unwrap() - 5.0 && x <= right(bake) + 5.0
    };
    let failed: Vec<&Value> = looks.iter().filter(|l| l["class"] == "look look-fail").collect();
    assert_eq!(failed.len(), 1, "{page:#}");
    assert!(inside(failed[0], last), "the failing look is in the last step: {page:#}");
    let canary_looks: Vec<&Value> = looks.iter().filter(|l| inside(l, canary) && !inside(l, last)).collect();
    assert!(canary_looks.len() >= 3, "the canary's looks are in its bake: {page:#}");
    assert!(
        canary_looks.iter().all(|l| centre(l).1 > centre(failed[0]).1 + 100.0),
        "looks at 20% sit well below the look at 100%: {page:#}"
    );
    // The rollback is drawn at the end, after the failed bake.
    let rollback = &page["rollback"];
    assert!(rollback["height"].as_f64().unwrap() > 150.0, "{page:#}");
    assert!(rollback["x"].as_f64().unwrap() >= right(last) - 2.0, "{page:#}");
    // The table beneath lists the steps with their verdicts.
    let rows: Vec<&str> = page["rows"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(rows.len(), 2, "{page:#}");
    assert!(rows[0].starts_with("step 1 of 2\t20%") && rows[0].contains("baked 3s at 20%"), "{rows:?}");
    assert!(rows[1].starts_with("step 2 of 2\t100%") && rows[1].contains("5xx rate 7% above 1%"), "{rows:?}");
    assert_eq!(
        page["outcome"],
        "Outcome: rolled back: step 2 of 2 at 100%: alarm \"web-5xx\" is failing: 5xx rate 7% above 1%"
    );

    // The standalone SVG draws the same timeline.
    chrome.open(&reports.join("web.svg"));
    let svg = chrome.run(LAYOUT);
    // The page places the drawing further in; sizes, gaps and colours match.
    let drawn = |layout: &Value| {
        let bakes = layout["bakes"].as_array().unwrap().clone();
        let first = bakes[0]["x"].as_f64().unwrap();
        let gap = |b: &Value| (b["x"].as_f64().unwrap() - first).round();
        bakes.iter().map(|b| (gap(b), b["width"].clone(), b["height"].clone(), b["fill"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(drawn(&svg), drawn(&page), "the same bakes, drawn alike");

    rollouts::keep_report_as_example(&reports.join("web"), "alarm-rollback");
}

/// Where the report's parts landed on screen, with their computed fill.
const LAYOUT: &str = r#"
const box = e => {
    const r = e.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height, class: e.getAttribute("class"),
             step: e.getAttribute("data-step"), fill: getComputedStyle(e).fill };
};
const all = selector => [...document.querySelectorAll(selector)].map(box);
const rollback = document.querySelector("line.rollback");
const outcome = document.querySelector("p.outcome");
return {
    bakes: all("rect.bake"),
    looks: all("circle.look"),
    rollback: rollback && box(rollback),
    rows: [...document.querySelectorAll("tr.step")].map(r => r.innerText),
    outcome: outcome && outcome.innerText,
};
"#;

/// The plan of a second release shows the previous history as one line per
/// event, not a block of fields per event.
#[test]
fn rollout_report_second_release_plan_shows_one_line_per_event_of_history() {
    let b = AlbBed::start();
    b.aws.put_metric_alarm("web-5xx");
    b.tf.write_config(&canary_to(&b, &b.fx.green_arn, "1s", ""));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let history = values(&b.tf)["history"].as_array().unwrap().len();
    assert_eq!(history, 5, "shift, baked, shift, baked, promoted");
    b.tf.write_config(&canary_to(&b, &b.fx.blue_arn, "1s", ""));
    let plan = b.tf.run_ok(&["plan", "-no-color"]).stdout;
    let lines: Vec<&str> = plan.lines().collect();
    let start = lines.iter().position(|l| l.trim_start().starts_with("~ history")).expect("history in the plan");
    let end = start + lines[start..].iter().position(|l| l.contains("-> (known after apply)")).unwrap();
    eprintln!("plan of the second release: {} lines, {} of them history", lines.len(), end - start + 1);
    assert_eq!(end - start + 1, history + 2, "one line per event between the brackets:\n{plan}");
}
