//! A rollout's report, made from its events: a timeline drawn as SVG (the
//! target's share over time, each bake, each look at the gates, the verdicts
//! and the rollback), the same inside a self-contained HTML page with the
//! numbers, and a Markdown summary fit for a pull-request comment. A
//! deployment followed at a service (CodeDeploy, AppConfig) is reported the
//! same way once [`FollowedDeployment`] has put its history in these terms.
//!
//! No I/O here: the resource writes the texts. Nothing in the output loads
//! anything from elsewhere (no scripts, fonts or style sheets), so a report
//! opens the same offline, in a CI artifact or attached to a ticket.

use std::fmt::Write;
use std::time::Duration;

use time::OffsetDateTime;

use crate::engine::deployment::{self, Ending, Rollback};
use crate::engine::rollout::{Event, EventKind, Look};
use crate::engine::schedule::Schedule;
use crate::engine::traffic::format_percent;

/// What a report is made from.
pub struct Rollout<'a> {
    /// What the report calls the run: `Rollout`, `Deployment`, `Release`.
    pub subject: &'static str,
    /// What moved, e.g. `listener app/web/50dc6c495c0c9188/f2f7dc8efc522ab2`.
    pub routing: String,
    pub origin: String,
    pub target: String,
    /// The planned steps, when known: a share that is one of them is
    /// called `step n of m`.
    pub schedule: Option<&'a Schedule>,
    /// When the run began, and the target's share then.
    pub started: OffsetDateTime,
    pub start_percent: f64,
    /// Every event of the run, looks included, in order.
    pub events: &'a [Event],
    /// Why it rolled back; `None` when it was promoted.
    pub rollback_reason: Option<String>,
    /// Why it ended neither promoted nor rolled back (a rollback not
    /// confirmed, a deployment lost track of); this outcome wins.
    pub unsettled: Option<String>,
    /// What the service reported on its own (status and lifecycle
    /// changes), listed in order after the steps.
    pub notes: &'a [(OffsetDateTime, String)],
}

/// One step as it happened: from its shift (or the run's start) to its verdict.
#[derive(Debug, PartialEq)]
struct Span<'a> {
    /// 1-based position in the schedule; 0 when the share is none of its steps.
    number: usize,
    percent: f64,
    start: OffsetDateTime,
    end: Option<OffsetDateTime>,
    looks: Vec<&'a Event>,
    verdict: Option<&'a Event>,
}

impl Span<'_> {
    fn count(&self, look: Look) -> usize {
        self.looks.iter().filter(|e| e.kind == EventKind::Look(look)).count()
    }

    fn passed(&self) -> Option<bool> {
        self.verdict.map(|v| v.kind == EventKind::Baked)
    }
}

impl<'a> Rollout<'a> {
    fn finished(&self) -> OffsetDateTime {
        self.events.last().map_or(self.started, |e| e.at).max(self.started)
    }

    fn step_number(&self, percent: f64) -> usize {
        self.schedule
            .and_then(|schedule| schedule.steps().iter().position(|s| s.percent == percent))
            .map_or(0, |i| i + 1)
    }

    fn spans(&self) -> Vec<Span<'a>> {
        let mut spans: Vec<Span<'a>> = Vec::new();
        let open = |spans: &mut Vec<Span<'a>>, percent: f64, at: OffsetDateTime| {
            spans.push(Span {
                number: self.step_number(percent),
                percent,
                start: at,
                end: None,
                looks: Vec::new(),
                verdict: None,
            })
        };
        for event in self.events {
            // A run resumed at a step's share starts baking without a shift.
            let current_is_open = spans.last().is_some_and(|s| s.end.is_none());
            match event.kind {
                EventKind::Shift => open(&mut spans, event.percent, event.at),
                EventKind::Look(_) | EventKind::Baked | EventKind::GateFailed if !current_is_open => {
                    open(&mut spans, event.percent, self.started)
                }
                _ => {}
            }
            let Some(span) = spans.last_mut() else { continue };
            match event.kind {
                EventKind::Look(_) => span.looks.push(event),
                EventKind::Baked | EventKind::GateFailed => {
                    span.end = Some(event.at);
                    span.verdict = Some(event);
                }
                EventKind::Rollback if span.end.is_none() => span.end = Some(event.at),
                _ => {}
            }
        }
        spans
    }

    /// The target's share over time: (moment, percent) at each change.
    fn traffic(&self) -> Vec<(OffsetDateTime, f64)> {
        let mut points = vec![(self.started, self.start_percent)];
        for event in self.events {
            if matches!(event.kind, EventKind::Shift | EventKind::Rollback | EventKind::Promoted) {
                points.push((event.at, event.percent));
            }
        }
        points
    }

    fn rollback(&self) -> Option<&'a Event> {
        self.events.iter().find(|e| e.kind == EventKind::Rollback)
    }

    fn warnings(&self) -> impl Iterator<Item = &'a Event> {
        self.events.iter().filter(|e| e.kind == EventKind::Warning)
    }

    fn outcome(&self) -> String {
        if let Some(why) = &self.unsettled {
            return format!("unsettled: {why}");
        }
        match (&self.rollback_reason, self.rollback()) {
            (Some(reason), _) => format!("rolled back: {reason}"),
            (None, Some(rollback)) => format!("rolled back: {}", rollback.detail),
            (None, None) if self.events.iter().any(|e| e.kind == EventKind::Promoted) => "promoted".into(),
            (None, None) => "promoted (nothing had to move)".into(),
        }
    }

    /// The outcome in a word, and the class the HTML gives it.
    fn headline(&self) -> (&'static str, &'static str) {
        if self.unsettled.is_some() {
            ("⚠️", "unsettled")
        } else if self.rollback_reason.is_some() || self.rollback().is_some() {
            ("❌", "rolled back")
        } else {
            ("✅", "promoted")
        }
    }

    fn step_label(&self, span: &Span) -> String {
        match (span.number, self.schedule) {
            (n, Some(schedule)) if n > 0 => format!("step {n} of {}", schedule.steps().len()),
            _ => format!("{}%", format_percent(span.percent)),
        }
    }

    /// The timeline as a standalone SVG document.
    pub fn svg(&self) -> String {
        let plot = Plot::new(self.started, self.finished());
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(
            svg,
            r#"<title>{}</title><rect width="{W}" height="{H}" fill="white"/>"#,
            escape(&format!("{} to {}: {}", self.subject, self.target, self.outcome()))
        );
        // Axes: shares left, UTC times below.
        for share in [0.0, 25.0, 50.0, 75.0, 100.0] {
            let y = plot.y(share);
            let _ = write!(
                svg,
                r##"<line x1="{L}" x2="{R}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{share}%</text>"##,
                L - 6.0,
                y + 4.0
            );
        }
        for at in ticks(plot.from, plot.to) {
            let x = plot.x(at);
            // Labels near the edges stay inside the drawing.
            let anchor = if x - L < 30.0 {
                "start"
            } else if R - x < 30.0 {
                "end"
            } else {
                "middle"
            };
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{BOTTOM}" y2="{}" stroke="#999"/><text class="tick" x="{x:.1}" y="{}" text-anchor="{anchor}">{}</text>"##,
                BOTTOM + 4.0,
                BOTTOM + 18.0,
                clock_time(at)
            );
        }
        let _ = write!(svg, r#"<text x="{L}" y="{}">UTC</text>"#, BOTTOM + 34.0);
        legend(&mut svg);
        // Bakes, shaded by their verdict, with their label above.
        for span in self.spans() {
            let (x0, x1) = (plot.x(span.start), plot.x(span.end.unwrap_or(self.finished())));
            let (class, verdict) = match span.passed() {
                Some(true) => ("bake-pass", "pass"),
                Some(false) => ("bake-fail", "fail"),
                None => ("bake-open", "no verdict"),
            };
            let tooltip = span.verdict.map_or_else(|| verdict.to_owned(), |v| v.detail.clone());
            let _ = write!(
                svg,
                r#"<rect class="bake {class}" data-step="{}" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{}"><title>{}</title></rect>"#,
                span.number,
                (x1 - x0).max(1.0),
                BOTTOM - TOP,
                escape(&tooltip)
            );
            let _ = write!(
                svg,
                r#"<text class="verdict" data-step="{}" x="{:.1}" y="{}" text-anchor="middle">{} · {}% · {verdict}</text>"#,
                span.number,
                (x0 + x1) / 2.0,
                TOP - 8.0,
                escape(&self.step_label(&span)),
                format_percent(span.percent)
            );
        }
        // The target's share as a step line.
        let mut path = String::new();
        for (i, (at, percent)) in self.traffic().into_iter().enumerate() {
            let (x, y) = (plot.x(at), plot.y(percent));
            let _ = if i == 0 { write!(path, "M{x:.1} {y:.1}") } else { write!(path, " H{x:.1} V{y:.1}") };
        }
        // The share holds to the drawing's edge.
        let _ = write!(path, " H{R:.1}");
        let _ = write!(svg, r#"<path class="traffic" d="{path}"/>"#);
        // Each look at the gates, where the share stood.
        for event in self.events {
            if let EventKind::Look(look) = event.kind {
                let _ = write!(
                    svg,
                    r#"<circle class="look look-{}" cx="{:.1}" cy="{:.1}" r="4"><title>{}</title></circle>"#,
                    look.as_str(),
                    plot.x(event.at),
                    plot.y(event.percent),
                    escape(&format!("{} {}: {}", clock_time(event.at), look.as_str(), event.detail))
                );
            }
        }
        if let Some(rollback) = self.rollback() {
            let x = plot.x(rollback.at);
            // Below the time axis, clear of the looks; on the line's left unless that is the edge.
            let anchor = if x - L > 150.0 { "end" } else { "start" };
            let _ = write!(
                svg,
                r#"<line class="rollback" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{BOTTOM}"><title>{}</title></line><text class="rollback-label" x="{x:.1}" y="{}" text-anchor="{anchor}">rollback {}</text>"#,
                escape(&rollback.detail),
                BOTTOM + 34.0,
                clock_time(rollback.at)
            );
        }
        let _ = write!(svg, "<style>{SVG_STYLE}</style></svg>");
        svg
    }

    /// The report as one HTML page: the timeline, the steps and the numbers.
    pub fn html(&self) -> String {
        let title = format!("{} of {} on {}", self.subject, self.target, self.routing);
        let mut rows = String::new();
        for span in self.spans() {
            let verdict = span.verdict.map_or("no verdict".to_owned(), |v| without_step(&v.detail).to_owned());
            let class = match span.passed() {
                Some(true) => "pass",
                Some(false) => "fail",
                None => "open",
            };
            let _ = write!(
                rows,
                r#"<tr class="step {class}"><td>{}</td><td>{}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&self.step_label(&span)),
                format_percent(span.percent),
                clock_time(span.start),
                span.end.map_or("—".into(), |end| elapsed(span.start, end)),
                looks_summary(&span),
                escape(&verdict)
            );
        }
        let mut notes = String::new();
        if let Some(rollback) = self.rollback() {
            let _ = write!(
                notes,
                r#"<p class="rollback"><strong>Rollback</strong> at {} UTC: {}</p>"#,
                clock_time(rollback.at),
                escape(&rollback.detail)
            );
        }
        for warning in self.warnings() {
            let _ = write!(notes, r#"<p class="warning"><strong>Warning:</strong> {}</p>"#, escape(&warning.detail));
        }
        if !self.notes.is_empty() {
            let _ = write!(notes, r#"<h2>Service events</h2><ul class="service-events">"#);
            for (at, note) in self.notes {
                let _ = write!(notes, "<li>{} {}</li>", clock_time(*at), escape(note));
            }
            let _ = write!(notes, "</ul>");
        }
        format!(
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{HTML_STYLE}</style></head>
<body><h1>{title}</h1>
<p class="outcome {outcome_class}"><strong>Outcome:</strong> {outcome}</p>
<p>From {origin} to {target}, started {started} UTC, took {took}.</p>
{svg}
<table><thead><tr><th>Step</th><th>Share</th><th>Started (UTC)</th><th>Baked</th><th>Looks</th><th>Verdict</th></tr></thead>
<tbody>{rows}</tbody></table>
{notes}</body></html>
"#,
            title = escape(&title),
            outcome_class = self.headline().1.replace(' ', "-"),
            outcome = escape(&self.outcome()),
            origin = escape(&self.origin),
            target = escape(&self.target),
            started = date_time(self.started),
            took = elapsed(self.started, self.finished()),
            svg = self.svg(),
        )
    }

    /// A summary for a pull-request comment: the outcome, a table of the
    /// steps with their times and verdicts, and why it rolled back.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let (mark, headline) = self.headline();
        let _ = writeln!(md, "### {mark} {} {headline}: {}\n", self.subject, cell(&self.target));
        let _ = writeln!(
            md,
            "{} → {} on {}, started {} UTC, took {}.\n",
            cell(&self.origin),
            cell(&self.target),
            cell(&self.routing),
            date_time(self.started),
            elapsed(self.started, self.finished())
        );
        let _ = writeln!(md, "| Step | Share | Started (UTC) | Baked | Looks | Verdict |");
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for span in self.spans() {
            let verdict = match (span.passed(), span.verdict) {
                (Some(true), Some(v)) => format!("pass: {}", cell(without_step(&v.detail))),
                (_, Some(v)) => format!("**fail**: {}", cell(without_step(&v.detail))),
                _ => "no verdict".into(),
            };
            let _ = writeln!(
                md,
                "| {} | {}% | {} | {} | {} | {} |",
                self.step_label(&span),
                format_percent(span.percent),
                clock_time(span.start),
                span.end.map_or("—".into(), |end| elapsed(span.start, end)),
                looks_summary(&span),
                verdict
            );
        }
        if let Some(rollback) = self.rollback() {
            let reason = self.rollback_reason.as_deref().unwrap_or(&rollback.detail);
            let _ = writeln!(md, "\n**Rollback** at {} UTC: {}", clock_time(rollback.at), cell(reason));
        }
        if let Some(why) = &self.unsettled {
            let _ = writeln!(md, "\n**Unsettled:** {}", cell(why));
        }
        for warning in self.warnings() {
            let _ = writeln!(md, "\n**Warning:** {}", cell(&warning.detail));
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n**Service events**\n");
            for (at, note) in self.notes {
                let _ = writeln!(md, "- {} {}", clock_time(*at), cell(note));
            }
        }
        md
    }
}

/// A deployment followed at a service, in a report's terms: each traffic
/// shift starts a step, which passes when the next shift (or the
/// deployment's success) comes with no gate failed meanwhile, since the
/// gates are looked at on every read; a gate failure is the step's failed
/// verdict; the stop (or the service's own rollback) is the rollback line,
/// and a confirmed rollback puts the share back to 0%. Status and lifecycle
/// changes become the report's notes.
pub struct FollowedDeployment {
    pub events: Vec<Event>,
    pub notes: Vec<(OffsetDateTime, String)>,
    pub rollback_reason: Option<String>,
    pub unsettled: Option<String>,
}

impl FollowedDeployment {
    /// Its report: `subject` (`Deployment`, `Release`) of `target` on
    /// `routing`, from `origin`, begun at `started` with none of the traffic.
    pub fn report<'a>(
        &'a self,
        subject: &'static str,
        routing: String,
        (origin, target): (String, String),
        schedule: Option<&'a Schedule>,
        started: OffsetDateTime,
    ) -> Rollout<'a> {
        Rollout {
            subject,
            routing,
            origin,
            target,
            schedule,
            started,
            start_percent: 0.0,
            events: &self.events,
            rollback_reason: self.rollback_reason.clone(),
            unsettled: self.unsettled.clone(),
            notes: &self.notes,
        }
    }

    pub fn new(history: &[deployment::Event], ending: &Ending) -> FollowedDeployment {
        use deployment::EventKind as Kind;
        let mut events = Vec::new();
        let mut notes = Vec::new();
        let mut step_open = false;
        let mut rollback_drawn = false;
        let event = |source: &deployment::Event, kind, percent, detail: &str| Event {
            at: source.at,
            percent,
            kind,
            detail: detail.to_owned(),
        };
        for e in history {
            match e.kind {
                Kind::Shift => {
                    if step_open {
                        events.push(event(e, EventKind::Baked, e.percent, "no gate failed until the next shift"));
                    }
                    events.push(event(e, EventKind::Shift, e.percent, &e.detail));
                    step_open = true;
                }
                Kind::Baked | Kind::GateFailed => {
                    let kind = if e.kind == Kind::Baked { EventKind::Baked } else { EventKind::GateFailed };
                    events.push(event(e, kind, e.percent, &e.detail));
                    step_open = false;
                }
                Kind::Stopping | Kind::Rollback if !rollback_drawn => {
                    events.push(event(e, EventKind::Rollback, e.percent, &e.detail));
                    rollback_drawn = true;
                }
                Kind::Status | Kind::Lifecycle | Kind::Stopping | Kind::Rollback => {
                    notes.push((e.at, e.detail.clone()))
                }
            }
        }
        let last = history.last();
        let (mut rollback_reason, mut unsettled) = (None, None);
        let rollback = match ending {
            Ending::Succeeded => {
                if let Some(last) = last {
                    if step_open {
                        events.push(event(last, EventKind::Baked, last.percent, "no gate failed until it succeeded"));
                    }
                    events.push(event(last, EventKind::Promoted, 100.0, "the deployment succeeded"));
                }
                None
            }
            Ending::EndedByService { status, error, rollback } => {
                let why = error.clone().unwrap_or_else(|| format!("the service ended it {}", status.as_str()));
                rollback_reason = Some(why);
                Some(rollback)
            }
            Ending::Stopped { cause, rollback } => {
                rollback_reason = Some(cause.describe());
                Some(rollback)
            }
            Ending::Lost(why) => {
                unsettled = Some(why.clone());
                None
            }
        };
        match rollback {
            Some(Rollback::Confirmed { id }) => {
                if let Some(last) = last {
                    let detail = format!("rollback {id} succeeded: the previous revision serves");
                    events.push(event(last, EventKind::Rollback, 0.0, &detail));
                }
            }
            Some(Rollback::NotStarted) => unsettled = Some("the service started no rollback".into()),
            Some(Rollback::NotConfirmed { why, .. }) => unsettled = Some(format!("rollback not confirmed: {why}")),
            Some(Rollback::TooLate) => {
                unsettled = Some("the deployment succeeded before the stop took effect: the new revision serves".into())
            }
            None => {}
        }
        FollowedDeployment { events, notes, rollback_reason, unsettled }
    }
}

const W: f64 = 960.0;
const H: f64 = 350.0;
const L: f64 = 60.0;
const R: f64 = 940.0;
const TOP: f64 = 40.0;
/// Room after the last event, as a share of the run's duration.
const END_MARGIN: f64 = 0.04;
const BOTTOM: f64 = 270.0;

const SVG_STYLE: &str = ".bake-pass{fill:#2e7d32;fill-opacity:.14}.bake-fail{fill:#c62828;fill-opacity:.18}\
.bake-open{fill:#757575;fill-opacity:.12}.traffic{fill:none;stroke:#1565c0;stroke-width:2.5}\
.look-pass{fill:#2e7d32}.look-wait{fill:#f9a825}.look-fail{fill:#c62828}\
.rollback{stroke:#c62828;stroke-width:2;stroke-dasharray:6 3}.rollback-label{fill:#c62828;font-weight:bold}\
.verdict{fill:#333}.tick{fill:#555}";

const HTML_STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}h1{font-size:1.4em;overflow-wrap:anywhere}\
svg.timeline{max-width:100%;height:auto}table{border-collapse:collapse;margin-top:1em}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}tr.fail td{background:#fdecea}\
.outcome.rolled-back{color:#c62828}.outcome.promoted{color:#2e7d32}.outcome.unsettled{color:#8d6e00}.rollback{color:#c62828}.warning{color:#8d6e00}";

/// Maps moments and shares to the plot area.
struct Plot {
    from: OffsetDateTime,
    to: OffsetDateTime,
}

impl Plot {
    fn new(from: OffsetDateTime, to: OffsetDateTime) -> Plot {
        // A run that took no time still gets a visible width, and the last
        // change (a rollback's drop to 0%) a margin to show in.
        let span = (to - from).max(time::Duration::SECOND);
        Plot { from, to: from + span * (1.0 + END_MARGIN) }
    }

    fn x(&self, at: OffsetDateTime) -> f64 {
        let fraction = (at - self.from).as_seconds_f64() / (self.to - self.from).as_seconds_f64();
        L + (R - L) * fraction.clamp(0.0, 1.0)
    }

    fn y(&self, percent: f64) -> f64 {
        BOTTOM - (BOTTOM - TOP) * percent.clamp(0.0, 100.0) / 100.0
    }
}

/// Round lengths between the time axis's marks, shortest first.
const TICK_STEPS: [u64; 17] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200];

/// Marks on the time axis: at multiples of the shortest round length that
/// gives at most six of them between `from` and `to`, on the UTC clock (so
/// that they read 15:40:10, 15:40:12, ..., not wherever a fifth falls).
fn ticks(from: OffsetDateTime, to: OffsetDateTime) -> Vec<OffsetDateTime> {
    let (first, last) = (from.unix_timestamp(), to.unix_timestamp());
    let seconds = (last - first).max(1) as u64;
    let step = TICK_STEPS.into_iter().find(|step| seconds / step < 6).unwrap_or(86400) as i64;
    let start = first.div_euclid(step) * step + if first.rem_euclid(step) == 0 { 0 } else { step };
    (0..)
        .map(|i| start + i * step)
        .take_while(|t| *t <= last)
        .filter_map(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .filter(|at| *at >= from)
        .collect()
}

/// What the colours and marks mean, below the time axis on the right.
fn legend(svg: &mut String) {
    let y = BOTTOM + 52.0;
    let mut x = R - 560.0;
    let _ = write!(svg, r#"<g class="legend">"#);
    for (class, text) in
        [("look-pass", "look: healthy"), ("look-wait", "look: waiting for evidence"), ("look-fail", "look: failing")]
    {
        let _ = write!(
            svg,
            r#"<circle class="{class}" cx="{x:.1}" cy="{:.1}" r="4"/><text x="{:.1}" y="{y:.1}">{text}</text>"#,
            y - 4.0,
            x + 8.0
        );
        x += 24.0 + 6.5 * text.len() as f64;
    }
    let _ = write!(
        svg,
        r#"<rect class="bake-pass" x="{x:.1}" y="{:.1}" width="12" height="10"/><rect class="bake-fail" x="{:.1}" y="{:.1}" width="12" height="10"/><text x="{:.1}" y="{y:.1}">bake passed / failed</text>"#,
        y - 9.0,
        x + 12.0,
        y - 9.0,
        x + 30.0
    );
    let _ = write!(svg, "</g>");
}

fn looks_summary(span: &Span) -> String {
    let counts = [Look::Pass, Look::Wait, Look::Fail].map(|look| (span.count(look), look.as_str()));
    let parts: Vec<String> = counts.iter().filter(|(n, _)| *n > 0).map(|(n, word)| format!("{n} {word}")).collect();
    if parts.is_empty() { "none".into() } else { parts.join(", ") }
}

/// An event's detail without its `step 1 of 3: ` prefix, which the table says.
fn without_step(detail: &str) -> &str {
    match detail.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("step ") => rest,
        _ => detail,
    }
}

fn clock_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
}

fn date_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {}", at.date(), clock_time(at))
}

fn elapsed(from: OffsetDateTime, to: OffsetDateTime) -> String {
    let took: Duration = (to - from).try_into().unwrap_or(Duration::ZERO);
    crate::duration::format(Duration::from_secs(took.as_secs()))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text that stays on one line of a Markdown table and shows as written.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::schedule::Strategy;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_796_112_000 + seconds).unwrap()
    }

    fn event(seconds: i64, percent: f64, kind: EventKind, detail: &str) -> Event {
        Event { at: at(seconds), percent, kind, detail: detail.into() }
    }

    /// A canary that passed its 10% bake and failed at 100%.
    pub(crate) fn rolled_back_canary() -> (Schedule, Vec<Event>) {
        let schedule =
            Schedule::new(&Strategy::Canary { percent: 10.0, bake: Duration::from_secs(60) }, Duration::from_secs(60))
                .unwrap();
        let mut events = vec![event(0, 10.0, EventKind::Shift, "step 1 of 2: 10% to the target, confirmed by x")];
        events.push(event(10, 10.0, EventKind::Look(Look::Wait), "step 1 of 2 at 10%: not yet enough evidence"));
        for s in [20, 30, 40, 50, 60] {
            events.push(event(s, 10.0, EventKind::Look(Look::Pass), "step 1 of 2 at 10%: all gates healthy"));
        }
        events.push(event(60, 10.0, EventKind::Baked, "step 1 of 2: baked 1m at 10% (6 gate checks, all healthy)"));
        events.push(event(61, 100.0, EventKind::Shift, "step 2 of 2: 100% to the target, confirmed by x"));
        events.push(event(70, 100.0, EventKind::Look(Look::Pass), "step 2 of 2 at 100%: all gates healthy"));
        let failure = "canary analysis (5xx): the canary is worse than the baseline: canary 11 5xx in 47 requests (23.40%), baseline 8 in 935 (0.86%)";
        events.push(event(80, 100.0, EventKind::Look(Look::Fail), &format!("step 2 of 2 at 100%: {failure}")));
        events.push(event(80, 100.0, EventKind::GateFailed, &format!("step 2 of 2: {failure}")));
        events.push(event(81, 0.0, EventKind::Rollback, "all traffic back on the origin (the <canary> | is failing)"));
        (schedule, events)
    }

    fn report<'a>(schedule: &'a Schedule, events: &'a [Event]) -> Rollout<'a> {
        Rollout {
            subject: "Rollout",
            routing: "listener app/web/1".into(),
            origin: "target group blue".into(),
            target: "target group green".into(),
            schedule: Some(schedule),
            started: at(0),
            start_percent: 0.0,
            events,
            rollback_reason: Some("step 2 of 2 at 100%: canary analysis (5xx) is failing".into()),
            unsettled: None,
            notes: &[],
        }
    }

    #[test]
    fn steps_are_cut_from_shift_to_verdict_with_their_looks() {
        let (schedule, events) = rolled_back_canary();
        let spans = report(&schedule, &events).spans();
        let summary: Vec<_> =
            spans.iter().map(|s| (s.number, s.percent, s.start, s.end, s.looks.len(), s.passed())).collect();
        assert_eq!(
            summary,
            [(1, 10.0, at(0), Some(at(60)), 6, Some(true)), (2, 100.0, at(61), Some(at(80)), 2, Some(false))]
        );
        assert_eq!(looks_summary(&spans[0]), "5 pass, 1 wait");
        assert_eq!(looks_summary(&spans[1]), "1 pass, 1 fail");
    }

    #[test]
    fn a_resumed_run_bakes_its_first_step_without_a_shift() {
        let schedule = Schedule::new(&Strategy::AllAtOnce, Duration::from_secs(30)).unwrap();
        let events = [
            event(5, 100.0, EventKind::Look(Look::Pass), "step 1 of 1 at 100%: all gates healthy"),
            event(30, 100.0, EventKind::Baked, "step 1 of 1: baked 30s at 100%"),
            event(30, 100.0, EventKind::Promoted, "all traffic on the target"),
        ];
        let mut r = report(&schedule, &events);
        (r.start_percent, r.rollback_reason) = (100.0, None);
        let spans = r.spans();
        assert_eq!(spans.len(), 1);
        assert_eq!((spans[0].number, spans[0].start, spans[0].end), (1, at(0), Some(at(30))));
        assert_eq!(r.outcome(), "promoted");
        assert!(r.markdown().starts_with("### ✅ Rollout promoted: target group green\n"));
    }

    #[test]
    fn the_timeline_draws_each_bake_look_and_the_rollback_where_they_happened() {
        let (schedule, events) = rolled_back_canary();
        let svg = report(&schedule, &events).svg();
        // 81 seconds and the margin after them over 880 pixels from x = 60.
        let seconds = 81.0 * (1.0 + END_MARGIN);
        let x = |s: f64| format!("{:.1}", L + (R - L) * s / seconds);
        let width = |from: f64, to: f64| format!("{:.1}", (R - L) * (to - from) / seconds);
        let pass = format!(r#"class="bake bake-pass" data-step="1" x="60.0" y="40" width="{}""#, width(0.0, 60.0));
        assert!(svg.contains(&pass), "{svg}");
        assert!(svg.contains(&format!(r#"class="bake bake-fail" data-step="2" x="{}""#, x(61.0))), "{svg}");
        assert_eq!(svg.matches(r#"<circle class="look look-pass""#).count(), 6);
        assert_eq!(svg.matches(r#"<circle class="look look-fail""#).count(), 1);
        assert!(svg.contains(&format!(r#"<line class="rollback" x1="{0}" x2="{0}""#, x(81.0))), "{svg}");
        // Up to 10% at the start, 100% at 61s, back to 0% at 81s.
        assert!(
            svg.contains(&format!(r#"d="M60.0 270.0 H60.0 V247.0 H{0} V40.0 H{1} V270.0 H940.0""#, x(61.0), x(81.0))),
            "{svg}"
        );
        assert!(svg.contains("the &lt;canary&gt; | is failing"), "text is escaped");
    }

    #[test]
    fn time_marks_fall_on_round_clock_times() {
        let clock = |ticks: Vec<OffsetDateTime>| ticks.into_iter().map(clock_time).collect::<Vec<_>>();
        // 7 seconds from 08:00:03.5: every 2 seconds.
        let from = at(3) + time::Duration::milliseconds(500);
        assert_eq!(
            clock(ticks(from, at(10) + time::Duration::milliseconds(500))),
            ["08:00:04", "08:00:06", "08:00:08", "08:00:10"]
        );
        // 81 seconds: every 15.
        assert_eq!(
            clock(ticks(at(0), at(81))),
            ["08:00:00", "08:00:15", "08:00:30", "08:00:45", "08:01:00", "08:01:15"]
        );
        // 40 minutes: every 10 minutes.
        assert_eq!(clock(ticks(at(30), at(40 * 60 + 30))), ["08:10:00", "08:20:00", "08:30:00", "08:40:00"]);
        // No time at all still gets its moment.
        assert_eq!(clock(ticks(at(5), at(5))), ["08:00:05"]);
    }

    #[test]
    fn the_markdown_has_the_outcome_the_steps_and_the_reason() {
        let (schedule, events) = rolled_back_canary();
        let md = report(&schedule, &events).markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "### ❌ Rollout rolled back: target group green");
        assert!(lines.contains(&"| step 1 of 2 | 10% | 08:00:00 | 1m | 5 pass, 1 wait | pass: baked 1m at 10% (6 gate checks, all healthy) |"), "{md}");
        assert!(
            lines.contains(&"| step 2 of 2 | 100% | 08:01:01 | 19s | 1 pass, 1 fail | **fail**: canary analysis (5xx): the canary is worse than the baseline: canary 11 5xx in 47 requests (23.40%), baseline 8 in 935 (0.86%) |"),
            "{md}"
        );
        assert!(
            md.contains("\n**Rollback** at 08:01:21 UTC: step 2 of 2 at 100%: canary analysis (5xx) is failing\n"),
            "{md}"
        );
    }

    #[test]
    fn the_html_page_is_self_contained_and_escaped() {
        let (schedule, events) = rolled_back_canary();
        let html = report(&schedule, &events).html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        for external in ["<script", "<link", "src=", "@import", "url("] {
            assert!(!html.contains(external), "{external} in {html}");
        }
        assert_eq!(html.matches(r#"<tr class="step "#).count(), 2);
        assert!(html.contains("canary 11 5xx in 47 requests (23.40%), baseline 8 in 935 (0.86%)"));
        assert!(html.contains("the &lt;canary&gt; | is failing"));
        assert!(html.contains(r#"<p class="outcome rolled-back">"#));
    }

    fn deployment_event(seconds: i64, percent: f64, kind: deployment::EventKind, detail: &str) -> deployment::Event {
        deployment::Event { at: at(seconds), percent, kind, detail: detail.into() }
    }

    fn deployment_report(deployment: &FollowedDeployment) -> Rollout<'_> {
        let sides = ("the running revision".into(), "revision 7".into());
        deployment.report("Deployment", "deployment group web/blue-green".into(), sides, None, at(0))
    }

    #[test]
    fn a_deployment_that_succeeds_passes_each_shift_until_the_next() {
        use deployment::EventKind::{Lifecycle, Shift, Status};
        let history = [
            deployment_event(0, 0.0, Status, "deployment d-1 InProgress"),
            deployment_event(5, 0.0, Lifecycle, "deployment d-1 BeforeAllowTraffic Succeeded"),
            deployment_event(10, 10.0, Shift, "deployment d-1: 10% of traffic on the new revision"),
            deployment_event(70, 100.0, Shift, "deployment d-1: 100% of traffic on the new revision"),
            deployment_event(75, 100.0, Status, "deployment d-1 Succeeded"),
        ];
        let deployment = FollowedDeployment::new(&history, &Ending::Succeeded);
        let report = deployment_report(&deployment);
        let spans: Vec<_> = report.spans().iter().map(|s| (s.percent, s.start, s.end, s.passed())).collect();
        assert_eq!(spans, [(10.0, at(10), Some(at(70)), Some(true)), (100.0, at(70), Some(at(75)), Some(true))]);
        assert_eq!(report.outcome(), "promoted");
        let md = report.markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "### ✅ Deployment promoted: revision 7");
        assert!(
            lines.contains(&"| 10% | 10% | 08:00:10 | 1m | none | pass: no gate failed until the next shift |"),
            "{md}"
        );
        assert!(
            lines.contains(&"| 100% | 100% | 08:01:10 | 5s | none | pass: no gate failed until it succeeded |"),
            "{md}"
        );
        assert!(lines.contains(&"- 08:00:05 deployment d-1 BeforeAllowTraffic Succeeded"), "{md}");
        assert!(!md.contains("Rollback"), "{md}");
        let svg = report.svg();
        assert_eq!(svg.matches(r#"class="bake bake-pass""#).count(), 2, "{svg}");
        assert!(!svg.contains(r#"<line class="rollback""#), "{svg}");
    }

    #[test]
    fn a_deployment_stopped_by_a_gate_fails_its_step_and_rolls_back() {
        use deployment::EventKind::{GateFailed, Rollback as RollbackProgress, Shift, Status, Stopping};
        let history = [
            deployment_event(0, 0.0, Status, "deployment d-1 InProgress"),
            deployment_event(10, 10.0, Shift, "deployment d-1: 10% of traffic on the new revision"),
            deployment_event(40, 10.0, GateFailed, "alarm \"web-5xx\" is failing: 5xx above 1%"),
            deployment_event(40, 10.0, Stopping, "stopping deployment d-1 with a rollback"),
            deployment_event(45, 10.0, Status, "deployment d-1 Stopped: stopped by the user"),
            deployment_event(50, 0.0, RollbackProgress, "rollback d-2 Succeeded"),
        ];
        let finding =
            crate::engine::Finding { source: "alarm \"web-5xx\"".into(), reason: "5xx above 1%".into(), since: None };
        let cause = crate::engine::rollout::Cause::Gate(finding);
        let reason = cause.describe();
        let ending = Ending::Stopped { cause, rollback: Rollback::Confirmed { id: "d-2".into() } };
        let deployment = FollowedDeployment::new(&history, &ending);
        let report = deployment_report(&deployment);
        let spans: Vec<_> = report.spans().iter().map(|s| (s.percent, s.start, s.end, s.passed())).collect();
        assert_eq!(spans, [(10.0, at(10), Some(at(40)), Some(false))]);
        let md = report.markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "### ❌ Deployment rolled back: revision 7");
        assert!(
            lines.contains(
                &"| 10% | 10% | 08:00:10 | 30s | none | **fail**: alarm \"web-5xx\" is failing: 5xx above 1% |"
            ),
            "{md}"
        );
        assert!(md.contains(&format!("\n**Rollback** at 08:00:40 UTC: {}\n", cell(&reason))), "{md}");
        assert!(lines.contains(&"- 08:00:45 deployment d-1 Stopped: stopped by the user"), "{md}");
        assert!(lines.contains(&"- 08:00:50 rollback d-2 Succeeded"), "{md}");
        // The line at the stop, the share back to 0% once the rollback succeeded.
        let svg = report.svg();
        let seconds = 50.0 * (1.0 + END_MARGIN);
        let x = |s: f64| format!("{:.1}", L + (R - L) * s / seconds);
        assert!(svg.contains(&format!(r#"<line class="rollback" x1="{0}" x2="{0}""#, x(40.0))), "{svg}");
        assert!(
            svg.contains(&format!(
                r#"d="M60.0 270.0 H{} V247.0 H{} V247.0 H{} V270.0 H940.0""#,
                x(10.0),
                x(40.0),
                x(50.0)
            )),
            "{svg}"
        );
        assert!(report.html().contains(r#"<li>08:00:50 rollback d-2 Succeeded</li>"#));
    }

    #[test]
    fn a_deployment_whose_rollback_is_not_confirmed_is_unsettled() {
        let history = [deployment_event(10, 10.0, deployment::EventKind::Shift, "deployment d-1: 10%")];
        let ending = Ending::EndedByService {
            status: deployment::Status::Failed,
            error: Some("hook failed".into()),
            rollback: Rollback::NotConfirmed { id: Some("d-2".into()), why: "rollback d-2 ended Failed".into() },
        };
        let deployment = FollowedDeployment::new(&history, &ending);
        let md = deployment_report(&deployment).markdown();
        assert!(md.starts_with("### ⚠️ Deployment unsettled: revision 7\n"), "{md}");
        assert!(md.contains("\n**Unsettled:** rollback not confirmed: rollback d-2 ended Failed\n"), "{md}");
    }
}
