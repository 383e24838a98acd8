//! Hostile input: thousands of mutated configs and expressions through the config loader and
//! the expression parser. Every one must come back as a plan or as a config error (exit 2 in
//! the CLI): no panic, no abort (stack overflow), no hang. Mutations start from the shipped
//! configs and the starter, and cut, insert, repeat and swap text, put extreme numbers in, and
//! nest expressions deeply.

use gdsweep::config::{parse, Overrides};
use proptest::prelude::*;

/// The seeds: every shipped config and the starter.
fn seeds() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    out.sort();
    out.push(gdsweep::app::cli::STARTER.to_string());
    out
}

/// Text a mutation may insert: TOML punctuation, expression operators, names of fields and
/// functions, extreme numbers, and a few non-ASCII characters.
const PIECES: [&str; 40] = [
    "[", "]", "{", "}", "=", "\"", "'", ",", ".", "\n", "#", "(", ")", "^", "*", "-", "+", "/", "x", "y", "sin(", "exp(", "log(",
    "1e308", "-1e308", "1e-320", "nan", "inf", "-0.0", "9223372036854775807", "4294967296", "n = 3", "lin = [0, 1]",
    "log = [1e-9, 1]", "[[optimizer]]\nkind = \"adam\"\n", "[analysis.map]\nx = \"lr\"\n", "é", "\u{202e}", "\t", "\0",
];

#[derive(Debug, Clone)]
enum Mutation {
    Cut(usize, usize),
    Insert(usize, usize),
    RepeatLine(usize, usize),
    SwapLines(usize, usize),
    Nest(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Cut(a, n)),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(a, k)| Mutation::Insert(a, k)),
        (any::<usize>(), 1usize..200).prop_map(|(a, n)| Mutation::RepeatLine(a, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 1usize..5000).prop_map(|(a, n)| Mutation::Nest(a, n)),
    ]
}

/// The nearest char boundary at or below `i`.
fn floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    let len = text.len().max(1);
    match *m {
        Mutation::Cut(a, n) => {
            let a = floor(text, a % len);
            let b = floor(text, a + n);
            format!("{}{}", &text[..a], &text[b..])
        }
        Mutation::Insert(a, k) => {
            let a = floor(text, a % len);
            format!("{}{}{}", &text[..a], PIECES[k], &text[a..])
        }
        Mutation::RepeatLine(a, n) => {
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return text.to_string();
            }
            let k = a % lines.len();
            let mut out: Vec<&str> = lines.clone();
            for _ in 0..n {
                out.insert(k, lines[k]);
            }
            out.join("\n")
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let n = lines.len();
                lines.swap(a % n, b % n);
            }
            lines.join("\n")
        }
        Mutation::Nest(a, n) => {
            // Wrap the expression (or any quoted text) in n parentheses or unary minus signs.
            let a = floor(text, a % len);
            let open = if n % 2 == 0 { "(".repeat(n) } else { "-".repeat(n) };
            let close = if n % 2 == 0 { ")".repeat(n) } else { String::new() };
            format!("{}{open}x{close}{}", &text[..a], &text[a..])
        }
    }
}

/// A parse that neither panics nor takes long (a hang would show as a slow case).
fn survives(text: &str) {
    let t = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(|| parse("fuzz.toml", text, "fuzz", Overrides::default()).map(|p| p.total_runs()));
    assert!(outcome.is_ok(), "panicked on:\n{text}");
    assert!(t.elapsed().as_secs_f64() < 5.0, "took {:?} on:\n{text}", t.elapsed());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configs_never_crash(seed in any::<usize>(), ms in prop::collection::vec(mutation(), 1..6)) {
        let seeds = seeds();
        let mut text = seeds[seed % seeds.len()].clone();
        for m in &ms {
            text = apply(&text, m);
        }
        survives(&text);
    }

    /// Expressions built from a grammar of every operator and function, then mutated.
    #[test]
    fn generated_expressions_never_crash(e in expression(), m in mutation()) {
        let text = format!("[objective]\nexpr = \"{e}\"\n[sweep]\nlr = 0.1\n[run]\nsteps = 10\n");
        survives(&text);
        survives(&apply(&text, &m));
    }
}

fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        Just("pi".to_string()),
        (-1e3f64..1e3).prop_map(|v| format!("{v}")),
        Just("1e308".to_string()),
        Just("0".to_string()),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "^"])).prop_map(|(a, b, op)| format!("({a}){op}({b})")),
            (inner.clone(), prop::sample::select(vec!["sin", "cos", "exp", "log", "tanh", "sqrt", "abs", "softplus", "sigmoid", "tan"]))
                .prop_map(|(a, f)| format!("{f}({a})")),
            inner.prop_map(|a| format!("-{a}")),
        ]
    })
}

/// Many more mutants, counted: both valid plans and errors must come out (a fuzzer whose every
/// mutant fails at the first byte would test nothing), and none may crash.
#[test]
fn a_hundred_thousand_mutants_are_plans_or_errors() {
    let seeds = seeds();
    let mut state = 0x853c_49e6_748f_ea9bu64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    let (mut plans, mut errors) = (0, 0);
    for _ in 0..100_000 {
        let mut text = seeds[next() % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            let m = match next() % 5 {
                0 => Mutation::Cut(next(), 1 + next() % 40),
                1 => Mutation::Insert(next(), next() % PIECES.len()),
                2 => Mutation::RepeatLine(next(), 1 + next() % 50),
                3 => Mutation::SwapLines(next(), next()),
                _ => Mutation::Nest(next(), 1 + next() % 5000),
            };
            text = apply(&text, &m);
        }
        let outcome = std::panic::catch_unwind(|| parse("fuzz.toml", &text, "fuzz", Overrides::default()).is_ok());
        match outcome {
            Ok(true) => plans += 1,
            Ok(false) => errors += 1,
            Err(_) => panic!("panicked on:\n{text}"),
        }
    }
    eprintln!("{plans} plans, {errors} errors");
    assert!(plans > 5000 && errors > 5000, "{plans} plans, {errors} errors");
}
