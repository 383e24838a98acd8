//! Inputs that cannot crash or hang it: expressions past the nesting and chain limits are bad
//! input with a column (exit 2), not a stack overflow; the largest allowed ones parse,
//! differentiate and evaluate on a test thread's 2 MiB stack; the lexer is linear (1 MB of
//! blanks parses at once; it took 36 s).

use gdsweep::problem::expr::parse::{MAX_DEPTH, MAX_NESTING};
use gdsweep::problem::expr::Objective;

#[test]
fn past_the_limits_is_an_error_not_an_abort() {
    let cases = [
        format!("{}x{}", "(".repeat(8100), ")".repeat(8100)),
        format!("{}x{}", "sin(".repeat(8100), ")".repeat(8100)),
        format!("{}x", "-".repeat(16000)),
        vec!["x"; 16000].join("^"),
        vec!["x"; 60000].join(" + "),
        vec!["x"; 60000].join(" * "),
    ];
    for src in &cases {
        let e = Objective::from_expr(src, None).err().unwrap_or_else(|| panic!("accepted {}…", &src[..40]));
        assert!(e.message.contains("nested more than") || e.message.contains("terms or levels"), "{}", e.message);
    }
}

#[test]
fn the_largest_allowed_expressions_work() {
    // A chain just under the limit, of distinct terms (no folding), with gradient and Hessian.
    let terms: Vec<String> = (1..MAX_DEPTH as usize / 2).map(|k| format!("{k}*x*y")).collect();
    let obj = Objective::from_expr(&terms.join(" + "), None).unwrap();
    let n = (MAX_DEPTH / 2 - 1) as f64;
    let c = n * (n + 1.0) / 2.0;
    assert_eq!(obj.loss_f64(&[1.0, 2.0]), 2.0 * c);
    assert_eq!(obj.grad_f64(&[1.0, 2.0]), vec![2.0 * c, c]);
    assert_eq!(obj.hessian_f64(&[1.0, 2.0])[0][1], c);
    // Nesting just under the limit.
    let depth = MAX_NESTING as usize / 2 - 1;
    let nested = format!("{}x{}", "sin(".repeat(depth), ")".repeat(depth));
    let obj = Objective::from_expr(&nested, None).unwrap();
    assert!(obj.grad_f64(&[0.1])[0].is_finite());
}

#[test]
fn a_function_name_without_a_call_is_refused() {
    let e = Objective::from_expr("sin^2 + x", None).unwrap_err();
    assert_eq!(e.column, 1);
    assert!(e.message.contains("sin is a function"), "{}", e.message);
}

#[test]
fn the_lexer_is_linear() {
    // 1 MB of blanks used to take 36 s (every character recounted the column).
    let src = format!("x{}+ y", " ".repeat(1 << 20));
    let obj = Objective::from_expr(&src, None).unwrap();
    assert_eq!(obj.dim(), 2);
    let e = Objective::from_expr(&format!("x{}$", " ".repeat(1000)), None).unwrap_err();
    assert_eq!(e.column, 1002, "columns still count characters");
}
