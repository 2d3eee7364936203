//! Property tests of the value codecs and the schema's plan helpers under any
//! input (issue 10): random typed values round-trip through msgpack and JSON;
//! mutated encodings and random bytes never panic, and what decodes encodes
//! again to the same value; crafted hostile inputs (huge announced lengths,
//! deep nesting, numbers that would expand) are refused without exhausting
//! the stack; and no input makes a decoder hold more than [`bound`] bytes.
//!
//! The generators live here only: the crate's unit tests keep fixed cases,
//! so there is one copy of them and the library carries no test code.
//!
//! `FUZZ_ITERATIONS` sets how many cases each property draws (default 2000,
//! a few seconds in a debug build) and `FUZZ_SEED` the first case's seed
//! (default 1); case `i` uses seed + i. A failing case prints the two
//! variables that replay it alone. `scripts/fuzz.sh` runs long.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tfplugin::{Attribute, Block, Nesting, Number, Type, Value, json, msgpack};

/// The most a decoder may hold (including what it returns) for an input of
/// `n` bytes: linear, whatever the input announces or nests. The factor is
/// what the value representation costs for the costliest bytes (measured in
/// `memory_stays_within_the_bound_for_the_costliest_bytes`): a map entry
/// nested in another takes 2 bytes and a 720-byte `BTreeMap` node (about 360
/// per byte), a float64 written out exactly 1,077 bytes of text for 9 (133),
/// a null a 40-byte value for 1 (120, in a list that has just doubled). The
/// constant covers small inputs' fixed costs.
fn bound(n: usize) -> usize {
    400 * n + (64 << 10)
}

// The counting allocator: current and peak bytes per thread, so that tests
// running side by side do not see each other's allocations.
thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grow(by: usize) {
    let _ = CURRENT.try_with(|c| {
        c.set(c.get() + by as isize);
        let _ = PEAK.try_with(|p| p.set(p.get().max(c.get())));
    });
}

fn shrink(by: usize) {
    let _ = CURRENT.try_with(|c| c.set(c.get() - by as isize));
}

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    // Old and new block counted together: a reallocation may copy.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size);
        shrink(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns what it returned and the most it held at once.
fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, (PEAK.with(Cell::get) - base) as usize)
}

thread_local! {
    /// The most a checked decode held in this thread's run, and its input's length.
    static LARGEST: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Decodes msgpack, checking the memory bound.
fn msgpack_decode(bytes: &[u8], ty: &Type) -> Result<Value, msgpack::DecodeError> {
    let (out, held) = peak(|| msgpack::decode(bytes, ty));
    assert!(held <= bound(bytes.len()), "msgpack decode of {} bytes held {held} bytes: {}", bytes.len(), hex(bytes));
    LARGEST.with(|l| l.set(l.get().max((held, bytes.len()))));
    out
}

/// Decodes JSON, checking the memory bound.
fn json_decode(bytes: &[u8], ty: &Type) -> Result<Value, json::JsonError> {
    let (out, held) = peak(|| json::decode(bytes, ty));
    assert!(
        held <= bound(bytes.len()),
        "JSON decode of {} bytes held {held} bytes: {}",
        bytes.len(),
        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
    );
    LARGEST.with(|l| l.set(l.get().max((held, bytes.len()))));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(200).map(|b| format!("{b:02x}")).collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

type Rng = fastrand::Rng;

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// Runs `case` for each seed of the run, saying which seed fails, then how
/// long the run took and the most memory one decode held.
fn cases(name: &str, mut case: impl FnMut(&mut Rng)) {
    let (first, count) = (env_number("FUZZ_SEED", 1), env_number("FUZZ_ITERATIONS", 2000));
    println!("{name}: FUZZ_SEED={first} FUZZ_ITERATIONS={count}");
    let start = std::time::Instant::now();
    LARGEST.with(|l| l.set((0, 0)));
    for seed in first..first + count {
        let replay = Replay(seed);
        case(&mut Rng::with_seed(seed));
        std::mem::forget(replay);
    }
    let (held, len) = LARGEST.with(Cell::get);
    println!(
        "{name}: {count} cases in {:.1?}; the largest decode held {held} bytes for {len} bytes of input",
        start.elapsed()
    );
}

/// Says how to replay the case it guards when that case panics.
struct Replay(u64);

impl Drop for Replay {
    fn drop(&mut self) {
        eprintln!("failing case: FUZZ_SEED={} FUZZ_ITERATIONS=1", self.0);
    }
}

fn random_type(rng: &mut Rng, depth: usize) -> Type {
    match rng.usize(..if depth >= 3 { 4 } else { 9 }) {
        0 => Type::Bool,
        1 => Type::Number,
        2 => Type::String,
        3 => Type::Dynamic,
        4 => Type::list(random_type(rng, depth + 1)),
        5 => Type::set(random_type(rng, depth + 1)),
        6 => Type::map(random_type(rng, depth + 1)),
        7 => Type::Tuple((0..rng.usize(..4)).map(|_| random_type(rng, depth + 1)).collect()),
        _ => Type::Object((0..rng.usize(..5)).map(|_| (random_name(rng), random_type(rng, depth + 1))).collect()),
    }
}

fn random_name(rng: &mut Rng) -> String {
    let name = pick(rng, &["", "a", "b", "id", "é", "with space", "x.y", "[0]"]);
    format!("{name}{}", rng.usize(..4))
}

fn random_string(rng: &mut Rng) -> String {
    // Lengths reach each msgpack string form: fixstr, str8, str16, str32.
    let len = match rng.usize(..1000) {
        0 => 65_536 + rng.usize(..100),
        1..=20 => 256 + rng.usize(..1000),
        21..=100 => 32 + rng.usize(..224),
        _ => rng.usize(..32),
    };
    (0..len).map(|_| pick(rng, &['a', 'z', '0', ' ', '"', '\\', '\n', '\0', 'é', '日', '😀'])).collect()
}

/// `at_least` to `at_least + more` decimal digits.
fn digits(rng: &mut Rng, at_least: usize, more: usize) -> String {
    let n = at_least + rng.usize(..more + 1);
    (0..n).map(|_| char::from(b'0' + rng.usize(..10) as u8)).collect()
}

fn random_number(rng: &mut Rng) -> Number {
    let parse = |text: String| Number::parse(&text).unwrap_or_else(|| panic!("generated {text:?}"));
    match rng.usize(..8) {
        0 => Number::Int(rng.usize(..2001) as i64 - 1000),
        1 => Number::Int(pick(rng, &[i64::MIN, i64::MAX, 0, -1, 1 << 53])),
        2 => loop {
            // Any float64 but NaN: subnormals, huge ones, exact fractions.
            if let Some(n) = Number::from_f64(f64::from_bits(rng.u64(..))) {
                break n;
            }
        },
        3 => {
            let (int, fraction) = (digits(rng, 1, 4), digits(rng, 1, 29));
            parse(format!("-{int}.{fraction}"))
        }
        // Beyond u64, and occasionally near the most places a number may span.
        4 => {
            let more = if rng.usize(..100) < 2 { digits(rng, 4000, 95) } else { digits(rng, 19, 60) };
            parse(format!("1{more}"))
        }
        5 => {
            let (int, fraction, exponent) = (digits(rng, 1, 2), digits(rng, 0, 3), rng.usize(..129) as i64 - 64);
            parse(format!("{int}.{fraction}e{exponent}"))
        }
        6 => Number::Infinity { negative: rng.usize(..100) < 50 },
        _ => parse(u64::MAX.to_string()),
    }
}

fn random_value(rng: &mut Rng, ty: &Type) -> Value {
    match rng.usize(..12) {
        0 => return Value::Null,
        1 => return Value::Unknown,
        _ => {}
    }
    // Collections are short, but sometimes long enough for the 16-bit forms.
    let len = |rng: &mut Rng| if rng.usize(..100) < 2 { 16 + rng.usize(..40) } else { rng.usize(..4) };
    match ty {
        Type::Bool => Value::Bool(rng.usize(..100) < 50),
        Type::Number => Value::Number(random_number(rng)),
        Type::String => Value::String(random_string(rng)),
        Type::Dynamic => {
            let concrete = random_type(rng, 2);
            match random_value(rng, &concrete) {
                v @ (Value::Null | Value::Unknown) => v,
                v => Value::Dynamic(concrete, Box::new(v)),
            }
        }
        Type::List(e) => Value::List((0..len(rng)).map(|_| random_value(rng, e)).collect()),
        Type::Set(e) => Value::Set((0..len(rng)).map(|_| random_value(rng, e)).collect()),
        Type::Map(e) => Value::Map((0..len(rng)).map(|_| (random_string(rng), random_value(rng, e))).collect()),
        Type::Tuple(types) => Value::Tuple(types.iter().map(|t| random_value(rng, t)).collect()),
        Type::Object(attrs) => Value::Object(attrs.iter().map(|(k, t)| (k.clone(), random_value(rng, t))).collect()),
    }
}

/// JSON cannot hold unknowns; this is `value` with each one made null.
fn known(value: &Value) -> Value {
    match value {
        Value::Unknown => Value::Null,
        Value::List(items) => Value::List(items.iter().map(known).collect()),
        Value::Set(items) => Value::Set(items.iter().map(known).collect()),
        Value::Tuple(items) => Value::Tuple(items.iter().map(known).collect()),
        Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), known(v))).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), known(v))).collect()),
        Value::Dynamic(t, v) => match known(v) {
            Value::Null => Value::Null,
            v => Value::Dynamic(t.clone(), Box::new(v)),
        },
        v => v.clone(),
    }
}

#[test]
fn random_values_round_trip_through_msgpack_and_json() {
    cases("round trip", |rng| {
        let ty = random_type(rng, 0);
        let value = random_value(rng, &ty);
        let bytes = msgpack::encode(&value, &ty);
        assert_eq!(msgpack_decode(&bytes, &ty).as_ref(), Ok(&value), "msgpack, type {}", ty.to_json());
        let value = known(&value);
        let text = json::encode(&value, &ty).to_string();
        assert_eq!(json_decode(text.as_bytes(), &ty).as_ref(), Ok(&value), "JSON {text}");
    });
}

#[test]
fn collections_beyond_65535_elements_round_trip() {
    // The 32-bit array and map forms, which random values are too small for.
    let list = Value::List((0..70_000).map(|i| Value::Bool(i % 3 == 0)).collect());
    let ty = Type::list(Type::Bool);
    let bytes = msgpack::encode(&list, &ty);
    assert_eq!(bytes[0], 0xdd, "array32");
    assert_eq!(msgpack_decode(&bytes, &ty), Ok(list));
    let map = Value::Map((0..70_000).map(|i| (i.to_string(), Value::from(i))).collect());
    let ty = Type::map(Type::Number);
    let bytes = msgpack::encode(&map, &ty);
    assert_eq!(bytes[0], 0xdf, "map32");
    assert_eq!(msgpack_decode(&bytes, &ty), Ok(map));
}

/// Headers with lengths that do and do not fit, spliced into valid input.
fn random_header(rng: &mut Rng, rest: usize) -> Vec<u8> {
    let len = pick(rng, &[0, 1, 2, 15, 16, 255, 65_535, 0xffff_ffff, rest as u64, rest as u64 + 1]);
    let (marker, width) = pick(
        rng,
        &[
            (0xdc, 2),
            (0xdd, 4),
            (0xde, 2),
            (0xdf, 4),
            (0xd9, 1),
            (0xda, 2),
            (0xdb, 4),
            (0xc4, 1),
            (0xc5, 2),
            (0xc6, 4),
            (0xc7, 1),
            (0xc8, 2),
            (0xc9, 4),
        ],
    );
    let mut header = vec![marker];
    header.extend_from_slice(&len.to_be_bytes()[8 - width..]);
    header
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, tokens: &[&[u8]]) {
    // Mostly one change, so that some inputs stay valid and decode.
    for _ in 0..if rng.usize(..100) < 70 { 1 } else { 2 + rng.usize(..3) } {
        let at = rng.usize(..bytes.len() + 1);
        match rng.usize(..6) {
            0 if at < bytes.len() => bytes[at] ^= 1 << rng.usize(..8),
            1 => bytes.truncate(at),
            2 => {
                let junk: Vec<u8> = (0..1 + rng.usize(..8)).map(|_| rng.u64(..) as u8).collect();
                bytes.splice(at..at, junk);
            }
            3 => {
                let token = pick(rng, tokens).to_vec();
                bytes.splice(at..at, token);
            }
            4 => {
                let header = random_header(rng, bytes.len() - at);
                bytes.splice(at..at, header);
            }
            _ => {
                let from = rng.usize(..bytes.len() + 1);
                let slice = bytes[from..(from + rng.usize(..16)).min(bytes.len())].to_vec();
                bytes.splice(at..at, slice);
            }
        }
    }
}

/// Whatever decodes encodes again to bytes that decode to the same value,
/// and a wholly known one goes through JSON unchanged too.
fn check_decoded(value: &Value, ty: &Type) {
    let again = msgpack::encode(value, ty);
    assert_eq!(msgpack_decode(&again, ty).as_ref(), Ok(value), "re-encoded: {}", hex(&again));
    if !value.contains_unknown() {
        let text = json::encode(value, ty).to_string();
        assert_eq!(json_decode(text.as_bytes(), ty).as_ref(), Ok(value), "as JSON: {text}");
    }
}

const MSGPACK_TOKENS: &[&[u8]] = &[
    &[0xc0],
    &[0xd4, 0, 0],
    &[0xc7, 3, 12, 0x81, 1, 0xc3],
    &[0xcb, 0, 0, 0, 0, 0, 0, 0, 1],
    &[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0],
    &[0xa6, b'1', b'e', b'4', b'0', b'9', b'5'],
    &[0xa3, b'1', b'e', b'9'],
    &[0x92, 0xc4, 8, b'"', b'n', b'u', b'm', b'b', b'e', b'r', b'"'],
    &[0xc1],
];

/// How many decodes succeeded and failed: a run must see both, or its
/// inputs are all broken or all untouched.
#[derive(Default)]
struct Outcomes(usize, usize);

impl Outcomes {
    fn count<T, E>(&mut self, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => {
                self.0 += 1;
                Some(value)
            }
            Err(_) => {
                self.1 += 1;
                None
            }
        }
    }

    fn report(&self, what: &str) {
        println!("{what}: {} decoded, {} refused", self.0, self.1);
        assert!(self.0 > 0 && self.1 > 0, "{what}: both outcomes");
    }
}

#[test]
fn mutated_msgpack_never_panics_and_what_decodes_round_trips() {
    let mut outcomes = Outcomes::default();
    cases("mutated msgpack", |rng| {
        let ty = random_type(rng, 0);
        let mut bytes = msgpack::encode(&random_value(rng, &ty), &ty);
        mutate(rng, &mut bytes, MSGPACK_TOKENS);
        let other = random_type(rng, 0);
        for ty in [&ty, &Type::Dynamic, &other] {
            if let Some(value) = outcomes.count(msgpack_decode(&bytes, ty)) {
                check_decoded(&value, ty);
            }
        }
    });
    outcomes.report("mutated msgpack");
}

const JSON_TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b",",
    b":",
    b"null",
    b"-",
    b"1e999999999",
    b"-1e-999999999",
    b"1E+64",
    b"0.5e-64",
    b"\"Infinity\"",
    b"\\u0000",
    b"\\ud800",
    b"{\"value\":1,\"type\":\"number\"}",
    b"\"type\":[\"list\",\"dynamic\"]",
];

#[test]
fn mutated_json_never_panics_and_what_decodes_round_trips() {
    let mut outcomes = Outcomes::default();
    cases("mutated JSON", |rng| {
        let ty = random_type(rng, 0);
        let value = known(&random_value(rng, &ty));
        let mut bytes = json::encode(&value, &ty).to_string().into_bytes();
        mutate(rng, &mut bytes, JSON_TOKENS);
        let other = random_type(rng, 0);
        for ty in [&ty, &Type::Dynamic, &other] {
            if let Some(value) = outcomes.count(json_decode(&bytes, ty)) {
                check_decoded(&value, ty);
            }
        }
    });
    outcomes.report("mutated JSON");
}

#[test]
fn random_bytes_never_panic() {
    let mut outcomes = Outcomes::default();
    cases("random bytes", |rng| {
        let ty = random_type(rng, 0);
        for _ in 0..20 {
            // Short inputs of any bytes, and of markers that open or announce something.
            let len = rng.usize(..40);
            let bytes: Vec<u8> = if rng.usize(..100) < 50 {
                (0..len).map(|_| rng.u64(..) as u8).collect()
            } else {
                (0..len)
                    .map(|_| {
                        pick(
                            rng,
                            &[
                                0x00, 0x7f, 0x81, 0x91, 0xa1, 0xc0, 0xc3, 0xc4, 0xca, 0xcb, 0xcf, 0xd4, 0xd9, 0xdd,
                                0xdf, 0xe0, 0xff,
                            ],
                        )
                    })
                    .collect()
            };
            for ty in [&ty, &Type::Dynamic] {
                if let Some(value) = outcomes.count(msgpack_decode(&bytes, ty)) {
                    check_decoded(&value, ty);
                }
                if let Ok(value) = json_decode(&bytes, ty) {
                    check_decoded(&value, ty);
                }
            }
        }
    });
    outcomes.report("random bytes as msgpack");
}

/// A string in msgpack's str32 form, whatever its length.
fn str32(text: &str) -> Vec<u8> {
    [&[0xdb][..], &(text.len() as u32).to_be_bytes(), text.as_bytes()].concat()
}

/// A msgpack list of `n` copies of `element`.
fn list_of(n: usize, element: &[u8]) -> Vec<u8> {
    [&[0xdd][..], &(n as u32).to_be_bytes(), &element.repeat(n)].concat()
}

#[test]
fn announced_lengths_are_not_believed() {
    // array32, map32, str32, bin32 and ext32, each announcing 4 GiB and bringing nothing.
    let types = [
        Type::list(Type::String),
        Type::map(Type::String),
        Type::String,
        Type::Number,
        Type::Dynamic,
        Type::object([("a", Type::String)]),
    ];
    for marker in [0xdd, 0xdf, 0xdb, 0xc6, 0xc9] {
        for ty in &types {
            assert!(msgpack_decode(&[marker, 0xff, 0xff, 0xff, 0xff], ty).is_err(), "{marker:x} as {}", ty.to_json());
        }
    }
    // Nested headers, each announcing what the rest could just hold, reserve nothing ahead.
    let mut nested = Vec::new();
    for level in 0..100u32 {
        nested.extend_from_slice(&[0xdd]);
        nested.extend_from_slice(&(1_000_000 - 5 * (level + 1)).to_be_bytes());
    }
    nested.resize(1_000_000, 0xc1);
    let ty = (0..100).fold(Type::String, |t, _| Type::list(t));
    let (result, held) = peak(|| msgpack::decode(&nested, &ty));
    assert!(result.is_err());
    assert!(held < 64 << 10, "held {held} bytes");
}

/// Runs `f` on a thread with a quarter of the stack Tokio's workers (which
/// serve the plugin's RPCs) and test threads get.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(512 << 10).spawn(f).unwrap().join().expect("no stack overflow, no panic");
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    on_small_stack(|| {
        let deep_type = (0..200).fold(Type::String, |t, _| Type::list(t));
        let arrays = [vec![0x91; 100_000], vec![0xc0]].concat();
        let err = msgpack_decode(&arrays, &deep_type).unwrap_err();
        assert_eq!(err.message, format!("nested deeper than {}", msgpack::MAX_DEPTH));
        // Dynamic values whose type is dynamic again, 100,000 deep.
        let pair = [&[0x92, 0xc4, 9][..], b"\"dynamic\""].concat();
        let chained = [pair.repeat(100_000), vec![0xc0]].concat();
        assert!(msgpack_decode(&chained, &Type::Dynamic).is_err());
        for json in [[b"[".repeat(100_000), b"]".repeat(100_000)].concat(), b"{\"value\":".repeat(100_000)] {
            let err = json_decode(&json, &Type::Dynamic).unwrap_err();
            assert!(err.message.contains("recursion limit exceeded"), "{}", err.message);
        }
        // A dynamic value's type nested as deep as serde_json reads it, with
        // a value that fits and one that does not (its message names the type).
        let deep_json = format!("{}\"string\"{}", "[\"list\",".repeat(126), "]".repeat(126));
        let pair = |value: &[u8]| {
            [&[0x92, 0xc6][..], &(deep_json.len() as u32).to_be_bytes(), deep_json.as_bytes(), value].concat()
        };
        assert!(msgpack_decode(&pair(&[vec![0x91; 126], vec![0xa1, b'x']].concat()), &Type::Dynamic).is_ok());
        assert!(msgpack_decode(&pair(&[0xc3]), &Type::Dynamic).unwrap_err().message.contains("does not fit"));
        let text = format!("{{\"type\":{deep_json},\"value\":true}}");
        assert!(json_decode(text.as_bytes(), &Type::Dynamic).unwrap_err().message.contains("does not fit"));
        // The deepest value accepted goes through both codecs and drops on this stack.
        let ty = (0..msgpack::MAX_DEPTH).fold(Type::Number, |t, _| Type::list(t));
        let value = (0..msgpack::MAX_DEPTH).fold(Value::from(1), |v, _| Value::List(vec![v]));
        assert_eq!(msgpack_decode(&msgpack::encode(&value, &ty), &ty).as_ref(), Ok(&value));
        // serde_json reads JSON up to 127 levels deep.
        let ty = (0..127).fold(Type::Number, |t, _| Type::list(t));
        let value = (0..127).fold(Value::from(1), |v, _| Value::List(vec![v]));
        assert_eq!(json_decode(json::encode(&value, &ty).to_string().as_bytes(), &ty), Ok(value));
    });
}

#[test]
fn numbers_that_would_expand_are_refused() {
    let nines = "9".repeat(1_000_000);
    for text in ["1e999999999", "-1e-999999999", "1e99999999999999999999", "1e65", "-1e-66", "1e4095", nines.as_str()] {
        assert!(msgpack_decode(&str32(text), &Type::Number).is_err(), "{:.20} as a msgpack string", text);
        assert!(json_decode(text.as_bytes(), &Type::Number).is_err(), "{:.20} as a JSON number", text);
        assert!(json_decode(format!("{text:?}").as_bytes(), &Type::Number).is_err(), "{:.20} as a JSON string", text);
    }
    // The same in bulk: 100,000 short numbers that an exponent would make
    // 4,096 bytes each (about 600 times the input) are refused.
    let many = list_of(100_000, &[0xa6, b'1', b'e', b'4', b'0', b'9', b'5']);
    assert!(msgpack_decode(&many, &Type::list(Type::Number)).is_err());
    let many = format!("[{}1]", "1e4095,".repeat(100_000));
    assert!(json_decode(many.as_bytes(), &Type::list(Type::Number)).is_err());
    // What cty sends stays exact: integers, float64s, and decimal text.
    let largest = [&[0xcb][..], &f64::MAX.to_be_bytes()].concat();
    assert_eq!(msgpack_decode(&largest, &Type::Number).map(|v| v.as_number().map(|n| n.as_f64())), Ok(Some(f64::MAX)));
    let exact = format!("0.{}1", "0".repeat(300));
    assert_eq!(msgpack_decode(&str32(&exact), &Type::Number), Ok(Value::Number(Number::Decimal(exact.clone()))));
    assert_eq!(json_decode(exact.as_bytes(), &Type::Number), Ok(Value::Number(Number::Decimal(exact))));
    assert_eq!(
        json_decode(b"1E+64", &Type::Number),
        Ok(Value::Number(Number::Decimal(format!("1{}", "0".repeat(64)))))
    );
}

#[test]
fn memory_stays_within_the_bound_for_the_costliest_bytes() {
    // Each list is one element past a power of two, so that it has just
    // doubled its capacity: the most each kind of element can cost.
    let subnormal = [&[0xcb][..], &f64::from_bits(1).to_be_bytes()].concat();
    let keys: Vec<u8> =
        (0..(1 << 14) + 1).flat_map(|i| [&[0xa5][..], format!("{i:05}").as_bytes(), &[0xa0]].concat()).collect();
    let cases = [
        ("nulls", list_of((1 << 17) + 1, &[0xc0]), Type::list(Type::String)),
        ("smallest float64s", list_of((1 << 13) + 1, &subnormal), Type::list(Type::Number)),
        (
            "exponents adding 64 zeros",
            list_of((1 << 14) + 1, &[0xa4, b'1', b'e', b'6', b'4']),
            Type::list(Type::Number),
        ),
        ("unknowns", list_of((1 << 16) + 1, &[0xd4, 0, 0]), Type::list(Type::String)),
        ("map entries", [&[0xdf][..], &((1u32 << 14) + 1).to_be_bytes(), &keys].concat(), Type::map(Type::String)),
        ("maps of one entry", list_of((1 << 14) + 1, &[0x81, 0xa0, 0xc0]), Type::list(Type::map(Type::String))),
        (
            "objects of one attribute",
            list_of((1 << 14) + 1, &[0x81, 0xa0, 0xc0]),
            Type::list(Type::object([("", Type::String)])),
        ),
        (
            "maps in maps",
            list_of((1 << 10) + 1, &[[0x81, 0xa0].repeat(100), vec![0xc0]].concat()),
            Type::list((0..100).fold(Type::String, |t, _| Type::map(t))),
        ),
    ];
    let text = |element: &str, n: usize| format!("[{}{element}]", format!("{element},").repeat(n - 1)).into_bytes();
    let json_cases = [
        ("JSON zeros", text("0", (1 << 16) + 1), Type::list(Type::Number)),
        ("JSON exponents adding 64 zeros", text("1e64", (1 << 14) + 1), Type::list(Type::Number)),
        ("JSON empty strings", text("\"\"", (1 << 16) + 1), Type::list(Type::String)),
        ("JSON maps of one entry", text("{\"\":0}", (1 << 14) + 1), Type::list(Type::map(Type::Number))),
        (
            "JSON objects missing their one attribute",
            text("{}", (1 << 14) + 1),
            Type::list(Type::object([("", Type::Number)])),
        ),
    ];
    let decode_msgpack: fn(&[u8], &Type) -> bool = |bytes, ty| msgpack::decode(bytes, ty).is_ok();
    let decode_json: fn(&[u8], &Type) -> bool = |bytes, ty| json::decode(bytes, ty).is_ok();
    let all = cases.iter().map(|case| (case, decode_msgpack)).chain(json_cases.iter().map(|case| (case, decode_json)));
    for ((name, bytes, ty), decode) in all {
        let (decoded, held) = peak(|| decode(bytes, ty));
        assert!(decoded, "{name} decodes");
        let ratio = held as f64 / bytes.len() as f64;
        println!("{name}: {} bytes held {held} ({ratio:.1} per input byte)", bytes.len());
        assert!(held <= bound(bytes.len()), "{name}: {} bytes held {held}", bytes.len());
    }
}

#[test]
fn empty_objects_cannot_multiply_by_a_wide_type() {
    // A dynamic value declares an object type of 10,000 attributes, then
    // lists 100,000 empty objects of it: a billion nulls, if filled in.
    let attributes: Vec<String> = (0..10_000).map(|i| format!("\"a{i}\":\"string\"")).collect();
    let type_json = format!("[\"list\",[\"object\",{{{}}}]]", attributes.join(","));
    let msgpack = [
        &[0x92][..],
        &[0xc6],
        &(type_json.len() as u32).to_be_bytes(),
        type_json.as_bytes(),
        &list_of(100_000, &[0x80]),
    ]
    .concat();
    let err = msgpack_decode(&msgpack, &Type::Dynamic).unwrap_err();
    assert_eq!((err.path.as_str(), err.message.as_str()), ("[0]", "object of 0 attributes for a type of 10000"));
    let json = format!("{{\"type\":{type_json},\"value\":[{}{{}}]}}", "{},".repeat(100_000));
    let err = json_decode(json.as_bytes(), &Type::Dynamic).unwrap_err();
    assert_eq!((err.path.as_str(), err.message.as_str()), ("[0]", "attribute \"a0\" missing"));
}

fn random_block(rng: &mut Rng, depth: usize) -> Block {
    let mut block = Block::new("b");
    for i in 0..rng.usize(..5) {
        let name = format!("a{i}");
        let ty = random_type(rng, 2);
        let mut attribute = match (rng.usize(..4), &ty) {
            (0, Type::Number) => Attribute::defaulted(&name, ty, pick(rng, &["0.5", "-3", "1e3"]), "d"),
            (0, Type::Bool) => Attribute::defaulted(&name, ty, "true", "d"),
            (0, Type::String) => Attribute::defaulted(&name, ty, "x", "d"),
            (1, _) => Attribute::required(&name, ty, "r"),
            (2, _) => Attribute::computed(&name, ty, "c"),
            _ => Attribute::optional(&name, ty, "o"),
        };
        attribute.requires_replace = rng.usize(..100) < 30;
        block = block.attribute(attribute);
    }
    if depth < 2 {
        for i in 0..rng.usize(..3) {
            let nesting = if rng.usize(..100) < 50 { Nesting::Single } else { Nesting::List };
            block = block.block(&format!("b{i}"), nesting, random_block(rng, depth + 1));
        }
    }
    block
}

/// A value of `block`'s type, from random values or mutated bytes.
fn some_value(rng: &mut Rng, ty: &Type) -> Value {
    let value = random_value(rng, ty);
    if rng.usize(..100) < 50 {
        return value;
    }
    let mut bytes = msgpack::encode(&value, ty);
    mutate(rng, &mut bytes, MSGPACK_TOKENS);
    msgpack_decode(&bytes, ty).unwrap_or(value)
}

#[test]
fn plan_helpers_accept_any_decoded_value() {
    cases("plan helpers", |rng| {
        let block = random_block(rng, 0);
        let ty = block.ty();
        let (config, prior) = (some_value(rng, &ty), some_value(rng, &ty));
        let mut planned = some_value(rng, &ty);
        block.apply_defaults(&config, &mut planned);
        if let Value::Object(fields) = &planned {
            for a in block.attributes.iter().filter(|a| a.default.is_some() && config.get(&a.name).is_null()) {
                assert!(fields.get(&a.name).is_some_and(|v| !v.is_null()), "default of {} in {planned:?}", a.name);
            }
        }
        assert!(block.replacing_changes(&prior, &prior).is_empty(), "no change, no replacement");
        block.replacing_changes(&prior, &planned);
        // The server sends the planned state back; it must still decode.
        check_decoded(&planned, &ty);
        let mut stored = prior.clone();
        block.complete_stored(&mut stored);
        let mut twice = stored.clone();
        block.complete_stored(&mut twice);
        assert_eq!(twice, stored, "completing a stored state twice changes nothing more");
        if let serde_json::Value::Object(mut state) = json::encode(&known(&stored), &ty) {
            assert_eq!(block.prune_undeclared(&mut state), Vec::<String>::new(), "a state of the schema loses nothing");
        }
    });
}
