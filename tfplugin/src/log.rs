//! Logging as go-plugin expects it from a plugin: one hclog JSON object per
//! line on stderr. Terraform parses these lines and shows them at their level
//! under `TF_LOG` / `TF_LOG_PROVIDER`, with the fields attached.
//!
//! Never pass credentials or whole configurations as fields.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value as J};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// The level Terraform was asked for; lines below it are not written.
    fn from_env() -> Level {
        let setting = std::env::var("TF_LOG_PROVIDER").or_else(|_| std::env::var("TF_LOG")).unwrap_or_default();
        match setting.to_ascii_lowercase().as_str() {
            "trace" | "json" => Level::Trace,
            "debug" => Level::Debug,
            "warn" => Level::Warn,
            "error" => Level::Error,
            _ => Level::Info,
        }
    }
}

fn threshold() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(Level::from_env)
}

/// Formats one log line. Separate from writing so it can be tested.
pub fn format_line(level: Level, module: &str, message: &str, fields: &[(&str, J)]) -> String {
    let mut line = Map::new();
    line.insert("@level".into(), level.name().into());
    line.insert("@message".into(), message.into());
    line.insert("@module".into(), module.into());
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap_or_default();
    line.insert("@timestamp".into(), stamp.into());
    for (k, v) in fields {
        // The @-keys belong to hclog.
        if !k.starts_with('@') {
            line.insert((*k).to_owned(), v.clone());
        }
    }
    J::Object(line).to_string()
}

/// Writes a line if `level` is enabled. `module` names the part of the
/// provider (e.g. `example.widget`).
pub fn log(level: Level, module: &str, message: &str, fields: &[(&str, J)]) {
    if level < threshold() {
        return;
    }
    let line = format_line(level, module, message, fields);
    // A closed stderr must not take the provider down.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub fn trace(module: &str, message: &str, fields: &[(&str, J)]) {
    log(Level::Trace, module, message, fields)
}
pub fn debug(module: &str, message: &str, fields: &[(&str, J)]) {
    log(Level::Debug, module, message, fields)
}
pub fn info(module: &str, message: &str, fields: &[(&str, J)]) {
    log(Level::Info, module, message, fields)
}
pub fn warn(module: &str, message: &str, fields: &[(&str, J)]) {
    log(Level::Warn, module, message, fields)
}
pub fn error(module: &str, message: &str, fields: &[(&str, J)]) {
    log(Level::Error, module, message, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_hclog_json() {
        let line = format_line(
            Level::Warn,
            "example.gate",
            "alarm \"x\" in ALARM",
            &[("alarm", "x".into()), ("@level", "spoofed".into())],
        );
        let parsed: J = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["@level"], "warn");
        assert_eq!(parsed["@message"], "alarm \"x\" in ALARM");
        assert_eq!(parsed["@module"], "example.gate");
        assert_eq!(parsed["alarm"], "x");
        assert!(parsed["@timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(!line.contains('\n'));
    }
}
