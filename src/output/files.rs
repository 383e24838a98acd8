//! runs.csv and manifest.json (README "Outputs"). Files are written to a temporary name and
//! renamed into place, so an interrupted run never leaves a half-written file over a good one,
//! and existing results are only replaced with `--force`.

use crate::analysis::{Derived, Extra};
use crate::error::{Error, Result};
use crate::outcome::{Results, Status, Trainability};
use crate::plan::{Plan, Precision};
use std::io::Write;
use std::path::Path;

pub const RESULT_FILES: [&str; 15] = [
    "runs.csv",
    "parameters.npy",
    "runs.parquet",
    "manifest.json",
    "basins.csv",
    "thresholds.csv",
    "map.csv",
    "map_grid.csv",
    "map.png",
    "trajectories.csv",
    "trajectories.png",
    "sharpness.csv",
    "sharpness.png",
    "differences.csv",
    "verify.json",
];

/// A number as runs.csv writes it: the shortest text that reads back to the value at the
/// run's precision, always with a decimal point or an exponent; exponent form outside
/// [1e-4, 1e15); `nan`, `inf`, `-inf`.
pub fn number(v: f64, p: Precision) -> String {
    let mut s = String::new();
    push_number(&mut s, v, p);
    s
}

pub fn push_number(out: &mut String, v: f64, p: Precision) {
    // (A value beyond f32's range is infinite at f32.)
    let v = p.round(v);
    if !v.is_finite() {
        out.push_str(if v.is_nan() { "nan" } else if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    let a = v.abs();
    let plain = a == 0.0 || (1e-4..1e15).contains(&a);
    // ryu writes the same shortest digits as Rust's formatter, 2–3× faster, and lays them out
    // as we do (a decimal point or an exponent; "1.0", "1e-7", "1.5e30") except near the ends
    // of the plain range: plain from 1e-5 (f64) or 1e-6 (f32), exponent from 1e16 or 1e13.
    // There the standard formatter lays them out.
    let mut buf = ryu::Buffer::new();
    let fast = match p {
        Precision::F32 => buf.format_finite(v as f32),
        Precision::F64 => buf.format_finite(v),
    };
    if halfway(v, fast) {
        push_number_std(out, v, p, plain);
    } else if fast.as_bytes().contains(&b'e') != plain {
        out.push_str(fast);
    } else {
        relayout(out, fast, plain);
    }
}

/// ryu's text of a finite number laid out the other way: plain (`0.00001234`, `1234500000000000.0`)
/// or with an exponent (`1.234e-5`, `1.2345e15`), with the same digits.
fn relayout(out: &mut String, text: &str, plain: bool) {
    let (sign, body) = match text.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", text),
    };
    out.push_str(sign);
    // The significant digits (at most 17, and ryu's text holds no more) and the decimal
    // exponent of the first one, without allocating: this runs for most lr values of a sweep.
    let mut buf = [0u8; 40];
    let mut len = 0;
    let (mantissa, exp_text) = body.split_once('e').unwrap_or((body, ""));
    let mut exp: i32 = 0;
    let mut seen_point = false;
    let mut int_digits: i32 = 0;
    let mut lead = 0i32;
    for b in mantissa.bytes() {
        if b == b'.' {
            seen_point = true;
            continue;
        }
        if !seen_point {
            int_digits += 1;
        }
        if len == 0 && b == b'0' {
            lead += 1;
            continue;
        }
        buf[len] = b;
        len += 1;
    }
    if !exp_text.is_empty() {
        exp += exp_text.parse::<i32>().unwrap_or(0);
    } else {
        exp = int_digits - 1 - lead;
    }
    while len > 1 && buf[len - 1] == b'0' {
        len -= 1;
    }
    if len == 0 {
        buf[0] = b'0';
        len = 1;
    }
    let digits = std::str::from_utf8(&buf[..len]).expect("ASCII digits");
    if plain {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            } else {
                out.push_str(digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        use std::fmt::Write as _;
        let _ = write!(out, "{exp}");
    }
}

/// Whether `v` lies exactly halfway between the shortest decimal `shortest` (ryu's text of it)
/// and its neighbour at the same digit count: there ryu rounds to even and Rust's formatter
/// rounds up. That is, whether v's exact decimal expansion has exactly one significant digit
/// more than `shortest`, a 5. Also true where this cannot be decided cheaply (|v| ≥ 2⁷⁰·…),
/// which sends the value to the standard formatter.
fn halfway(v: f64, shortest: &str) -> bool {
    // v = m·2^q with m odd (v is an f64, or an f32 held exactly in one).
    let bits = v.abs().to_bits();
    let (exp, frac) = ((bits >> 52) as i64, bits & ((1 << 52) - 1));
    let (mut m, mut q) = if exp == 0 { (frac, -1074) } else { (frac | 1 << 52, exp - 1075) };
    if m == 0 {
        return false;
    }
    let tz = m.trailing_zeros();
    m >>= tz;
    q += tz as i64;
    // An integer m·2^q (q ≥ 0) whose m has no factor 5 has no factor 5: its last digit is not 5.
    if q >= 0 && m % 5 != 0 {
        return false;
    }
    let mut exact: u128 = if q < 0 {
        // v = m·5^(−q) / 10^(−q): more than 27 fives give more than 18 digits, never a tie.
        if -q > 27 {
            return false;
        }
        m as u128 * 5u128.pow((-q) as u32)
    } else if q <= 70 {
        (m as u128) << q
    } else {
        return true;
    };
    while exact.is_multiple_of(10) {
        exact /= 10;
    }
    if exact % 10 != 5 {
        return false;
    }
    let mantissa = shortest.split('e').next().unwrap_or("");
    let n = mantissa.bytes().filter(u8::is_ascii_digit).skip_while(|&d| d == b'0').count().max(1) as u32;
    exact.checked_ilog10().map_or(1, |l| l + 1) == n + 1
}

/// The standard formatter's layout of a finite `v` (see [`push_number`]).
fn push_number_std(out: &mut String, v: f64, p: Precision, plain: bool) {
    use std::fmt::Write as _;
    let start = out.len();
    let _ = match (p, plain) {
        (Precision::F32, true) => write!(out, "{}", v as f32),
        (Precision::F32, false) => write!(out, "{:e}", v as f32),
        (Precision::F64, true) => write!(out, "{v}"),
        (Precision::F64, false) => write!(out, "{v:e}"),
    };
    // A whole number still reads as a float ("1.0", not "1"), so a column's type does not
    // depend on its values (pandas would make init_x int64 in one sweep, float64 in the next).
    if !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// An exclusive temporary file of a random name in `dir` (see [`super::folder::TEMP_PREFIX`]),
/// readable as any file the user creates (0666 less the umask), not tempfile's 0600: result
/// folders are shared.
pub fn temporary_in(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(super::folder::TEMP_PREFIX)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
}

/// Write `path` whole or not at all: into an exclusive temporary file of a random name in the
/// same folder (created with O_EXCL, so a symlink planted there is never followed), fsynced,
/// then renamed over `path`. On any error the temporary file is removed.
fn write_atomically(path: &Path, body: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>) -> Result<()> {
    let io = |e| Error::io(format!("writing {}", path.display()), e);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let (file, tmp_path) = temporary_in(dir).map_err(io)?.into_parts();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    body(&mut w).map_err(io)?;
    w.flush().map_err(io)?;
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    tmp_path.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// The columns that say which run a row is: run, optimizer, block, lr, hyperparameters,
/// `init_<var>` (runs.csv and verify's differences.csv).
fn identity_header(plan: &Plan, hyper_cols: &[String]) -> Vec<String> {
    let mut header: Vec<String> = ["run", "optimizer", "block", "lr"].map(String::from).to_vec();
    header.extend(hyper_cols.iter().cloned());
    header.extend(plan.init_columns().into_iter().map(|j| format!("init_{}", plan.objective.vars[j])));
    header
}

/// What the identity fields of a row need, worked out once per file rather than per row: per
/// block, the row-major stride of each axis, which axis each hyperparameter column is, and the
/// text of every value of axes short enough to keep ([`Identity::CACHED_AXIS`]).
struct Identity {
    blocks: Vec<BlockText>,
    /// The variables with an `init_<var>` column ([`Plan::init_columns`]).
    init_columns: Vec<usize>,
}

struct BlockText {
    stride: Vec<u64>,
    /// Per hyperparameter column of the file, the block's axis for it.
    hyper_axis: Vec<Option<usize>>,
    /// Per axis, the text of each of its values (None: formatted per row).
    text: Vec<Option<Vec<String>>>,
}

impl Identity {
    const CACHED_AXIS: usize = 1 << 16;

    fn new(plan: &Plan, hyper_cols: &[String]) -> Identity {
        let blocks = plan
            .blocks
            .iter()
            .map(|b| {
                let mut stride = vec![1u64; b.axes.len()];
                for k in (0..b.axes.len().saturating_sub(1)).rev() {
                    stride[k] = stride[k + 1] * b.axes[k + 1].values.len() as u64;
                }
                let text = b
                    .axes
                    .iter()
                    .enumerate()
                    .map(|(k, a)| (a.values.len() <= Self::CACHED_AXIS && !(k == 0 && b.lr_table.is_some()) && !(k > b.n_hypers() && b.init_table.is_some())).then(|| a.values.iter().map(|&v| number(v, plan.precision)).collect()))
                    .collect();
                BlockText { stride, hyper_axis: hyper_cols.iter().map(|c| b.hyper_index(c).map(|k| 1 + k)).collect(), text }
            })
            .collect();
        Identity { blocks, init_columns: plan.init_columns() }
    }

    /// The identity fields of run `id`, each appended to `text` with its end in `ends`.
    fn push(&self, text: &mut String, ends: &mut Vec<usize>, plan: &Plan, id: u64) {
        let (bi, local) = plan.locate(id).expect("result ids come from the plan");
        let (block, bt) = (&plan.blocks[bi], &self.blocks[bi]);
        let mut int = itoa::Buffer::new();
        text.push_str(int.format(id));
        ends.push(text.len());
        text.push_str(block.optimizer.name());
        ends.push(text.len());
        text.push_str(int.format(bi));
        ends.push(text.len());
        let axis = |text: &mut String, ends: &mut Vec<usize>, k: usize| {
            match &bt.text[k] {
                Some(t) => text.push_str(&t[((local / bt.stride[k]) % block.axes[k].values.len() as u64) as usize]),
                None => push_number(text, block.axis_value(local, k), plan.precision),
            }
            ends.push(text.len());
        };
        axis(text, ends, 0);
        for h in &bt.hyper_axis {
            match h {
                Some(k) => axis(text, ends, *k),
                None => ends.push(text.len()),
            }
        }
        for &j in &self.init_columns {
            axis(text, ends, 1 + block.n_hypers() + j);
        }
    }
}

/// Write `text` cut at `ends` as one CSV record.
fn write_fields<W: std::io::Write>(csv: &mut csv::Writer<W>, text: &str, ends: &[usize]) -> csv::Result<()> {
    let bytes = text.as_bytes();
    let mut start = 0;
    csv.write_record(ends.iter().map(|&e| {
        let f = &bytes[start..e];
        start = e;
        f
    }))
}

/// runs.csv of results held whole (the tests' dumps; a sweep streams it: app::pipeline): run,
/// optimizer, block, lr, hyperparameters, `init_<var>`, status, steps, evals, loss, grad_norm,
/// `x_<var>`, rate, period, steps_left.
pub fn write_runs_csv(path: &Path, plan: &Plan, r: &Results) -> Result<()> {
    write_atomically(path, |w| {
        w.write_all(&runs_header(plan, Extra::default()))?;
        w.write_all(&runs_rows(plan, r, &Derived::default())?)
    })
}

/// runs.csv's trainability columns (outcome::Trainability), where the plan records it: the
/// paper's verdict and map value, then the three numbers they come from (the ones read back).
pub const TRAINABILITY_COLUMNS: [&str; 5] = ["trained", "trainability", "loss_ratio_sum", "inverse_loss_ratio_sum", "tail_loss_ratio"];

/// runs.csv's header line, with the `extra` columns of the sweep's analyses.
pub fn runs_header(plan: &Plan, extra: Extra) -> Vec<u8> {
    let vars = &plan.objective.vars;
    let mut header = identity_header(plan, &plan.hyper_columns());
    header.extend(["status", "steps", "evals", "loss", "grad_norm"].map(String::from));
    if plan.point_columns() {
        header.extend(vars.iter().map(|v| format!("x_{v}")));
    }
    header.extend(["rate", "period", "steps_left"].map(String::from));
    if plan.rules.trainability {
        header.extend(TRAINABILITY_COLUMNS.map(String::from));
    }
    if extra.basin {
        header.push("basin".into());
    }
    if extra.sharpness {
        header.extend(["sharpness", "edge_of_stability"].map(String::from));
    }
    let mut csv = csv::WriterBuilder::new().from_writer(Vec::new());
    csv.write_record(&header).expect("writing to memory");
    csv.into_inner().expect("writing to memory")
}

/// The runs.csv lines of the rows of `r` with their `derived` columns, in order, formatted in
/// parallel pieces.
pub fn runs_rows(plan: &Plan, r: &Results, derived: &Derived) -> std::io::Result<Vec<u8>> {
    use rayon::prelude::*;
    const PIECE: usize = 1 << 12;
    let identity = Identity::new(plan, &plan.hyper_columns());
    let parts: Vec<std::io::Result<Vec<u8>>> = (0..r.len().div_ceil(PIECE))
        .into_par_iter()
        .map(|c| format_rows(plan, r, c * PIECE..((c + 1) * PIECE).min(r.len()), &identity, derived))
        .collect();
    let mut out = Vec::with_capacity(r.len() * 128);
    for part in parts {
        out.extend_from_slice(&part?);
    }
    Ok(out)
}

/// Read `rows` rows of runs.csv from `reader` (positioned after the header) back into results:
/// what a resumed or merged sweep rebuilds its analyses from. Numbers read back exactly as they
/// were (runs.csv writes the shortest text that reads back to each value, and the results were
/// rounded to it: [`Results::round_to`]); the analyses' extra columns (`basin`, `sharpness`,
/// `edge_of_stability`) are not read (they are recomputed). Without `x_<var>` columns
/// ([`Plan::point_columns`]) the final points are the same rows of `points` (parameters.npy,
/// positioned at the first of them).
pub fn read_runs<R: std::io::Read>(reader: &mut csv::Reader<R>, plan: &Plan, rows: u64, what: &str, points: Option<&mut dyn std::io::Read>) -> Result<Results> {
    let bad = |m: String| Error::Usage(format!("{what}: {m}"));
    let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| bad(format!("no column '{name}'")));
    let (c_run, c_status, c_steps, c_loss, c_gn) = (col("run")?, col("status")?, col("steps")?, col("loss")?, col("grad_norm")?);
    let c_evals = col("evals")?;
    let c_x: Vec<usize> = if plan.point_columns() { plan.objective.vars.iter().map(|v| col(&format!("x_{v}"))).collect::<Result<_>>()? } else { Vec::new() };
    let (c_rate, c_period, c_left) = (col("rate")?, col("period")?, col("steps_left")?);
    let c_train = match plan.rules.trainability {
        true => Some([col(TRAINABILITY_COLUMNS[2])?, col(TRAINABILITY_COLUMNS[3])?, col(TRAINABILITY_COLUMNS[4])?]),
        false => None,
    };
    let d = plan.objective.dim();
    let mut out = Results::with_capacity(d, rows as usize);
    let mut rec = csv::ByteRecord::new();
    let p = plan.precision;
    for _ in 0..rows {
        let line = reader.position().line();
        if !reader.read_byte_record(&mut rec).map_err(|e| bad(e.to_string()))? {
            return Err(bad(format!("ends at line {line}, before the rows its sweep wrote")));
        }
        let field = |c: usize| std::str::from_utf8(rec.get(c).unwrap_or_default()).unwrap_or("");
        let fail = |c: usize| bad(format!("line {line}: column {} holds '{}'", header.get(c).unwrap_or("?"), field(c)));
        let real = |c: usize| -> Result<f64> {
            match p {
                Precision::F32 => field(c).parse::<f32>().map(f64::from).map_err(|_| fail(c)),
                Precision::F64 => field(c).parse::<f64>().map_err(|_| fail(c)),
            }
        };
        let optional = |c: usize| -> Result<f64> { if field(c).is_empty() { Ok(f64::NAN) } else { field(c).parse::<f64>().map_err(|_| fail(c)) } };
        let status = Status::FINAL.into_iter().find(|s| s.name() == field(c_status)).ok_or_else(|| fail(c_status))?;
        out.run.push(field(c_run).parse().map_err(|_| fail(c_run))?);
        out.status.push(status);
        out.steps.push(field(c_steps).parse().map_err(|_| fail(c_steps))?);
        out.evals.push(field(c_evals).parse().map_err(|_| fail(c_evals))?);
        out.loss.push(real(c_loss)?);
        out.grad_norm.push(real(c_gn)?);
        for &c in &c_x {
            out.x.push(real(c)?);
        }
        out.rate.push(optional(c_rate)?);
        out.period.push(if field(c_period).is_empty() { 0 } else { field(c_period).parse().map_err(|_| fail(c_period))? });
        out.steps_left.push(optional(c_left)?);
        if let Some([sum, inv, tail]) = c_train {
            out.train.push(Trainability { ratio_sum: optional(sum)?, inverse_sum: optional(inv)?, tail_mean: optional(tail)? });
        }
    }
    if !plan.point_columns() {
        let points = points.ok_or_else(|| bad("its final points are in parameters.npy, which was not given".into()))?;
        crate::problem::npy::read_rows(points, rows as usize, d, p, &mut out.x).map_err(|e| bad(format!("reading its rows of parameters.npy: {e}")))?;
    }
    Ok(out)
}

fn format_rows(plan: &Plan, r: &Results, rows: std::ops::Range<usize>, identity: &Identity, derived: &Derived) -> std::io::Result<Vec<u8>> {
    let p = plan.precision;
    let mut out: Vec<u8> = Vec::with_capacity(rows.len() * 128);
    let mut text = String::with_capacity(512);
    let mut ends: Vec<usize> = Vec::with_capacity(32);
    let mut int = itoa::Buffer::new();
    for i in rows {
        text.clear();
        ends.clear();
        identity.push(&mut text, &mut ends, plan, r.run[i]);
        text.push_str(r.status[i].name());
        ends.push(text.len());
        text.push_str(int.format(r.steps[i]));
        ends.push(text.len());
        text.push_str(int.format(r.evals[i]));
        ends.push(text.len());
        push_number(&mut text, r.loss[i], p);
        ends.push(text.len());
        push_number(&mut text, r.grad_norm[i], p);
        ends.push(text.len());
        if plan.point_columns() {
            for &v in r.point(i) {
                push_number(&mut text, v, p);
                ends.push(text.len());
            }
        }
        // Not applicable: empty (rate and steps_left are NaN, period 0).
        if !r.rate[i].is_nan() {
            push_number(&mut text, r.rate[i], Precision::F64);
        }
        ends.push(text.len());
        if r.period[i] > 0 {
            text.push_str(int.format(r.period[i]));
        }
        ends.push(text.len());
        if !r.steps_left[i].is_nan() {
            push_number(&mut text, r.steps_left[i], Precision::F64);
        }
        ends.push(text.len());
        if let Some(t) = r.train.get(i) {
            // Unknown: every field empty.
            if let Some(trained) = t.trained() {
                text.push_str(if trained { "true" } else { "false" });
            }
            ends.push(text.len());
            for v in [t.measure(), t.ratio_sum, t.inverse_sum, t.tail_mean] {
                if !v.is_nan() {
                    push_number(&mut text, v, Precision::F64);
                }
                ends.push(text.len());
            }
        }
        if let Some(labels) = &derived.basins {
            if let Some(b) = labels[i] {
                text.push_str(int.format(b));
            }
            ends.push(text.len());
        }
        if let Some(f) = &derived.sharpness {
            for v in [f.sharpness[i], f.edge[i]] {
                if v.is_finite() {
                    push_number(&mut text, v, Precision::F64);
                }
                ends.push(text.len());
            }
        }
        // No field of runs.csv needs quoting (numbers, status and optimizer names), so the
        // record is its fields joined by commas, as the csv crate writes it.
        debug_assert!(!text.contains([',', '"', '\n', '\r']));
        let mut start = 0;
        for (k, &e) in ends.iter().enumerate() {
            out.extend_from_slice(&text.as_bytes()[start..e]);
            out.push(if k + 1 == ends.len() { b'\n' } else { b',' });
            start = e;
        }
    }
    Ok(out)
}

/// verify's differences.csv: every run whose status differs between the backends, with its
/// class (`differs`, `boundary`, `rounding_chaos`: see analysis::verify) and, per backend,
/// status, steps, evals, loss, grad_norm and final point.
/// The runs of `rows` side by side, each column twice: `_{names.0}` from `gpu`, `_{names.1}`
/// from `cpu` (the backends verify compared, `gpu` and `cpu` by default).
pub fn write_differences_csv(path: &Path, plan: &Plan, (gpu, cpu): (&Results, &Results), names: (&str, &str), rows: &[(usize, crate::analysis::verify::Difference)]) -> Result<()> {
    let hyper_cols = plan.hyper_columns();
    let p = plan.precision;
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header = identity_header(plan, &hyper_cols);
        header.push("class".into());
        for col in ["status", "steps", "evals", "loss", "grad_norm"] {
            header.extend([format!("{col}_{}", names.0), format!("{col}_{}", names.1)]);
        }
        for v in plan.objective.vars.iter().filter(|_| plan.point_columns()) {
            header.extend([format!("x_{v}_{}", names.0), format!("x_{v}_{}", names.1)]);
        }
        csv.write_record(&header)?;
        let identity = Identity::new(plan, &hyper_cols);
        let (mut text, mut ends) = (String::new(), Vec::new());
        for &(i, class) in rows {
            text.clear();
            ends.clear();
            identity.push(&mut text, &mut ends, plan, cpu.run[i]);
            text.push_str(class.name());
            ends.push(text.len());
            for r in [gpu, cpu] {
                text.push_str(r.status[i].name());
                ends.push(text.len());
            }
            for r in [gpu, cpu] {
                text.push_str(&r.steps[i].to_string());
                ends.push(text.len());
            }
            for r in [gpu, cpu] {
                text.push_str(&r.evals[i].to_string());
                ends.push(text.len());
            }
            for r in [gpu, cpu] {
                push_number(&mut text, r.loss[i], p);
                ends.push(text.len());
            }
            for r in [gpu, cpu] {
                push_number(&mut text, r.grad_norm[i], p);
                ends.push(text.len());
            }
            for j in (0..cpu.dim).filter(|_| plan.point_columns()) {
                for r in [gpu, cpu] {
                    push_number(&mut text, r.point(i)[j], p);
                    ends.push(text.len());
                }
            }
            write_fields(&mut csv, &text, &ends)?;
        }
        csv.flush()
    })
}

/// manifest.json: the resolved config, version, backend and adapter, precision, counts per
/// status (from the sweep's tally), wall time, throughput.
pub fn manifest_of(plan: &Plan, tally: &crate::outcome::Tally, backend: &str, adapter: Option<&crate::backend::AdapterSummary>, seconds: f64) -> serde_json::Value {
    let counts: serde_json::Map<String, serde_json::Value> = tally.counts().iter().map(|(s, n)| (s.name().to_string(), (*n).into())).collect();
    let finished = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let seconds = seconds.max(1e-9);
    serde_json::json!({
        "gdsweep_version": env!("CARGO_PKG_VERSION"),
        "config_file": plan.source,
        "config": plan.resolved,
        "backend": backend,
        "adapter": adapter,
        "precision": plan.precision,
        "runs": tally.runs,
        "counts": counts,
        "wall_seconds": seconds,
        "config_steps_per_second": tally.runs as f64 * plan.steps as f64 / seconds,
        "steps_taken_per_second": tally.steps_taken as f64 / seconds,
        "finished_unix_time": finished,
    })
}

pub fn write_manifest(path: &Path, value: &serde_json::Value) -> Result<()> {
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)
    })
}

/// basins.csv: one row per optimizer block × lr × basin reached (see `basins`).
pub fn write_basins_csv(path: &Path, plan: &Plan, basins: &[crate::analysis::basins::Basin], rows: &[crate::analysis::basins::GroupRow]) -> Result<()> {
    let vars = &plan.objective.vars;
    let d = vars.len();
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header: Vec<String> = ["basin", "optimizer", "block", "lr", "count", "fraction", "entropy", "kind", "loss"]
            .map(String::from)
            .to_vec();
        header.extend(vars.iter().map(|v| format!("x_{v}")));
        header.extend((1..=d).map(|k| format!("eigenvalue_{k}")));
        header.push("gd_lr_threshold".into());
        header.push("runs_in_basin".into());
        csv.write_record(&header)?;
        let f = |v: f64| number(v, crate::plan::Precision::F64);
        for row in rows {
            let b = &basins[row.basin];
            let mut rec: Vec<String> = vec![
                b.id.to_string(),
                plan.blocks[row.block].optimizer.name().into(),
                row.block.to_string(),
                number(row.lr, plan.precision),
                row.count.to_string(),
                f(row.fraction),
                f(row.entropy),
                b.kind.into(),
                f(b.loss),
            ];
            rec.extend(b.centre.iter().map(|&v| f(v)));
            rec.extend(b.eigenvalues.iter().map(|&v| f(v)));
            rec.push(b.gd_threshold.map(f).unwrap_or_default());
            rec.push(b.count.to_string());
            csv.write_record(&rec)?;
        }
        csv.flush()
    })
}

/// thresholds.csv: one row per group of runs that differ only in lr (see `threshold`):
/// optimizer, block, the group's hyperparameters and initial point, lr_stable, lr_unstable,
/// rel_width, crossings, lr_theory, rounds, stop. Empty where a value does not exist.
pub fn write_thresholds_csv(path: &Path, plan: &Plan, search: &crate::analysis::threshold::Search) -> Result<()> {
    let hyper_cols = plan.hyper_columns();
    let vars = &plan.objective.vars;
    let p = plan.precision;
    let f = |v: Option<f64>, p: Precision| v.map(|v| number(v, p)).unwrap_or_default();
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header: Vec<String> = vec!["optimizer".into(), "block".into()];
        header.extend(hyper_cols.iter().cloned());
        header.extend(vars.iter().map(|v| format!("init_{v}")));
        header.extend(["lr_stable", "lr_unstable", "rel_width", "crossings", "lr_theory", "rounds", "stop"].map(String::from));
        csv.write_record(&header)?;
        for t in &search.thresholds {
            let block = &plan.blocks[t.block];
            let mut rec: Vec<String> = vec![block.optimizer.name().into(), t.block.to_string()];
            rec.extend(hyper_cols.iter().map(|c| f(block.hyper_index(c).map(|k| block.axis_value(t.rest, 1 + k)), p)));
            rec.extend((0..vars.len()).map(|j| number(block.axis_value(t.rest, 1 + block.n_hypers() + j), p)));
            rec.push(f(t.lr_stable, p));
            rec.push(f(t.lr_unstable, p));
            rec.push(f(t.rel_width(), Precision::F64));
            rec.push(t.crossings.to_string());
            rec.push(f(t.lr_theory, Precision::F64));
            rec.push(t.rounds.to_string());
            rec.push(t.stop.name().into());
            csv.write_record(&rec)?;
        }
        csv.flush()
    })
}

/// A file's bytes, written atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |w| w.write_all(bytes))
}

/// The value a map colours a run by, as map.csv writes it.
fn push_map_value(out: &mut String, map: &crate::analysis::map::Map, cell: &crate::analysis::map::Cell, p: Precision) {
    use crate::plan::analyses::Colour;
    let mut int = itoa::Buffer::new();
    match map.spec.color {
        Colour::Status => out.push_str(cell.status.name()),
        Colour::Basin => {
            if let Some(b) = cell.basin {
                out.push_str(int.format(b));
            }
        }
        Colour::Steps => out.push_str(int.format(cell.steps)),
        Colour::Evals => out.push_str(int.format(cell.evals)),
        Colour::Loss => push_number(out, cell.loss, p),
        Colour::Rate | Colour::Sharpness | Colour::EdgeRatio | Colour::Trainability => {
            let v = cell.continuous_value(map.spec.color);
            if v.is_finite() {
                push_number(out, v, Precision::F64);
            }
        }
    }
}

/// One CSV field as the csv crate writes it (quoted where it must be).
fn csv_field(text: &str) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_field(text).expect("writing to memory");
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 in, UTF-8 out")
}

/// map.csv (tidy: one row per run on the map: run, panel, panel_label, optimizer, the map's
/// axes, status, steps, evals, loss, rate, basin, value) and map_grid.csv (2-D: panel, panel_label,
/// the y value, then one column per x value; 1-D: the x value, then one column per series).
/// Cells are read a row of x values at a time; the rows are written as the csv crate writes
/// them (only the labels can need quoting, and they are quoted once).
pub fn write_map_csvs(dir: &Path, plan: &Plan, map: &crate::analysis::map::Map, cells: &crate::analysis::map::MapCells) -> Result<()> {
    let p = plan.precision;
    let nx = map.nx();
    let ny = map.y.as_ref().map_or(1, |a| a.values.len());
    let read = |k: usize, iy: usize| cells.read(k, iy * nx..(iy + 1) * nx).map_err(|e| std::io::Error::other(e.to_string()));
    let xs: Vec<String> = map.x.values.iter().map(|&v| number(v, p)).collect();
    let ys: Vec<String> = map.y.iter().flat_map(|a| a.values.iter().map(|&v| number(v, p))).collect();
    let labels: Vec<String> = map.panels.iter().map(|q| csv_field(&q.label)).collect();
    write_atomically(&dir.join("map.csv"), |w| {
        let mut header = vec!["run".to_string(), "panel".into(), "panel_label".into(), "optimizer".into(), map.x.name.clone()];
        header.extend(map.y.iter().map(|a| a.name.clone()));
        header.extend(["status", "steps", "evals", "loss", "rate", "basin", "value"].map(String::from));
        let header: Vec<String> = header.iter().map(|h| csv_field(h)).collect();
        writeln!(w, "{}", header.join(","))?;
        let mut line = String::with_capacity(256);
        let mut int = itoa::Buffer::new();
        for (k, panel) in map.panels.iter().enumerate() {
            let prefix = format!("{k},{},{}", labels[k], plan.blocks[panel.block].optimizer.name());
            for (iy, yv) in ys.iter().map(Some).chain(std::iter::repeat(None)).take(ny).enumerate() {
                for (ix, cell) in read(k, iy)?.iter().enumerate() {
                    line.clear();
                    line.push_str(int.format(map.run_of(plan, k, iy * nx + ix)));
                    line.push(',');
                    line.push_str(&prefix);
                    line.push(',');
                    line.push_str(&xs[ix]);
                    if let Some(yv) = yv {
                        line.push(',');
                        line.push_str(yv);
                    }
                    line.push(',');
                    line.push_str(cell.status.name());
                    line.push(',');
                    line.push_str(int.format(cell.steps));
                    line.push(',');
                    line.push_str(int.format(cell.evals));
                    line.push(',');
                    push_number(&mut line, cell.loss, p);
                    line.push(',');
                    if !cell.rate.is_nan() {
                        push_number(&mut line, cell.rate, Precision::F64);
                    }
                    line.push(',');
                    if let Some(b) = cell.basin {
                        line.push_str(int.format(b));
                    }
                    line.push(',');
                    push_map_value(&mut line, map, cell, p);
                    line.push('\n');
                    w.write_all(line.as_bytes())?;
                }
            }
        }
        Ok(())
    })?;
    write_atomically(&dir.join("map_grid.csv"), |w| {
        let mut line = String::with_capacity(16 * nx + 64);
        match &map.y {
            Some(y) => {
                let mut header = vec!["panel".to_string(), "panel_label".into(), csv_field(&format!("{}\\{}", y.name, map.x.name))];
                header.extend(xs.iter().cloned());
                writeln!(w, "{}", header.join(","))?;
                for (k, label) in labels.iter().enumerate() {
                    for (iy, yv) in ys.iter().enumerate() {
                        line.clear();
                        line.push_str(&format!("{k},{label},{yv}"));
                        for cell in read(k, iy)? {
                            line.push(',');
                            push_map_value(&mut line, map, &cell, p);
                        }
                        line.push('\n');
                        w.write_all(line.as_bytes())?;
                    }
                }
            }
            None => {
                let mut header = vec![csv_field(&map.x.name)];
                header.extend(labels.iter().cloned());
                writeln!(w, "{}", header.join(","))?;
                let series: Vec<Vec<crate::analysis::map::Cell>> = (0..map.panels.len()).map(|k| read(k, 0)).collect::<std::io::Result<_>>()?;
                for (ix, xv) in xs.iter().enumerate() {
                    line.clear();
                    line.push_str(xv);
                    for s in &series {
                        line.push(',');
                        push_map_value(&mut line, map, &s[ix], p);
                    }
                    line.push('\n');
                    w.write_all(line.as_bytes())?;
                }
            }
        }
        Ok(())
    })
}

/// trajectories.csv: one row per recorded point: run, optimizer, lr, step, evals, `x_<var>`,
/// loss.
pub fn write_trajectories_csv(path: &Path, plan: &Plan, traces: &[crate::analysis::trajectory::Trace]) -> Result<()> {
    let rows: Vec<(&crate::analysis::trajectory::Trace, Vec<[f64; 0]>)> = traces.iter().map(|t| (t, Vec::new())).collect();
    write_traces_csv(path, plan, &[], &rows)
}

/// sharpness.csv: trajectories.csv's columns and, per recorded point, `sharpness` (λ_max in
/// f64) and the run's `edge_of_stability` (empty where it has none).
pub fn write_sharpness_csv(path: &Path, plan: &Plan, traces: &[crate::analysis::sharpness::SharpnessTrace]) -> Result<()> {
    let rows: Vec<_> = traces.iter().map(|t| (&t.trace, t.sharpness.iter().map(|&v| [v, t.edge]).collect())).collect();
    write_traces_csv(path, plan, &["sharpness", "edge_of_stability"], &rows)
}

/// One row per recorded point of each trace: run, optimizer, lr, step, `x_<var>`, loss, and
/// the point's `extra` values (f64; empty where not finite).
fn write_traces_csv<const N: usize>(path: &Path, plan: &Plan, extra: &[&str], traces: &[(&crate::analysis::trajectory::Trace, Vec<[f64; N]>)]) -> Result<()> {
    let p = plan.precision;
    write_atomically(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header = vec!["run".to_string(), "optimizer".into(), "lr".into(), "step".into(), "evals".into()];
        header.extend(plan.objective.vars.iter().map(|v| format!("x_{v}")));
        header.push("loss".into());
        header.extend(extra.iter().map(|e| e.to_string()));
        csv.write_record(&header)?;
        for (t, values) in traces {
            let (bi, local) = plan.locate(t.run).expect("traced runs come from the plan");
            let b = &plan.blocks[bi];
            let (name, lr) = (b.optimizer.name().to_string(), number(b.axis_value(local, 0), p));
            for (k, &step) in t.steps.iter().enumerate() {
                let mut rec = vec![t.run.to_string(), name.clone(), lr.clone(), step.to_string(), t.evals[k].to_string()];
                rec.extend(t.point(k).iter().map(|&v| number(v, p)));
                rec.push(number(t.loss[k], Precision::F64));
                if let Some(v) = values.get(k) {
                    rec.extend(v.iter().map(|&v| if v.is_finite() { number(v, Precision::F64) } else { String::new() }));
                }
                csv.write_record(&rec)?;
            }
        }
        csv.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path writes exactly what the standard formatter writes, in both precisions,
    /// over random bit patterns and the edges of the plain range.
    #[test]
    fn ryu_numbers_are_the_standard_ones() {
        let reference = |v: f64, p: Precision| {
            let mut s = String::new();
            let v = p.round(v);
            if !v.is_finite() {
                return number(v, p);
            }
            let a = v.abs();
            push_number_std(&mut s, v, p, a == 0.0 || (1e-4..1e15).contains(&a));
            s
        };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut values: Vec<f64> = Vec::new();
        for _ in 0..400_000 {
            values.push(f64::from_bits(next()));
            values.push(f32::from_bits(next() as u32) as f64);
            // Magnitudes around the layout edges and ordinary sweep values.
            let e = (next() % 44) as i32 - 22;
            values.push((next() as f64 / u64::MAX as f64) * 10f64.powi(e));
        }
        for e in -8..18 {
            for m in [1.0, 1.5, 9.999999, 9.9999999999, 0.99999999] {
                values.push(m * 10f64.powi(e));
                values.push(-m * 10f64.powi(e));
            }
        }
        // Values with few fractional bits at the end of f32's and f64's precision, where the
        // shortest decimal can be a tie (275253.625 in f32: ryu says .62, Rust .63).
        for i in 0..100_000u64 {
            for k in 0..4 {
                values.push(((1u64 << 23) + i * 7) as f64 / (1u64 << k) as f64);
                values.push(((1u64 << 18) + i) as f64 / (1u64 << k) as f64);
                values.push(((1u64 << 52) + i * 13) as f64 / (1u64 << k) as f64);
            }
        }
        values.extend([275253.625, 0.5, 0.25, 0.125, 1.5, 2.5, 1e-320]);
        // Powers of two and their neighbours: the rounding interval is lopsided there.
        for k in -1074..1024 {
            let v = 2f64.powi(k);
            values.extend([v, f64::from_bits(v.to_bits() + 1), f64::from_bits(v.to_bits().saturating_sub(1))]);
        }
        for k in -149..128 {
            let v = 2f32.powi(k);
            values.extend([v, f32::from_bits(v.to_bits() + 1), f32::from_bits(v.to_bits().saturating_sub(1))].map(f64::from));
        }
        values.extend([0.0, -0.0, 1e-4, 1e15, 1e-5, 1e16, 1e13, 1e-6, f64::MIN_POSITIVE, f64::MAX, 5e-324, f64::NAN, f64::INFINITY, -f64::INFINITY]);
        for v in values {
            for p in [Precision::F32, Precision::F64] {
                assert_eq!(number(v, p), reference(v, p), "{v:e} in {p:?}");
            }
        }
    }
}
