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
        let known: Vec<&str> = document
            .get("flags")
            .and_then(Json::as_object)
            .map(|f| f.keys().map(String::as_str).collect())
            .unwrap_or_default();
        format!(
            "the profile defines no flag {flag:?} (it defines {})",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )
    })?;
    current(document, flag)?;
    let declared = definition.get("attributes").and_then(Json::as_object).cloned().unwrap_or_default();
    let mut entry = Map::new();
    entry.insert("enabled".into(), Json::Bool(value.enabled));
    for (name, text) in &value.attributes {
        let constraints = declared.get(name).ok_or_else(|| {
            format!(
                "flag {flag:?} declares no attribute {name:?} (it declares {})",
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            )
        })?;
        entry.insert(
            name.clone(),
            attribute_value(flag, name, text, constraints.get("constraints").unwrap_or(&Json::Null))?,
        );
    }
    if value.enabled {
        for (name, spec) in &declared {
            let required =
                spec.get("constraints").and_then(|c| c.get("required")).and_then(Json::as_bool).unwrap_or(false);
            if required && !entry.contains_key(name) {
                return Err(format!("attribute {name:?} of flag {flag:?} is required when the flag is enabled"));
            }
        }
    }
    let mut changed = document.clone();
    let values = changed
        .as_object_mut()
        .ok_or("the document is not a JSON object")?
        .entry("values")
        .or_insert_with(|| Json::Object(Map::new()));
    let values = values.as_object_mut().ok_or("the document's values are not an object")?;
    values.insert(flag.to_owned(), Json::Object(entry));
    Ok(changed)
}

/// The document with `flag`'s value set to `entry` as it stands (a value
/// read from the document before), nothing else changed.
pub fn with_entry(document: &Json, flag: &str, entry: &Json) -> Result<Json, String> {
    let mut changed = document.clone();
    let values = changed
        .as_object_mut()
        .ok_or("the document is not a JSON object")?
        .entry("values")
        .or_insert_with(|| Json::Object(Map::new()));
    values.as_object_mut().ok_or("the document's values are not an object")?.insert(flag.to_owned(), entry.clone());
    Ok(changed)
}

/// Variant names this resource writes for an exposure step.
pub const RELEASED_VARIANT: &str = "progressive-released";
pub const PREVIOUS_VARIANT: &str = "progressive-previous";

/// The flag's value in the document: plain, or the previous side of an
/// exposure step this resource wrote (an apply that stopped mid-way);
/// variants of anyone else's are refused.
pub fn current(document: &Json, flag: &str) -> Result<Option<Json>, String> {
    let Some(entry) = document.get("values").and_then(|v| v.get(flag)) else { return Ok(None) };
    let Some(variants) = entry.get("_variants").and_then(Json::as_array) else { return Ok(Some(entry.clone())) };
    let names: Vec<&str> = variants.iter().filter_map(|v| v.get("name").and_then(Json::as_str)).collect();
    if names != [RELEASED_VARIANT, PREVIOUS_VARIANT] {
        return Err(format!(
            "flag {flag:?} has variants of its own ({}); this resource releases flags without variants",
            names.join(", ")
        ));
    }
    let previous = &variants[1];
    let mut plain = previous.get("attributeValues").and_then(Json::as_object).cloned().unwrap_or_default();
    plain.insert("enabled".into(), previous.get("enabled").cloned().unwrap_or(Json::Bool(false)));
    Ok(Some(Json::Object(plain)))
}

/// The document with `flag` split between `value` (a share `percent` of
/// the users, by the context key `split_by`) and what it held before.
pub fn with_exposure(
    document: &Json,
    flag: &str,
    value: &FlagValue,
    percent: f64,
    split_by: &str,
) -> Result<Json, String> {
    let before = current(document, flag)?.unwrap_or_else(|| serde_json::json!({ "enabled": false }));
    let released = with_flag(document, flag, value)?;
    let variant = |name: &str, entry: &Json, rule: Option<String>| {
        let mut v = Map::new();
        v.insert("name".into(), Json::String(name.to_owned()));
        v.insert("enabled".into(), entry.get("enabled").cloned().unwrap_or(Json::Bool(false)));
        if let Some(rule) = rule {
            v.insert("rule".into(), Json::String(rule));
        }
        let attributes: Map<String, Json> = entry
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != "enabled")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !attributes.is_empty() {
            v.insert("attributeValues".into(), Json::Object(attributes));
        }
        Json::Object(v)
    };
    let rule = format!("(split pct::{} by::${split_by})", crate::engine::traffic::format_percent(percent));
    let entry = serde_json::json!({ "_variants": [variant(RELEASED_VARIANT, &released["values"][flag], Some(rule)), variant(PREVIOUS_VARIANT, &before, None)] });
    let mut changed = released;
    changed["values"][flag] = entry;
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
    if let Some(allowed) = constraints.get("enum").and_then(Json::as_array)
        && !allowed.contains(&value)
    {
        return refuse(format!("{text:?} is not one of {}", Json::Array(allowed.clone())));
    }
    if let Some(n) = value.as_f64()
        && (constraints.get("minimum").and_then(Json::as_f64).is_some_and(|min| n < min)
            || constraints.get("maximum").and_then(Json::as_f64).is_some_and(|max| n > max))
    {
        return refuse(format!("{text} is outside the declared minimum and maximum"));
    }
    Ok(value)
}

/// Whether what a client receives (`{flag: {"enabled": ..., attributes}}`)
/// holds exactly `value` for `flag`, as `with_flag` writes it into `document`.
pub fn serves(served: &[u8], document: &Json, flag: &str, value: &FlagValue) -> bool {
    let Ok(written) = with_flag(document, flag, value) else { return false };
    serves_entry(served, flag, &served_entry(Some(&written["values"][flag])))
}

/// What a client is served for a flag whose value in the document is
/// `entry` (as [`current`] reads it; `None`: no value, off).
pub fn served_entry(entry: Option<&Json>) -> Json {
    // Attributes are served only while the flag is enabled.
    match entry {
        Some(entry) if entry.get("enabled") == Some(&Json::Bool(true)) => entry.clone(),
        _ => serde_json::json!({ "enabled": false }),
    }
}

/// Whether what a client receives holds exactly `expected` (a
/// [`served_entry`]) for `flag`.
/// A flag that is not served (no configuration deployed yet, or a document
/// without it) is off for clients.
pub fn serves_entry(served: &[u8], flag: &str, expected: &Json) -> bool {
    let off = || *expected == served_entry(None);
    if served.is_empty() {
        return off();
    }
    let Ok(served) = serde_json::from_slice::<Json>(served) else { return false };
    served.get(flag).map_or_else(off, |got| same(got, expected))
}

/// JSON equality with numbers compared by value (`25` is `25.0`).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
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
        let changed =
            with_flag(&document(), "checkout_v2", &value(true, &[("limit", "10"), ("color", "green")])).unwrap();
        assert_eq!(
            changed["values"]["checkout_v2"],
            serde_json::json!({ "enabled": true, "limit": 10.0, "color": "green" })
        );
        assert_eq!(changed["values"]["dark_mode"], document()["values"]["dark_mode"], "another flag survives");
        assert_eq!(changed["flags"], document()["flags"]);
    }

    #[test]
    fn undefined_flags_attributes_and_constraint_violations_are_refused() {
        let refused = |flag: &str, v: FlagValue| with_flag(&document(), flag, &v).unwrap_err();
        assert!(refused("nope", value(true, &[])).contains("defines no flag \"nope\""));
        assert!(
            refused("checkout_v2", value(true, &[("limit", "10"), ("size", "2")]))
                .contains("declares no attribute \"size\"")
        );
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
        assert!(
            serves(
                br#"{"checkout_v2": {"enabled": false}}"#,
                &document(),
                "checkout_v2",
                &value(false, &[("limit", "25")])
            ),
            "attributes are not served while off"
        );
    }

    #[test]
    fn a_documents_entry_is_served_with_attributes_only_while_on() {
        let on = serde_json::json!({ "enabled": true, "limit": 25 });
        assert_eq!(served_entry(Some(&on)), on);
        let off = serde_json::json!({ "enabled": false, "limit": 25 });
        assert_eq!(served_entry(Some(&off)), serde_json::json!({ "enabled": false }));
        assert_eq!(served_entry(None), serde_json::json!({ "enabled": false }), "no value: off");
        assert!(serves_entry(br#"{"checkout_v2": {"enabled": true, "limit": 25.0}}"#, "checkout_v2", &on));
        assert!(!serves_entry(br#"{"checkout_v2": {"enabled": false}}"#, "checkout_v2", &on));
        assert!(!serves_entry(br#"{"dark_mode": {"enabled": true}}"#, "checkout_v2", &on), "the flag not served");
        let absent = served_entry(None);
        assert!(serves_entry(br#"{"dark_mode": {"enabled": true}}"#, "checkout_v2", &absent), "not served: off");
        assert!(serves_entry(b"", "checkout_v2", &absent), "nothing deployed: off");
        assert!(!serves_entry(b"", "checkout_v2", &on));
        assert!(!serves_entry(b"not json", "checkout_v2", &absent));
    }

    #[test]
    fn an_exposure_step_splits_the_users_and_a_later_release_undoes_it() {
        let step = with_exposure(&document(), "checkout_v2", &value(true, &[("limit", "10")]), 5.0, "userId").unwrap();
        let variants = &step["values"]["checkout_v2"]["_variants"];
        assert_eq!(variants[0]["rule"], "(split pct::5 by::$userId)");
        assert_eq!((variants[0]["enabled"].as_bool(), variants[1]["enabled"].as_bool()), (Some(true), Some(false)));
        assert_eq!(step["values"]["dark_mode"], document()["values"]["dark_mode"]);
        // The next step or the release replaces this resource's own variants...
        assert!(with_exposure(&step, "checkout_v2", &value(true, &[("limit", "10")]), 25.0, "userId").is_ok());
        let released = with_flag(&step, "checkout_v2", &value(true, &[("limit", "10")])).unwrap();
        assert!(released["values"]["checkout_v2"].get("_variants").is_none());
        assert_eq!(current(&step, "checkout_v2").unwrap(), Some(serde_json::json!({ "enabled": false })));
        // ...but never anyone else's.
        let mut foreign = document();
        foreign["values"]["checkout_v2"] = serde_json::json!({ "_variants": [{ "name": "beta", "enabled": true, "rule": "(eq $tier \"beta\")" }, { "name": "default", "enabled": false }] });
        assert!(with_flag(&foreign, "checkout_v2", &value(true, &[])).unwrap_err().contains("variants of its own"));
    }

    #[test]
    fn the_served_value_is_read_from_the_retrieval_format() {
        let served =
            br#"{"checkout_v2": {"enabled": true, "limit": 10, "color": "green"}, "dark_mode": {"enabled": false}}"#;
        assert_eq!(served_value(served, "checkout_v2"), Some(value(true, &[("limit", "10"), ("color", "green")])));
        assert_eq!(served_value(served, "missing"), None);
    }
}
