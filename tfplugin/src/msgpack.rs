//! cty's msgpack encoding, which is how `DynamicValue.msgpack` carries values.
//!
//! The encoding is type-directed: objects are maps in attribute order, sets
//! and lists are arrays, numbers are integers, floats or (when neither is
//! exact) decimal strings, unknowns are msgpack extensions, and a value at a
//! `dynamic` position is a pair of its JSON type and the value.

use std::collections::BTreeMap;

use rmp::Marker;

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

/// Values nest at most this deep (collections, objects and dynamic pairs):
/// deeper input is refused before its recursion can exhaust the stack, as
/// serde_json refuses JSON nested 128 deep.
pub const MAX_DEPTH: usize = 128;

/// Decodes msgpack bytes as a value of type `ty`.
///
/// Decoding goes straight from the bytes to the value, so what it holds is
/// the value itself, and no length the input announces is trusted: it must
/// fit in the bytes that follow before anything is read for it, and
/// collections grow only as their elements arrive.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let mut reader = Reader { rest: bytes, path: Vec::new() };
    let value = reader.value(ty, 0)?;
    if !reader.rest.is_empty() {
        return Err(reader.fail("trailing bytes".into()));
    }
    Ok(value)
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
        Value::Object(attrs) => Type::Object(attrs.iter().map(|(k, v)| (k.clone(), infer_type(v))).collect()),
        Value::Tuple(items) => Type::Tuple(items.iter().map(infer_type).collect()),
        Value::Dynamic(t, _) => t.clone(),
    }
}

/// The bytes not yet decoded, and where in the value they belong.
struct Reader<'a> {
    rest: &'a [u8],
    path: Vec<String>,
}

impl<'a> Reader<'a> {
    fn fail(&self, message: String) -> DecodeError {
        let path = if self.path.is_empty() { "(root)".into() } else { self.path.join("") };
        DecodeError { path, message }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(self.fail(format!("{n} bytes announced, {} left", self.rest.len())));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// A big-endian unsigned integer of `width` bytes.
    fn uint(&mut self, width: usize) -> Result<u64, DecodeError> {
        Ok(self.take(width)?.iter().fold(0, |n, b| n << 8 | u64::from(*b)))
    }

    /// The length a string, binary, extension, array or map marker announces.
    fn length(&mut self, marker: Marker) -> Result<usize, DecodeError> {
        let width = match marker {
            Marker::FixStr(n) | Marker::FixArray(n) | Marker::FixMap(n) => return Ok(usize::from(n)),
            Marker::FixExt1 => return Ok(1),
            Marker::FixExt2 => return Ok(2),
            Marker::FixExt4 => return Ok(4),
            Marker::FixExt8 => return Ok(8),
            Marker::FixExt16 => return Ok(16),
            Marker::Str8 | Marker::Bin8 | Marker::Ext8 => 1,
            Marker::Str16 | Marker::Bin16 | Marker::Ext16 | Marker::Array16 | Marker::Map16 => 2,
            // Str32, Bin32, Ext32, Array32, Map32.
            _ => 4,
        };
        Ok(self.uint(width)? as usize)
    }

    /// The element count of an array (`per_element` 1) or map (2, a key and
    /// a value), each element taking at least one byte: a count the rest of
    /// the input cannot hold is refused, as is nesting beyond [`MAX_DEPTH`].
    fn count(&mut self, marker: Marker, per_element: usize, depth: usize) -> Result<usize, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(self.fail(format!("nested deeper than {MAX_DEPTH}")));
        }
        let n = self.length(marker)?;
        if n > self.rest.len() / per_element {
            return Err(self.fail(format!("{n} elements announced, {} bytes left", self.rest.len())));
        }
        Ok(n)
    }

    fn text(&mut self, marker: Marker) -> Result<&'a str, DecodeError> {
        let n = self.length(marker)?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|_| self.fail("string is not UTF-8".into()))
    }

    /// A value of type `ty` inside `depth` collections. Collections recurse
    /// through here, so it only dispatches: its frame, repeated at every
    /// level, stays small even unoptimised.
    fn value(&mut self, ty: &Type, depth: usize) -> Result<Value, DecodeError> {
        use Marker as M;
        let marker = M::from_u8(self.take(1)?[0]);
        match (marker, ty) {
            (M::FixArray(_) | M::Array16 | M::Array32, Type::Dynamic) => self.dynamic(marker, depth),
            (M::FixArray(_) | M::Array16 | M::Array32, Type::List(_) | Type::Set(_) | Type::Tuple(_)) => {
                self.array(marker, ty, depth)
            }
            (M::FixMap(_) | M::Map16 | M::Map32, Type::Map(_) | Type::Object(_)) => self.map(marker, ty, depth),
            _ => self.scalar(marker, ty),
        }
    }

    /// A value at a `dynamic` position: a pair of its JSON type and the value.
    fn dynamic(&mut self, marker: Marker, depth: usize) -> Result<Value, DecodeError> {
        if self.count(marker, 1, depth)? != 2 {
            return Err(self.fail("dynamic value is not a pair of its type and the value".into()));
        }
        let concrete = self.dynamic_type()?;
        // A null or unknown is written without its type (see `write`).
        match self.value(&concrete, depth + 1)? {
            inner @ (Value::Null | Value::Unknown) => Ok(inner),
            inner => Ok(Value::Dynamic(concrete, Box::new(inner))),
        }
    }

    /// The JSON type that opens a dynamic value's pair, read apart from the
    /// recursion so that its parsing takes no room in every level's frame.
    fn dynamic_type(&mut self) -> Result<Type, DecodeError> {
        use Marker as M;
        let type_json = match M::from_u8(self.take(1)?[0]) {
            m @ (M::Bin8 | M::Bin16 | M::Bin32 | M::FixStr(_) | M::Str8 | M::Str16 | M::Str32) => {
                let n = self.length(m)?;
                serde_json::from_slice(self.take(n)?).ok()
            }
            _ => None,
        }
        .ok_or_else(|| self.fail("dynamic value without a JSON type".into()))?;
        Type::from_json(&type_json).map_err(|e| self.fail(e))
    }

    fn array(&mut self, marker: Marker, ty: &Type, depth: usize) -> Result<Value, DecodeError> {
        let n = self.count(marker, 1, depth)?;
        if let Type::Tuple(types) = ty
            && n != types.len()
        {
            return Err(self.fail(format!("tuple of {n} for {} types", types.len())));
        }
        let mut items = Vec::new();
        for i in 0..n {
            let element_type = match ty {
                Type::Tuple(types) => &types[i],
                Type::List(e) | Type::Set(e) => e,
                _ => unreachable!("an array type"),
            };
            self.path.push(format!("[{i}]"));
            items.push(self.value(element_type, depth + 1)?);
            self.path.pop();
        }
        Ok(match ty {
            Type::Tuple(_) => Value::Tuple(items),
            Type::Set(_) => Value::Set(items),
            _ => Value::List(items),
        })
    }

    fn map(&mut self, marker: Marker, ty: &Type, depth: usize) -> Result<Value, DecodeError> {
        use Marker as M;
        let n = self.count(marker, 2, depth)?;
        // cty writes every attribute of an object, so each one costs input;
        // filling in missing ones would let a list of empty maps grow by the
        // width of its object type.
        if let Type::Object(attrs) = ty
            && n != attrs.len()
        {
            return Err(self.fail(format!("object of {n} attributes for a type of {}", attrs.len())));
        }
        let mut entries = BTreeMap::new();
        for _ in 0..n {
            let key = match M::from_u8(self.take(1)?[0]) {
                m @ (M::FixStr(_) | M::Str8 | M::Str16 | M::Str32) => self.text(m)?,
                _ => return Err(self.fail("map key is not a string".into())),
            };
            let element_type = match ty {
                Type::Object(attrs) => {
                    attrs.get(key).ok_or_else(|| self.fail(format!("unexpected attribute {key:?}")))?
                }
                Type::Map(e) => e,
                _ => unreachable!("a map type"),
            };
            self.path.push(match ty {
                Type::Object(_) => format!(".{key}"),
                _ => format!("[{key:?}]"),
            });
            let value = self.value(element_type, depth + 1)?;
            self.path.pop();
            if entries.insert(key.to_owned(), value).is_some() && matches!(ty, Type::Object(_)) {
                return Err(self.fail(format!("attribute {key:?} given twice")));
            }
        }
        Ok(if matches!(ty, Type::Object(_)) { Value::Object(entries) } else { Value::Map(entries) })
    }

    /// Anything but a collection: null, unknown, bool, number or string.
    fn scalar(&mut self, marker: Marker, ty: &Type) -> Result<Value, DecodeError> {
        use Marker as M;
        let int = |i: i64| Ok(Value::Number(Number::Int(i)));
        match (marker, ty) {
            (M::Null, _) => Ok(Value::Null),
            // Extension 0 is a plain unknown; 12 is an unknown with
            // refinements, which are not kept.
            (M::FixExt1 | M::FixExt2 | M::FixExt4 | M::FixExt8 | M::FixExt16 | M::Ext8 | M::Ext16 | M::Ext32, _) => {
                let n = self.length(marker)?;
                self.take(1)?;
                self.take(n)?;
                Ok(Value::Unknown)
            }
            (M::True, Type::Bool) => Ok(Value::Bool(true)),
            (M::False, Type::Bool) => Ok(Value::Bool(false)),
            (M::FixPos(n), Type::Number) => int(i64::from(n)),
            (M::FixNeg(n), Type::Number) => int(i64::from(n)),
            (M::U8, Type::Number) => int(self.uint(1)? as i64),
            (M::U16, Type::Number) => int(self.uint(2)? as i64),
            (M::U32, Type::Number) => int(self.uint(4)? as i64),
            (M::U64, Type::Number) => {
                let u = self.uint(8)?;
                match i64::try_from(u) {
                    Ok(i) => int(i),
                    Err(_) => Ok(Value::Number(Number::Decimal(u.to_string()))),
                }
            }
            (M::I8, Type::Number) => int(i64::from(self.uint(1)? as u8 as i8)),
            (M::I16, Type::Number) => int(i64::from(self.uint(2)? as u16 as i16)),
            (M::I32, Type::Number) => int(i64::from(self.uint(4)? as u32 as i32)),
            (M::I64, Type::Number) => int(self.uint(8)? as i64),
            (M::F32 | M::F64, Type::Number) => {
                let f = match marker {
                    M::F32 => f64::from(f32::from_bits(self.uint(4)? as u32)),
                    _ => f64::from_bits(self.uint(8)?),
                };
                Number::from_f64(f).map(Value::Number).ok_or_else(|| self.fail("NaN is not a number".into()))
            }
            (M::FixStr(_) | M::Str8 | M::Str16 | M::Str32, Type::Number) => {
                let text = self.text(marker)?;
                Number::parse(text).map(Value::Number).ok_or_else(|| self.fail(format!("{text:?} is not a number")))
            }
            (M::FixStr(_) | M::Str8 | M::Str16 | M::Str32, Type::String) => Ok(Value::string(self.text(marker)?)),
            (marker, ty) => Err(self.fail(format!("{marker:?} does not fit type {}", ty.to_json()))),
        }
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
        assert_eq!(
            decode(&[0xa4, b'0', b'.', b'0', b'5'], &Type::Number).unwrap(),
            Value::Number(Number::Decimal("0.05".into()))
        );
        // 0.5 is exact, so it comes as a float64.
        let mut half = Vec::new();
        rmp::encode::write_f64(&mut half, 0.5).unwrap();
        assert_eq!(decode(&half, &Type::Number).unwrap(), Value::Number(Number::Decimal("0.5".into())));
        // u64 beyond i64.
        let mut big = Vec::new();
        rmp::encode::write_u64(&mut big, u64::MAX).unwrap();
        assert_eq!(decode(&big, &Type::Number).unwrap(), Value::Number(Number::Decimal(u64::MAX.to_string())));
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
    fn a_null_or_unknown_sent_with_its_type_is_plain() {
        // As `write` sends them, so decoding and encoding again agree.
        let pair = |value: &[u8]| [&[0x92, 0xc4, 8][..], b"\"number\"", value].concat();
        assert_eq!(decode(&pair(&[0xc0]), &Type::Dynamic), Ok(Value::Null));
        assert_eq!(decode(&pair(&UNKNOWN), &Type::Dynamic), Ok(Value::Unknown));
        assert_eq!(encode(&Value::Dynamic(Type::Number, Box::new(Value::Unknown)), &Type::Dynamic), UNKNOWN);
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
        let err = decode(&encode(&v, &Type::object([("steps", Type::list(Type::String))])), &ty).unwrap_err();
        assert_eq!(err.path, ".steps[0]");
        assert!(decode(&[0xa5, b'x'], &Type::String).is_err(), "truncated string");
        assert!(decode(&[0xa1, b'x', 0x00], &Type::String).is_err(), "trailing bytes");
        assert!(decode(&[0x81, 0xa1, b'z', 0xc0], &ty).is_err(), "unknown attribute");
        let pair = Type::Tuple(vec![Type::String, Type::String]);
        assert_eq!(decode(&[0x90], &pair).unwrap_err().message, "tuple of 0 for 2 types");
        assert_eq!(decode(&[0x91, 0xc0], &pair).unwrap_err().message, "tuple of 1 for 2 types");
    }

    #[test]
    fn objects_carry_every_attribute_once() {
        let ty = Type::object([("a", Type::String), ("b", Type::String)]);
        let err = decode(&[0x81, 0xa1, b'a', 0xc0], &ty).unwrap_err();
        assert_eq!(err.message, "object of 1 attributes for a type of 2");
        let err = decode(&[0x82, 0xa1, b'a', 0xc0, 0xa1, b'a', 0xc0], &ty).unwrap_err();
        assert_eq!(err.message, "attribute \"a\" given twice");
        // A map may repeat a key; the last value stands.
        let map = decode(&[0x82, 0xa1, b'k', 0xa1, b'x', 0xa1, b'k', 0xa1, b'y'], &Type::map(Type::String)).unwrap();
        assert_eq!(map, Value::Map([("k".to_owned(), Value::from("y"))].into()));
    }

    #[test]
    fn announced_lengths_must_fit_in_what_follows() {
        // Each claims about 4 billion elements or bytes and brings none.
        let list = decode(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0], &Type::list(Type::String)).unwrap_err();
        assert_eq!(list.message, "4294967295 elements announced, 1 bytes left");
        let map = decode(&[0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0], &Type::map(Type::String)).unwrap_err();
        assert_eq!(map.message, "4294967295 elements announced, 2 bytes left");
        let string = decode(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'x'], &Type::String).unwrap_err();
        assert_eq!(string.message, "4294967295 bytes announced, 1 left");
        let unknown = decode(&[0xc9, 0xff, 0xff, 0xff, 0xff, 0], &Type::String).unwrap_err();
        assert_eq!(unknown.message, "4294967295 bytes announced, 0 left");
        // Two elements need at least two bytes, a map entry two.
        assert!(decode(&[0x92, 0xc0], &Type::list(Type::String)).is_err());
        assert!(decode(&[0x81, 0xc0], &Type::map(Type::String)).is_err());
    }

    #[test]
    fn nesting_is_limited() {
        // Lists of one, `depth` deep, around a string.
        let ty = |depth: usize| (0..depth).fold(Type::String, |t, _| Type::list(t));
        let nested = |depth: usize| [vec![0x91; depth], vec![0xa1, b'x']].concat();
        assert!(decode(&nested(MAX_DEPTH), &ty(MAX_DEPTH)).is_ok());
        let err = decode(&nested(MAX_DEPTH + 1), &ty(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.message, "nested deeper than 128");
        // Dynamic values nest through their type-and-value pairs too.
        let pair = [&[0x92, 0xc4, 9][..], b"\"dynamic\""].concat();
        let chained = [pair.repeat(MAX_DEPTH + 1), vec![0xc0]].concat();
        assert_eq!(decode(&chained, &Type::Dynamic).unwrap_err().message, "nested deeper than 128");
        assert!(decode(&[pair.repeat(MAX_DEPTH), vec![0xc0]].concat(), &Type::Dynamic).is_ok());
    }
}
