//! cty's JSON encoding, which Terraform uses for stored state
//! (`UpgradeResourceState.raw_state.json`). JSON cannot hold unknowns.

use std::collections::BTreeMap;

use serde_json::Value as J;

use crate::msgpack::infer_type;
use crate::value::{Number, Type, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("state JSON at {path}: {message}")]
pub struct JsonError {
    pub path: String,
    pub message: String,
}

/// Decodes JSON state bytes as a value of `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, JsonError> {
    let json: J =
        serde_json::from_slice(bytes).map_err(|e| JsonError { path: "(root)".into(), message: e.to_string() })?;
    from_value(&json, ty)
}

/// Decodes parsed JSON state as a value of `ty`.
pub fn from_value(json: &J, ty: &Type) -> Result<Value, JsonError> {
    from_json(json, ty, false, &mut Vec::new())
}

/// Encodes a wholly known value as cty JSON.
pub fn encode(value: &Value, ty: &Type) -> J {
    match (value, ty) {
        (Value::Unknown | Value::Null, _) => J::Null,
        (Value::Dynamic(concrete, inner), Type::Dynamic) => {
            serde_json::json!({ "value": encode(inner, concrete), "type": concrete.to_json() })
        }
        (Value::Dynamic(_, inner), _) => encode(inner, ty),
        (v, Type::Dynamic) => {
            let concrete = infer_type(v);
            serde_json::json!({ "value": encode(v, &concrete), "type": concrete.to_json() })
        }
        (Value::Bool(b), _) => J::Bool(*b),
        (Value::Number(n), _) => match n {
            // JSON has no infinities; cty writes them as strings too.
            Number::Infinity { .. } => J::String(n.to_string()),
            _ => serde_json::from_str(&n.to_string()).unwrap_or(J::Null),
        },
        (Value::String(s), _) => J::String(s.clone()),
        (Value::List(items) | Value::Set(items), Type::List(e) | Type::Set(e)) => {
            J::Array(items.iter().map(|v| encode(v, e)).collect())
        }
        (Value::Tuple(items), Type::Tuple(types)) => {
            J::Array(items.iter().zip(types).map(|(v, t)| encode(v, t)).collect())
        }
        (Value::Map(entries), Type::Map(e)) => {
            J::Object(entries.iter().map(|(k, v)| (k.clone(), encode(v, e))).collect())
        }
        (Value::Object(attrs), Type::Object(types)) => {
            J::Object(types.iter().map(|(k, t)| (k.clone(), encode(attrs.get(k).unwrap_or(&Value::Null), t))).collect())
        }
        _ => J::Null,
    }
}

fn fail(path: &[String], message: String) -> JsonError {
    JsonError { path: if path.is_empty() { "(root)".into() } else { path.join("") }, message }
}

/// `typed_by_value`: `ty` came with the value (inside a dynamic value), not
/// from the schema. Objects typed by the schema may lack the attributes it
/// gained since the state was stored, and those become null; the others are
/// whole, as cty writes them, so that filling in cannot make a list of empty
/// objects grow by the width of a type the input itself declares.
///
/// Collections recurse through here, so it only dispatches: its frame,
/// repeated at every level, stays small even unoptimised.
fn from_json(json: &J, ty: &Type, typed_by_value: bool, path: &mut Vec<String>) -> Result<Value, JsonError> {
    match (json, ty) {
        (J::Object(o), Type::Dynamic) => dynamic(o, path),
        (J::Array(items), Type::List(e)) => elements(items, |_| e, typed_by_value, path).map(Value::List),
        (J::Array(items), Type::Set(e)) => elements(items, |_| e, typed_by_value, path).map(Value::Set),
        (J::Array(items), Type::Tuple(types)) if items.len() == types.len() => {
            elements(items, |i| &types[i], typed_by_value, path).map(Value::Tuple)
        }
        (J::Object(o), Type::Map(e)) => map(o, e, typed_by_value, path),
        (J::Object(o), Type::Object(types)) => object(o, types, typed_by_value, path),
        _ => primitive(json, ty, path),
    }
}

fn dynamic(o: &serde_json::Map<String, J>, path: &mut Vec<String>) -> Result<Value, JsonError> {
    let concrete = dynamic_type(o, path)?;
    match from_json(o.get("value").unwrap_or(&J::Null), &concrete, true, path)? {
        Value::Null => Ok(Value::Null),
        inner => Ok(Value::Dynamic(concrete, Box::new(inner))),
    }
}

fn dynamic_type(o: &serde_json::Map<String, J>, path: &[String]) -> Result<Type, JsonError> {
    let type_json = o.get("type").ok_or_else(|| fail(path, "dynamic value without \"type\"".into()))?;
    Type::from_json(type_json).map_err(|e| fail(path, e))
}

fn elements<'t>(
    items: &[J],
    element_type: impl Fn(usize) -> &'t Type,
    typed_by_value: bool,
    path: &mut Vec<String>,
) -> Result<Vec<Value>, JsonError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        path.push(format!("[{i}]"));
        out.push(from_json(item, element_type(i), typed_by_value, path)?);
        path.pop();
    }
    Ok(out)
}

fn map(
    o: &serde_json::Map<String, J>,
    e: &Type,
    typed_by_value: bool,
    path: &mut Vec<String>,
) -> Result<Value, JsonError> {
    let mut out = BTreeMap::new();
    for (k, v) in o {
        path.push(format!("[{k:?}]"));
        out.insert(k.clone(), from_json(v, e, typed_by_value, path)?);
        path.pop();
    }
    Ok(Value::Map(out))
}

fn object(
    o: &serde_json::Map<String, J>,
    types: &BTreeMap<String, Type>,
    typed_by_value: bool,
    path: &mut Vec<String>,
) -> Result<Value, JsonError> {
    if let Some(extra) = o.keys().find(|k| !types.contains_key(*k)) {
        return Err(fail(path, format!("unsupported attribute {extra:?}")));
    }
    if typed_by_value && let Some(missing) = types.keys().find(|k| !o.contains_key(*k)) {
        return Err(fail(path, format!("attribute {missing:?} missing")));
    }
    let mut out = BTreeMap::new();
    for (k, t) in types {
        path.push(format!(".{k}"));
        out.insert(k.clone(), from_json(o.get(k).unwrap_or(&J::Null), t, typed_by_value, path)?);
        path.pop();
    }
    Ok(Value::Object(out))
}

fn primitive(json: &J, ty: &Type, path: &[String]) -> Result<Value, JsonError> {
    match (json, ty) {
        (J::Null, _) => Ok(Value::Null),
        (J::Bool(b), Type::Bool) => Ok(Value::Bool(*b)),
        // Old states may hold primitives in their string form.
        (J::String(s), Type::Bool) => match s.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(fail(path, format!("{s:?} is not a bool"))),
        },
        (J::Number(n), Type::Number) => {
            Number::parse(&n.to_string()).map(Value::Number).ok_or_else(|| fail(path, format!("{n} is not a number")))
        }
        (J::String(s), Type::Number) => {
            Number::parse(s).map(Value::Number).ok_or_else(|| fail(path, format!("{s:?} is not a number")))
        }
        (J::String(s), Type::String) => Ok(Value::String(s.clone())),
        (J::Number(n), Type::String) => Ok(Value::String(n.to_string())),
        (J::Bool(b), Type::String) => Ok(Value::String(b.to_string())),
        (json, ty) => Err(fail(path, format!("{json} does not fit type {}", ty.to_json()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_with_exact_decimals() {
        let ty = Type::object([
            ("id", Type::String),
            ("threshold", Type::Number),
            ("alarms", Type::list(Type::String)),
            ("triggers", Type::map(Type::String)),
            ("extra", Type::Dynamic),
        ]);
        let text = br#"{"id":"x","threshold":0.05,"alarms":["a"],"triggers":{"image":"v2"},"extra":{"value":[1,2],"type":["list","number"]}}"#;
        let v = decode(text, &ty).unwrap();
        assert_eq!(v.get("threshold").as_number(), Some(&Number::Decimal("0.05".into())));
        assert_eq!(
            v.get("extra"),
            &Value::Dynamic(Type::list(Type::Number), Box::new(Value::List(vec![1.into(), 2.into()])))
        );
        assert_eq!(decode(encode(&v, &ty).to_string().as_bytes(), &ty).unwrap(), v);
    }

    #[test]
    fn missing_attributes_are_null_and_unknown_ones_are_errors() {
        let ty = Type::object([("a", Type::String), ("b", Type::Number)]);
        assert_eq!(decode(br#"{"a":"x"}"#, &ty).unwrap(), Value::object([("a", "x".into()), ("b", Value::Null)]));
        let err = decode(br#"{"a":"x","zzz":1}"#, &ty).unwrap_err();
        assert!(err.message.contains("zzz"));
        let err = decode(br#"{"a":"x","b":"many"}"#, &ty).unwrap_err();
        assert_eq!(err.path, ".b");
    }

    #[test]
    fn objects_typed_inside_a_dynamic_value_are_whole() {
        let stored = br#"{"value":[{"a":"x","b":null}],"type":["list",["object",{"a":"string","b":"string"}]]}"#;
        assert!(decode(stored, &Type::Dynamic).is_ok());
        let err =
            decode(br#"{"value":[{"a":"x"}],"type":["list",["object",{"a":"string","b":"string"}]]}"#, &Type::Dynamic)
                .unwrap_err();
        assert_eq!((err.path.as_str(), err.message.as_str()), ("[0]", "attribute \"b\" missing"));
    }
}
