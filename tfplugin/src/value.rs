//! Terraform's type system (cty) as plain Rust data.
//!
//! Values carry no type of their own: the schema supplies it when encoding or
//! decoding. The one exception is a value at a `dynamic` position, which keeps
//! the concrete type Terraform sent so that it goes back exactly as it came.

use std::collections::BTreeMap;
use std::fmt;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    Number,
    String,
    /// Any type; values at such positions travel with their type.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

impl Type {
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }
    pub fn object<'a>(attributes: impl IntoIterator<Item = (&'a str, Type)>) -> Type {
        Type::Object(attributes.into_iter().map(|(k, t)| (k.to_owned(), t)).collect())
    }

    /// The type in cty's JSON notation, as schemas and dynamic values carry it.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Value as J, json};
        match self {
            Type::Bool => J::from("bool"),
            Type::Number => J::from("number"),
            Type::String => J::from("string"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(e) => json!(["list", e.to_json()]),
            Type::Set(e) => json!(["set", e.to_json()]),
            Type::Map(e) => json!(["map", e.to_json()]),
            Type::Object(attrs) => {
                let attrs: serde_json::Map<_, _> = attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
                json!(["object", attrs])
            }
            Type::Tuple(elems) => json!(["tuple", elems.iter().map(Type::to_json).collect::<Vec<_>>()]),
        }
    }

    /// Parses cty's JSON type notation. Optional-attribute markers on object
    /// types are accepted and dropped: they only matter inside Terraform.
    pub fn from_json(json: &serde_json::Value) -> Result<Type, String> {
        use serde_json::Value as J;
        match json {
            J::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(format!("unknown primitive type {other:?}")),
            },
            J::Array(parts) => match (parts.first().and_then(J::as_str), parts.get(1)) {
                (Some("list"), Some(e)) => Ok(Type::list(Type::from_json(e)?)),
                (Some("set"), Some(e)) => Ok(Type::set(Type::from_json(e)?)),
                (Some("map"), Some(e)) => Ok(Type::map(Type::from_json(e)?)),
                (Some("object"), Some(J::Object(attrs))) => attrs
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), Type::from_json(t)?)))
                    .collect::<Result<_, String>>()
                    .map(Type::Object),
                (Some("tuple"), Some(J::Array(elems))) => {
                    elems.iter().map(Type::from_json).collect::<Result<_, _>>().map(Type::Tuple)
                }
                _ => Err(format!("malformed type {json}")),
            },
            _ => Err(format!("malformed type {json}")),
        }
    }
}

/// A number as cty holds it: arbitrary precision, so kept as exact decimal text
/// unless it is a machine integer. Constructors normalise, so equal numbers
/// compare equal whatever form they arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Number {
    Int(i64),
    /// Plain decimal notation (`-12.5`, `0.05`, `123456789012345678901`), no
    /// exponent, no trailing fractional zeros, never an `i64`.
    Decimal(String),
    Infinity {
        negative: bool,
    },
}

/// The most decimal places a number may span once written without an
/// exponent: far more than any value a configuration means, and more than a
/// float64 written out exactly needs (at most 1,075).
pub const MAX_PLACES: usize = 4096;

/// The most zeros an exponent may add when a number is written out. cty
/// writes numbers out in full (Terraform sends 1e100 as 101 digits), so
/// exponents come from hand-written text only; without this bound a message
/// of short numbers such as `1e4000` would decode into hundreds of times its
/// size.
pub const MAX_EXPONENT_ZEROS: usize = 64;

impl Number {
    /// Parses decimal text in any of the notations Terraform or JSON use
    /// (`5`, `5.0`, `-0.05`, `1e-3`, `+2E+2`); `None` for anything else, for
    /// numbers spanning more than [`MAX_PLACES`] decimal places, and for
    /// exponents adding more than [`MAX_EXPONENT_ZEROS`] zeros.
    pub fn parse(text: &str) -> Option<Number> {
        let text = text.trim();
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
            return Some(Number::Infinity { negative });
        }
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int_part.is_empty() && frac_part.is_empty()
            || !int_part.bytes().chain(frac_part.bytes()).all(|b| b.is_ascii_digit())
            || exponent.unsigned_abs() > MAX_PLACES as u64
        {
            return None;
        }
        // All digits with the decimal point `point` places from the left.
        let digits = format!("{int_part}{frac_part}");
        let point = int_part.len() as i64 + exponent;
        let places = digits.len().max(point.max(0) as usize) + point.min(0).unsigned_abs() as usize;
        if places > MAX_PLACES || places > digits.len() + MAX_EXPONENT_ZEROS {
            return None;
        }
        Some(Number::from_digits(negative, &digits, point))
    }

    fn from_digits(negative: bool, digits: &str, point: i64) -> Number {
        let (int_digits, frac_digits) = if point <= 0 {
            (String::new(), format!("{}{}", "0".repeat(point.unsigned_abs() as usize), digits))
        } else if point as usize >= digits.len() {
            (format!("{digits}{}", "0".repeat(point as usize - digits.len())), String::new())
        } else {
            (digits[..point as usize].to_owned(), digits[point as usize..].to_owned())
        };
        let int_digits = int_digits.trim_start_matches('0');
        let frac_digits = frac_digits.trim_end_matches('0');
        let int_digits = if int_digits.is_empty() { "0" } else { int_digits };
        let is_zero = int_digits == "0" && frac_digits.is_empty();
        let sign = if negative && !is_zero { "-" } else { "" };
        let text = if frac_digits.is_empty() {
            format!("{sign}{int_digits}")
        } else {
            format!("{sign}{int_digits}.{frac_digits}")
        };
        match text.parse::<i64>() {
            Ok(i) => Number::Int(i),
            Err(_) => Number::Decimal(text),
        }
    }

    /// The exact value of a binary float, as cty would hold it.
    pub fn from_f64(f: f64) -> Option<Number> {
        if f.is_nan() {
            return None;
        }
        if f.is_infinite() {
            return Some(Number::Infinity { negative: f < 0.0 });
        }
        // Rust prints the exact binary value when asked for enough digits;
        // 1100 covers the smallest subnormal.
        Number::parse(&format!("{f:.1100}"))
    }

    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Decimal(d) => d.parse().unwrap_or(f64::NAN),
            Number::Infinity { negative: true } => f64::NEG_INFINITY,
            Number::Infinity { negative: false } => f64::INFINITY,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Number {
        Number::Int(i)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Decimal(d) => f.write_str(d),
            Number::Infinity { negative: true } => f.write_str("-Infinity"),
            Number::Infinity { negative: false } => f.write_str("Infinity"),
        }
    }
}

/// A cty value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    /// Not known until apply. Refinements Terraform attaches are not kept.
    Unknown,
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// A value at a `dynamic` position, with the concrete type it has.
    Dynamic(Type, Box<Value>),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn object<'a>(attributes: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Object(attributes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Sees through the type wrapper of a dynamic value.
    pub fn concrete(&self) -> &Value {
        match self {
            Value::Dynamic(_, v) => v.concrete(),
            v => v,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.concrete(), Value::Null)
    }

    /// True when this value, or anything inside it, is unknown.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => v.iter().any(Value::contains_unknown),
            Value::Map(m) | Value::Object(m) => m.values().any(Value::contains_unknown),
            Value::Dynamic(_, v) => v.contains_unknown(),
            _ => false,
        }
    }

    pub fn is_known(&self) -> bool {
        !matches!(self.concrete(), Value::Unknown)
    }

    /// An attribute of an object; `Null` for anything else.
    pub fn get(&self, name: &str) -> &Value {
        match self.concrete() {
            Value::Object(m) => m.get(name).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.concrete() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.concrete() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self.concrete() {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Elements of a list, set or tuple.
    pub fn elements(&self) -> Option<&[Value]> {
        match self.concrete() {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a map or object.
    pub fn entries(&self) -> Option<&BTreeMap<String, Value>> {
        match self.concrete() {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Replaces (or adds) an attribute of an object value. Other values are
    /// left as they are.
    pub fn set_attr(&mut self, name: &str, value: Value) {
        if let Value::Object(m) = self {
            m.insert(name.to_owned(), value);
        }
    }

    /// A null of the given type is just `Null`; this makes a null object with
    /// every attribute present, which is what Terraform expects of a state.
    pub fn null_object(ty: &Type) -> Value {
        match ty {
            Type::Object(attrs) => Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect()),
            _ => Value::Null,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }
}
impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Value {
        o.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_to_one_form() {
        assert_eq!(Number::parse("5"), Some(Number::Int(5)));
        assert_eq!(Number::parse("5.000"), Some(Number::Int(5)));
        assert_eq!(Number::parse("+5e0"), Some(Number::Int(5)));
        assert_eq!(Number::parse("0.050"), Some(Number::Decimal("0.05".into())));
        assert_eq!(Number::parse("5e-2"), Some(Number::Decimal("0.05".into())));
        assert_eq!(Number::parse(".5"), Some(Number::Decimal("0.5".into())));
        assert_eq!(Number::parse("-0.0"), Some(Number::Int(0)));
        assert_eq!(Number::parse("1.5E3"), Some(Number::Int(1500)));
        assert_eq!(Number::parse("123456789012345678901"), Some(Number::Decimal("123456789012345678901".into())));
        assert_eq!(Number::parse("-Infinity"), Some(Number::Infinity { negative: true }));
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "0x10", "1 2", "1e999999999"] {
            assert_eq!(Number::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_short_string_cannot_become_a_huge_number() {
        // An exponent adds at most 64 zeros; beyond, the text is refused
        // rather than expanded.
        assert!(matches!(Number::parse("1e64"), Some(Number::Decimal(d)) if d.len() == 65));
        assert!(
            matches!(Number::parse("-1.5e-64"), Some(Number::Decimal(d)) if d == format!("-0.{}15", "0".repeat(63)))
        );
        for huge in
            ["1e65", "1.5e66", "-1e-66", "1e4095", "1e99999", "0.5e-4096", "1e999999999", "1e99999999999999999999"]
        {
            assert_eq!(Number::parse(huge), None, "{huge}");
        }
        // Written out, a number may span 4096 places, exponent or not.
        let long = format!("{}e64", "9".repeat(MAX_PLACES - 64));
        assert!(matches!(Number::parse(&long), Some(Number::Decimal(d)) if d.len() == MAX_PLACES));
        assert_eq!(Number::parse(&format!("9{long}")), None);
        assert_eq!(Number::parse(&"9".repeat(MAX_PLACES + 1)), None, "a long literal is bounded the same way");
        assert!(Number::parse(&"9".repeat(MAX_PLACES)).is_some());
        // The largest and the smallest float64, written out exactly.
        assert!(matches!(Number::from_f64(f64::MAX), Some(Number::Decimal(d)) if d.len() == 309));
        assert!(
            matches!(Number::from_f64(f64::from_bits(1)), Some(Number::Decimal(d)) if d.len() == "0.".len() + 1074)
        );
    }

    #[test]
    fn floats_keep_their_exact_binary_value() {
        assert_eq!(Number::from_f64(0.5), Some(Number::Decimal("0.5".into())));
        assert_eq!(Number::from_f64(3.0), Some(Number::Int(3)));
        // 0.1 is not exactly representable: its exact binary value is kept.
        let n = Number::from_f64(0.1).unwrap();
        assert!(matches!(&n, Number::Decimal(d) if d.starts_with("0.1000000000000000055511151231257827")));
        assert_eq!(n.as_f64(), 0.1);
        assert_eq!(Number::from_f64(f64::NAN), None);
    }

    #[test]
    fn types_round_trip_through_json() {
        let ty = Type::object([
            ("a", Type::list(Type::String)),
            ("b", Type::map(Type::set(Type::Number))),
            ("c", Type::Tuple(vec![Type::Bool, Type::Dynamic])),
        ]);
        assert_eq!(Type::from_json(&ty.to_json()), Ok(ty));
        let with_optional: serde_json::Value = serde_json::from_str(r#"["object",{"x":"string"},["x"]]"#).unwrap();
        assert_eq!(Type::from_json(&with_optional), Ok(Type::object([("x", Type::String)])));
        assert!(Type::from_json(&serde_json::json!(["list"])).is_err());
        assert!(Type::from_json(&serde_json::json!("strng")).is_err());
    }
}
