//! cty's msgpack encoding, which is how `DynamicValue.msgpack` carries values.
//!
//! The encoding is type-directed: objects are maps in attribute order, sets
//! and lists are arrays, numbers are integers, floats or (when neither is
//! exact) decimal strings, unknowns are msgpack extensions, and a value at a
//! `dynamic` position is a pair of its JSON type and the value.

use std::collections::BTreeMap;

use crate::value::{Number, Type, Value};

/// Why bytes could not be read as a value of the expected type.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("msgpack value at {path}: {message}")]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

/// Encodes a value conforming to `ty`.
pub fn encode(value: &Value, ty: &Type) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write(&mut out, value, ty);
    out
}

/// Decodes msgpack bytes as a value of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let mut cursor = bytes;
    let raw = rmpv::decode::read_value(&mut cursor).map_err(|e| DecodeError {
        path: "(root)".into(),
        message: e.to_string(),
    })?;
    if !cursor.is_empty() {
        return Err(DecodeError { path: "(root)".into(), message: "trailing bytes".into() });
    }
    from_raw(&raw, ty, &mut Vec::new())
}

// cty's marker for an unknown value: fixext1, extension type 0, one zero byte.
const UNKNOWN: [u8; 3] = [0xd4, 0, 0];

fn write(out: &mut Vec<u8>, value: &Value, ty: &Type) {
    use rmp::encode as enc;
    // Writing into a Vec cannot fail, so the results below are discarded.
    match (value, ty) {
        (Value::Unknown, _) => out.extend_from_slice(&UNKNOWN),
        (Value::Null, _) => {
            let _ = enc::write_nil(out);
        }
        (Value::Dynamic(concrete, inner), Type::Dynamic) => {
            if matches!(**inner, Value::Unknown | Value::Null) {
                return write(out, inner, concrete);
            }
            let _ = enc::write_array_len(out, 2);
            let _ = enc::write_bin(out, concrete.to_json().to_string().as_bytes());
            write(out, inner, concrete);
        }
        (Value::Dynamic(_, inner), _) => write(out, inner, ty),
        (v, Type::Dynamic) => {
            let concrete = infer_type(v);
            let _ = enc::write_array_len(out, 2);
            let _ = enc::write_bin(out, concrete.to_json().to_string().as_bytes());
            write(out, v, &concrete);
        }
        (Value::Bool(b), _) => {
            let _ = enc::write_bool(out, *b);
        }
        (Value::Number(n), _) => write_number(out, n),
        (Value::String(s), _) => {
            let _ = enc::write_str(out, s);
        }
        (Value::List(items) | Value::Set(items), Type::List(e) | Type::Set(e)) => {
            let _ = enc::write_array_len(out, items.len() as u32);
            items.iter().for_each(|item| write(out, item, e));
        }
        (Value::Tuple(items), Type::Tuple(types)) => {
            let _ = enc::write_array_len(out, items.len() as u32);
            for (item, t) in items.iter().zip(types) {
                write(out, item, t);
            }
        }
        (Value::Map(entries), Type::Map(e)) => {
            let _ = enc::write_map_len(out, entries.len() as u32);
            for (k, v) in entries {
                let _ = enc::write_str(out, k);
                write(out, v, e);
            }
        }
        (Value::Object(attrs), Type::Object(types)) => {
            // Every attribute of the type, in name order; missing ones are null.
            let _ = enc::write_map_len(out, types.len() as u32);
            for (name, t) in types {
                let _ = enc::write_str(out, name);
                write(out, attrs.get(name).unwrap_or(&Value::Null), t);
            }
        }
        // A value that does not match its type is a provider bug; sending
        // null keeps the stream well-formed and Terraform reports the
        // inconsistency instead of the plugin crashing.
        _ => {
            let _ = enc::write_nil(out);
        }
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    use rmp::encode as enc;
    match n {
        Number::Int(i) => {
            let _ = enc::write_sint(out, *i);
        }
        Number::Infinity { negative } => {
            let _ = enc::write_f64(out, if *negative { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        // Decimal text is exact; cty parses numbers sent as strings.
        Number::Decimal(d) => {
            let _ = enc::write_str(out, d);
        }
    }
}

/// The type a value has when its position does not say (a `dynamic`
/// attribute). Empty collections become collections of `dynamic`.
pub fn infer_type(value: &Value) -> Type {
    match value {
        Value::Unknown | Value::Null => Type::Dynamic,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::List(items) => Type::list(items.first().map_or(Type::Dynamic, infer_type)),
        Value::Set(items) => Type::set(items.first().map_or(Type::Dynamic, infer_type)),
        Value::Map(entries) => Type::map(entries.values().next().map_or(Type::Dynamic, infer_type)),
        Value::Object(attrs) => {
            Type::Object(attrs.iter().map(|(k, v)| (k.clone(), infer_type(v))).collect())
        }
        Value::Tuple(items) => Type::Tuple(items.iter().map(infer_type).collect()),
        Value::Dynamic(t, _) => t.clone(),
    }
}

fn from_raw(raw: &rmpv::Value, ty: &Type, path: &mut Vec<String>) -> Result<Value, DecodeError> {
    use rmpv::Value as R;
    let fail = |path: &Vec<String>, message: String| DecodeError {
        path: if path.is_empty() { "(root)".into() } else { path.join("") },
        message,
    };
    match (raw, ty) {
        // Extension 0 is a plain unknown; 12 is an unknown with refinements.
        (R::Ext(_, _), _) => Ok(Value::Unknown),
        (R::Nil, _) => Ok(Value::Null),
        (R::Array(pair), Type::Dynamic) if pair.len() == 2 => {
            let type_json = match &pair[0] {
                R::Binary(b) => serde_json::from_slice(b).ok(),
                R::String(s) => s.as_str().and_then(|s| serde_json::from_str(s).ok()),
                _ => None,
            }
            .ok_or_else(|| fail(path, "dynamic value without a JSON type".into()))?;
            let concrete = Type::from_json(&type_json).map_err(|e| fail(path, e))?;
            let inner = from_raw(&pair[1], &concrete, path)?;
            Ok(Value::Dynamic(concrete, Box::new(inner)))
        }
        (R::Boolean(b), Type::Bool) => Ok(Value::Bool(*b)),
        (R::Integer(i), Type::Number) => {
            let n = match (i.as_i64(), i.as_u64()) {
                (Some(i), _) => Number::Int(i),
                (None, Some(u)) => Number::Decimal(u.to_string()),
                _ => return Err(fail(path, "integer out of range".into())),
            };
            Ok(Value::Number(n))
        }
        (R::F32(f), Type::Number) => Number::from_f64(f64::from(*f))
            .map(Value::Number)
            .ok_or_else(|| fail(path, "NaN is not a number".into())),
        (R::F64(f), Type::Number) => Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| fail(path, "NaN is not a number".into())),
        (R::String(s), Type::Number) => s
            .as_str()
            .and_then(Number::parse)
            .map(Value::Number)
            .ok_or_else(|| fail(path, format!("{s} is not a number"))),
        (R::String(s), Type::String) => s
            .as_str()
            .map(Value::string)
            .ok_or_else(|| fail(path, "string is not UTF-8".into())),
        (R::Array(items), Type::List(e) | Type::Set(e)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                out.push(from_raw(item, e, path)?);
                path.pop();
            }
            Ok(if matches!(ty, Type::Set(_)) { Value::Set(out) } else { Value::List(out) })
        }
        (R::Array(items), Type::Tuple(types)) => {
            if items.len() != types.len() {
                return Err(fail(path, format!("tuple of {} for {} types", items.len(), types.len())));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, t)) in items.iter().zip(types).enumerate() {
                path.push(format!("[{i}]"));
                out.push(from_raw(item, t, path)?);
                path.pop();
            }
            Ok(Value::Tuple(out))
        }
        (R::Map(entries), Type::Map(_) | Type::Object(_)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = k.as_str().ok_or_else(|| fail(path, "map key is not a string".into()))?;
                let element_type = match ty {
                    Type::Map(e) => e.as_ref(),
                    Type::Object(attrs) => attrs
                        .get(key)
                        .ok_or_else(|| fail(path, format!("unexpected attribute {key:?}")))?,
                    _ => unreachable!("matched above"),
                };
                path.push(match ty {
                    Type::Object(_) => format!(".{key}"),
                    _ => format!("[{key:?}]"),
                });
                out.insert(key.to_owned(), from_raw(v, element_type, path)?);
                path.pop();
            }
            if let Type::Object(attrs) = ty {
                for name in attrs.keys() {
                    out.entry(name.clone()).or_insert(Value::Null);
                }
                return Ok(Value::Object(out));
            }
            Ok(Value::Map(out))
        }
        (raw, ty) => Err(fail(path, format!("{raw} does not fit type {}", ty.to_json()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &Value, ty: &Type) -> Value {
        decode(&encode(value, ty), ty).unwrap_or_else(|e| panic!("{value:?}: {e}"))
    }

    #[test]
    fn primitives_round_trip() {
        for (v, t) in [
            (Value::Bool(true), Type::Bool),
            (Value::from("héllo"), Type::String),
            (Value::from(-42), Type::Number),
            (Value::Number(Number::Decimal("0.05".into())), Type::Number),
            (Value::Number(Number::Decimal("18446744073709551616".into())), Type::Number),
            (Value::Number(Number::Infinity { negative: true }), Type::Number),
            (Value::Null, Type::String),
            (Value::Unknown, Type::Number),
        ] {
            assert_eq!(round_trip(&v, &t), v);
        }
    }

    #[test]
    fn numbers_arrive_in_every_form_cty_sends() {
        // 0.05 has no exact float64, so cty sends it as a string.
        assert_eq!(decode(&[0xa4, b'0', b'.', b'0', b'5'], &Type::Number).unwrap(),
            Value::Number(Number::Decimal("0.05".into())));
        // 0.5 is exact, so it comes as a float64.
        let mut half = Vec::new();
        rmp::encode::write_f64(&mut half, 0.5).unwrap();
        assert_eq!(decode(&half, &Type::Number).unwrap(), Value::Number(Number::Decimal("0.5".into())));
        // u64 beyond i64.
        let mut big = Vec::new();
        rmp::encode::write_u64(&mut big, u64::MAX).unwrap();
        assert_eq!(decode(&big, &Type::Number).unwrap(),
            Value::Number(Number::Decimal(u64::MAX.to_string())));
    }

    #[test]
    fn unknowns_with_refinements_are_unknown() {
        // Extension 12 carries refinements, e.g. "not null" and a string prefix.
        let refined = [0xc7, 0x03, 12, 0x81, 0x01, 0xc3];
        assert_eq!(decode(&refined, &Type::String).unwrap(), Value::Unknown);
        assert_eq!(encode(&Value::Unknown, &Type::String), UNKNOWN);
    }

    #[test]
    fn objects_encode_every_attribute_in_order() {
        let ty = Type::object([("b", Type::String), ("a", Type::Number)]);
        let v = Value::object([("b", Value::from("x"))]);
        let bytes = encode(&v, &ty);
        // map of 2: "a" nil, "b" "x"
        assert_eq!(bytes, [0x82, 0xa1, b'a', 0xc0, 0xa1, b'b', 0xa1, b'x']);
        assert_eq!(decode(&bytes, &ty).unwrap(), Value::object([("a", Value::Null), ("b", "x".into())]));
    }

    #[test]
    fn collections_and_dynamic_round_trip() {
        let ty = Type::object([
            ("tags", Type::map(Type::String)),
            ("names", Type::set(Type::String)),
            ("steps", Type::list(Type::object([("percent", Type::Number)]))),
            ("pair", Type::Tuple(vec![Type::String, Type::Bool])),
            ("any", Type::Dynamic),
            ("nothing", Type::Dynamic),
        ]);
        let v = Value::object([
            ("tags", Value::Map([("k".to_owned(), Value::from("v"))].into())),
            ("names", Value::Set(vec!["a".into(), "b".into()])),
            ("steps", Value::List(vec![Value::object([("percent", 10.into())]), Value::Unknown])),
            ("pair", Value::Tuple(vec!["x".into(), true.into()])),
            ("any", Value::Dynamic(Type::list(Type::Number), Box::new(Value::List(vec![1.into()])))),
            ("nothing", Value::Null),
        ]);
        assert_eq!(round_trip(&v, &ty), v);
    }

    #[test]
    fn untyped_values_at_dynamic_positions_get_an_inferred_type() {
        let v = Value::List(vec!["a".into()]);
        let decoded = round_trip(&v, &Type::Dynamic);
        assert_eq!(decoded, Value::Dynamic(Type::list(Type::String), Box::new(v)));
    }

    #[test]
    fn mismatches_are_errors_with_a_path() {
        let ty = Type::object([("steps", Type::list(Type::Number))]);
        let v = Value::object([("steps", Value::List(vec![Value::from("x")]))]);
        let err = decode(&encode(&v, &Type::object([("steps", Type::list(Type::String))])), &ty)
            .unwrap_err();
        assert_eq!(err.path, ".steps[0]");
        assert!(decode(&[0xa5, b'x'], &Type::String).is_err(), "truncated string");
        assert!(decode(&[0xa1, b'x', 0x00], &Type::String).is_err(), "trailing bytes");
        assert!(decode(&[0x81, 0xa1, b'z', 0xc0], &ty).is_err(), "unknown attribute");
    }

    /// A small deterministic generator, so the fuzz-style test needs no crate.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_type(rng: &mut Lcg, depth: u32) -> Type {
        match rng.below(if depth > 2 { 3 } else { 9 }) {
            0 => Type::Bool,
            1 => Type::Number,
            2 => Type::String,
            3 => Type::Dynamic,
            4 => Type::list(random_type(rng, depth + 1)),
            5 => Type::set(random_type(rng, depth + 1)),
            6 => Type::map(random_type(rng, depth + 1)),
            7 => Type::Tuple((0..rng.below(3)).map(|_| random_type(rng, depth + 1)).collect()),
            _ => Type::Object(
                (0..rng.below(4)).map(|i| (format!("a{i}"), random_type(rng, depth + 1))).collect(),
            ),
        }
    }

    fn random_value(rng: &mut Lcg, ty: &Type) -> Value {
        match rng.below(10) {
            0 => return Value::Null,
            1 => return Value::Unknown,
            _ => {}
        }
        match ty {
            Type::Bool => Value::Bool(rng.below(2) == 0),
            Type::Number => match rng.below(3) {
                0 => Value::from(rng.next() as i64 - (1 << 30)),
                1 => Value::Number(Number::parse(&format!("{}.{}", rng.below(1000), rng.below(1000) + 1)).unwrap()),
                _ => Value::Number(Number::from_f64(rng.next() as f64 / 7.0).unwrap()),
            },
            Type::String => Value::String((0..rng.below(6)).map(|_| char::from(b'a' + rng.below(26) as u8)).collect()),
            Type::Dynamic => {
                let concrete = random_type(rng, 3);
                match random_value(rng, &concrete) {
                    v @ (Value::Null | Value::Unknown) => v,
                    v => Value::Dynamic(concrete, Box::new(v)),
                }
            }
            Type::List(e) => Value::List((0..rng.below(3)).map(|_| random_value(rng, e)).collect()),
            Type::Set(e) => Value::Set((0..rng.below(3)).map(|_| random_value(rng, e)).collect()),
            Type::Map(e) => Value::Map((0..rng.below(3)).map(|i| (format!("k{i}"), random_value(rng, e))).collect()),
            Type::Tuple(ts) => Value::Tuple(ts.iter().map(|t| random_value(rng, t)).collect()),
            Type::Object(attrs) => Value::Object(attrs.iter().map(|(k, t)| (k.clone(), random_value(rng, t))).collect()),
        }
    }

    #[test]
    fn random_values_round_trip() {
        let mut rng = Lcg(0x5eed);
        for _ in 0..5_000 {
            let ty = random_type(&mut rng, 0);
            let v = random_value(&mut rng, &ty);
            assert_eq!(round_trip(&v, &ty), v, "type {}", ty.to_json());
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Lcg(42);
        let ty = Type::object([
            ("a", Type::list(Type::Dynamic)),
            ("b", Type::map(Type::Number)),
            ("c", Type::Tuple(vec![Type::String])),
        ]);
        for _ in 0..20_000 {
            let len = rng.below(24) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = decode(&bytes, &ty);
            let _ = decode(&bytes, &Type::Dynamic);
        }
    }
}
