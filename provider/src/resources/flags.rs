//! AppConfig feature flag documents (`AWS.AppConfig.FeatureFlags`): one
//! flag's value changed, everything else kept, and the flag's state read
//! from what clients receive.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

/// What a flag is set to: on or off, and its attribute values as given
/// (text, converted by each attribute's declared type).
#[derive(Debug, Clone, PartialEq)]
pub struct FlagValue {
    pub enabled: bool,
    pub attributes: BTreeMap<String, String>,
}

/// The document with `flag`'s value set to `value` and nothing else
/// changed; why not, when the flag or an attribute is not defined, or a
/// value does not meet its constraints.
pub fn with_flag(document: &Json, flag: &str, value: &FlagValue) -> Result<Json, String> {
    let definition = document.get("flags").and_then(|f| f.get(flag)).ok_or_else(|| {
        let known: Vec<&str> = document.get("flags").and_then(Json::as_object).map(|f| f.keys().map(String::as_str).collect()).unwrap_or_default();
        format!("the profile defines no flag {flag:?} (it defines {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") })
    })?;
    if document.get("values").and_then(|v| v.get(flag)).and_then(|v| v.get("_variants")).is_some() {
        return Err(format!("flag {flag:?} has variants; this resource releases flags without variants"));
    }
    let declared = definition.get("attributes").and_then(Json::as_object).cloned().unwrap_or_default();
    let mut entry = Map::new();
    entry.insert("enabled".into(), Json::Bool(value.enabled));
    for (name, text) in &value.attributes {
        let constraints = declared.get(name).ok_or_else(|| format!("flag {flag:?} declares no attribute {name:?} (it declares {})", if declared.is_empty() { "none".to_owned() } else { declared.keys().cloned().collect::<Vec<_>>().join(", ") }))?;
        entry.insert(name.clone(), attribute_value(flag, name, text, constraints.get("constraints").unwrap_or(&Json::Null))?);
    }
    if value.enabled {
        for (name, spec) in &declared {
            let required = spec.get("constraints").and_then(|c| c.get("required")).and_then(Json::as_bool).unwrap_or(false);
            if required && !entry.contains_key(name) {
                return Err(format!("attribute {name:?} of flag {flag:?} is required when the flag is enabled"));
            }
        }
    }
    let mut changed = document.clone();
    let values = changed.as_object_mut().ok_or("the document is not a JSON object")?.entry("values").or_insert_with(|| Json::Object(Map::new()));
    let values = values.as_object_mut().ok_or("the document's values are not an object")?;
    values.insert(flag.to_owned(), Json::Object(entry));
    Ok(changed)
}

/// An attribute's text as the JSON its constraints declare, checked
/// against them (`type`, `enum`, `minimum`, `maximum`).
fn attribute_value(flag: &str, name: &str, text: &str, constraints: &Json) -> Result<Json, String> {
    let refuse = |why: String| Err(format!("attribute {name:?} of flag {flag:?}: {why}"));
    let value = match constraints.get("type").and_then(Json::as_str) {
        Some("number") => match text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            Some(n) => Json::Number(n),
            None => return refuse(format!("{text:?} is not a number")),
        },
        Some("boolean") => match text {
            "true" => Json::Bool(true),
            "false" => Json::Bool(false),
            _ => return refuse(format!("{text:?} is not true or false")),
        },
        Some("array") => match serde_json::from_str::<Json>(text) {
            Ok(array @ Json::Array(_)) => array,
            _ => return refuse(format!("{text:?} is not a JSON array")),
        },
        _ => Json::String(text.to_owned()),
    };
    if let Some(allowed) = constraints.get("enum").and_then(Json::as_array) {
        if !allowed.contains(&value) {
            return refuse(format!("{text:?} is not one of {}", Json::Array(allowed.clone())));
        }
    }
    if let Some(n) = value.as_f64() {
        if constraints.get("minimum").and_then(Json::as_f64).is_some_and(|min| n < min) || constraints.get("maximum").and_then(Json::as_f64).is_some_and(|max| n > max) {
            return refuse(format!("{text} is outside the declared minimum and maximum"));
        }
    }
    Ok(value)
}

/// Whether what a client receives (`{flag: {"enabled": ..., attributes}}`)
/// holds exactly `value` for `flag`, as `with_flag` writes it into `document`.
pub fn serves(served: &[u8], document: &Json, flag: &str, value: &FlagValue) -> bool {
    let Ok(served) = serde_json::from_slice::<Json>(served) else { return false };
    let Ok(written) = with_flag(document, flag, value) else { return false };
    let expected = &written["values"][flag];
    // Attributes are served only while the flag is enabled.
    let expected = if value.enabled { expected.clone() } else { serde_json::json!({ "enabled": false }) };
    served.get(flag).is_some_and(|got| same(got, &expected))
}

/// JSON equality with numbers compared by value (`25` is `25.0`).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Json::Object(x), Json::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

/// The flag's state in what a client receives (`{flag: {"enabled": ...,
/// attributes}}`); `None` when the flag is not there.
pub fn served_value(served: &[u8], flag: &str) -> Option<FlagValue> {
    let json: Json = serde_json::from_slice(served).ok()?;
    let entry = json.get(flag)?.as_object()?;
    let enabled = entry.get("enabled")?.as_bool()?;
    let attributes = entry
        .iter()
        .filter(|(k, _)| k.as_str() != "enabled")
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
        .collect();
    Some(FlagValue { enabled, attributes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Json {
        serde_json::json!({
            "version": "1",
            "flags": {
                "checkout_v2": { "name": "Checkout v2", "attributes": { "limit": { "constraints": { "type": "number", "minimum": 1, "maximum": 100, "required": true } }, "color": { "constraints": { "type": "string", "enum": ["blue", "green"] } } } },
                "dark_mode": { "name": "Dark mode" }
            },
            "values": { "checkout_v2": { "enabled": false }, "dark_mode": { "enabled": true } }
        })
    }

    fn value(enabled: bool, attributes: &[(&str, &str)]) -> FlagValue {
        FlagValue { enabled, attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() }
    }

    #[test]
    fn only_the_flag_changes() {
        let changed = with_flag(&document(), "checkout_v2", &value(true, &[("limit", "10"), ("color", "green")])).unwrap();
        assert_eq!(changed["values"]["checkout_v2"], serde_json::json!({ "enabled": true, "limit": 10.0, "color": "green" }));
        assert_eq!(changed["values"]["dark_mode"], document()["values"]["dark_mode"], "another flag survives");
        assert_eq!(changed["flags"], document()["flags"]);
    }

    #[test]
    fn undefined_flags_attributes_and_constraint_violations_are_refused() {
        let refused = |flag: &str, v: FlagValue| with_flag(&document(), flag, &v).unwrap_err();
        assert!(refused("nope", value(true, &[])).contains("defines no flag \"nope\""));
        assert!(refused("checkout_v2", value(true, &[("limit", "10"), ("size", "2")])).contains("declares no attribute \"size\""));
        assert!(refused("checkout_v2", value(true, &[("limit", "ten")])).contains("not a number"));
        assert!(refused("checkout_v2", value(true, &[("limit", "1000")])).contains("minimum and maximum"));
        assert!(refused("checkout_v2", value(true, &[("limit", "5"), ("color", "red")])).contains("not one of"));
        assert!(refused("checkout_v2", value(true, &[])).contains("required"));
        assert!(with_flag(&document(), "checkout_v2", &value(false, &[])).is_ok(), "required only when enabled");
    }

    #[test]
    fn serving_is_judged_by_value_not_by_spelling() {
        let on = value(true, &[("limit", "25")]);
        assert!(serves(br#"{"checkout_v2": {"enabled": true, "limit": 25}}"#, &document(), "checkout_v2", &on));
        assert!(!serves(br#"{"checkout_v2": {"enabled": true, "limit": 26}}"#, &document(), "checkout_v2", &on));
        assert!(serves(br#"{"checkout_v2": {"enabled": false}}"#, &document(), "checkout_v2", &value(false, &[("limit", "25")])), "attributes are not served while off");
    }

    #[test]
    fn the_served_value_is_read_from_the_retrieval_format() {
        let served = br#"{"checkout_v2": {"enabled": true, "limit": 10, "color": "green"}, "dark_mode": {"enabled": false}}"#;
        assert_eq!(served_value(served, "checkout_v2"), Some(value(true, &[("limit", "10"), ("color", "green")])));
        assert_eq!(served_value(served, "missing"), None);
    }
}
