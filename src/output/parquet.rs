//! runs.parquet (`[output] format = "parquet"`, `--format parquet`): runs.csv's columns with
//! their types, one row group per chunk, written as the chunks stream.
//!
//! - Numbers are FLOAT for an f32 sweep and DOUBLE for an f64 one (the run-precision value,
//!   exactly); `rate` and `steps_left` are DOUBLE. Columns that may not apply are nullable:
//!   hyperparameters a run's optimizer does not have, `rate`, `period`, `steps_left`, `basin`,
//!   `sharpness` and `edge_of_stability` (DOUBLE: computed in f64), and the trainability
//!   columns (`trained` BOOLEAN, the rest DOUBLE; empty where the rule cannot tell).
//! - `status` and `optimizer` are UTF-8 strings, dictionary-encoded (a handful of values).
//! - `run`, `steps` and `basin` are INT64, `block` and `period` INT32. Pages are Snappy-compressed.
//!
//! The checkpointed CSV partial file stays the sweep's durable record while it runs (see
//! [`super::partial`]): a resumed sweep writes the row groups of its finished chunks again from
//! it, and runs.parquet replaces it once complete.

use crate::analysis::{Derived, Extra};
use crate::error::{Error, Result};
use crate::outcome::{Results, Trainability};
use crate::plan::{Plan, Precision};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::path::Path;
use std::sync::Arc;

fn err(e: parquet::errors::ParquetError) -> Error {
    Error::Other(format!("writing runs.parquet: {e}"))
}

/// The message type of runs.parquet for `plan`.
pub fn schema(plan: &Plan, extra: Extra) -> String {
    let real = match plan.precision {
        Precision::F32 => "float",
        Precision::F64 => "double",
    };
    let mut cols = vec!["required int64 run;".to_string(), "required binary optimizer (STRING);".into(), "required int32 block;".into()];
    cols.push(format!("required {real} lr;"));
    cols.extend(plan.hyper_columns().iter().map(|h| format!("optional {real} {h};")));
    cols.extend(plan.init_columns().into_iter().map(|j| format!("required {real} init_{};", plan.objective.vars[j])));
    cols.extend(["required binary status (STRING);".to_string(), "required int64 steps;".into(), "required int64 evals;".into()]);
    cols.extend([format!("required {real} loss;"), format!("required {real} grad_norm;")]);
    cols.extend(plan.objective.vars.iter().filter(|_| plan.point_columns()).map(|v| format!("required {real} x_{v};")));
    cols.extend(["optional double rate;".to_string(), "optional int32 period;".into(), "optional double steps_left;".into()]);
    if plan.rules.trainability {
        let [trained, rest @ ..] = super::files::TRAINABILITY_COLUMNS;
        cols.push(format!("optional boolean {trained};"));
        cols.extend(rest.iter().map(|c| format!("optional double {c};")));
    }
    if extra.basin {
        cols.push("optional int64 basin;".into());
    }
    if extra.sharpness {
        cols.extend(["optional double sharpness;".to_string(), "optional double edge_of_stability;".into()]);
    }
    format!("message runs {{\n  {}\n}}", cols.join("\n  "))
}

/// runs.parquet while its sweep runs: an exclusive temporary file in the folder, renamed into
/// place by [`RunsParquet::finish`].
pub struct RunsParquet {
    writer: SerializedFileWriter<std::fs::File>,
    tmp: tempfile::TempPath,
    hyper_cols: Vec<String>,
    extra: Extra,
}

/// One column's values and, for a nullable column, its definition levels (1: present).
enum Column {
    I64(Vec<i64>, Option<Vec<i16>>),
    I32(Vec<i32>, Option<Vec<i16>>),
    F32(Vec<f32>, Option<Vec<i16>>),
    F64(Vec<f64>, Option<Vec<i16>>),
    Bool(Vec<bool>, Option<Vec<i16>>),
    Str(Vec<ByteArray>),
}

/// Values (present ones only) and definition levels of an optional column.
fn nullable<T>(items: impl Iterator<Item = Option<T>>) -> (Vec<T>, Option<Vec<i16>>) {
    let (mut values, mut def) = (Vec::new(), Vec::new());
    for v in items {
        def.push(v.is_some() as i16);
        values.extend(v);
    }
    (values, Some(def))
}

impl RunsParquet {
    pub fn create(dir: &Path, plan: &Plan, extra: Extra) -> Result<RunsParquet> {
        let io = |e| Error::io(format!("creating runs.parquet in {}", dir.display()), e);
        let (file, tmp) = super::files::temporary_in(dir).map_err(io)?.into_parts();
        let schema = Arc::new(parquet::schema::parser::parse_message_type(&schema(plan, extra)).map_err(err)?);
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by(format!("gdsweep {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let writer = SerializedFileWriter::new(file, schema, props).map_err(err)?;
        Ok(RunsParquet { writer, tmp, hyper_cols: plan.hyper_columns(), extra })
    }

    /// One chunk's rows as one row group.
    pub fn write(&mut self, plan: &Plan, r: &Results, derived: &Derived) -> Result<()> {
        assert_eq!(derived.columns(), self.extra, "a chunk has the extra columns of its sweep");
        let f32s = plan.precision == Precision::F32;
        let real = |v: Vec<f64>, def: Option<Vec<i16>>| if f32s { Column::F32(v.into_iter().map(|x| x as f32).collect(), def) } else { Column::F64(v, def) };
        let place: Vec<(usize, u64)> = r.run.iter().map(|&id| plan.locate(id).expect("result ids come from the plan")).collect();
        let axis = |k: &dyn Fn(&crate::plan::Block) -> Option<usize>| -> Vec<Option<f64>> {
            place.iter().map(|&(bi, local)| k(&plan.blocks[bi]).map(|a| plan.blocks[bi].axis_value(local, a))).collect()
        };
        let mut cols: Vec<Column> = vec![
            Column::I64(r.run.iter().map(|&v| v as i64).collect(), None),
            Column::Str(place.iter().map(|&(bi, _)| ByteArray::from(plan.blocks[bi].optimizer.name())).collect()),
            Column::I32(place.iter().map(|&(bi, _)| bi as i32).collect(), None),
            real(axis(&|_| Some(0)).into_iter().flatten().collect(), None),
        ];
        for h in &self.hyper_cols {
            let (v, def) = nullable(axis(&|b| b.hyper_index(h).map(|k| 1 + k)).into_iter());
            cols.push(real(v, def));
        }
        for j in plan.init_columns() {
            cols.push(real(axis(&|b| Some(1 + b.n_hypers() + j)).into_iter().flatten().collect(), None));
        }
        cols.push(Column::Str(r.status.iter().map(|s| ByteArray::from(s.name())).collect()));
        cols.push(Column::I64(r.steps.iter().map(|&s| s as i64).collect(), None));
        cols.push(Column::I64(r.evals.iter().map(|&s| s as i64).collect(), None));
        cols.push(real(r.loss.clone(), None));
        cols.push(real(r.grad_norm.clone(), None));
        for j in (0..plan.objective.dim()).filter(|_| plan.point_columns()) {
            cols.push(real((0..r.len()).map(|i| r.point(i)[j]).collect(), None));
        }
        let (v, def) = nullable(r.rate.iter().map(|&v| (!v.is_nan()).then_some(v)));
        cols.push(Column::F64(v, def));
        let (v, def) = nullable(r.period.iter().map(|&p| (p > 0).then_some(p as i32)));
        cols.push(Column::I32(v, def));
        let (v, def) = nullable(r.steps_left.iter().map(|&v| (!v.is_nan()).then_some(v)));
        cols.push(Column::F64(v, def));
        if plan.rules.trainability {
            let (v, def) = nullable(r.train.iter().map(|t| t.trained()));
            cols.push(Column::Bool(v, def));
            for value in [|t: &Trainability| t.measure(), |t: &Trainability| t.ratio_sum, |t: &Trainability| t.inverse_sum, |t: &Trainability| t.tail_mean] {
                let (v, def) = nullable(r.train.iter().map(|t| Some(value(t)).filter(|v| !v.is_nan())));
                cols.push(Column::F64(v, def));
            }
        }
        if let Some(labels) = &derived.basins {
            let (v, def) = nullable(labels.iter().map(|l| l.map(|b| b as i64)));
            cols.push(Column::I64(v, def));
        }
        if let Some(f) = &derived.sharpness {
            for values in [&f.sharpness, &f.edge] {
                let (v, def) = nullable(values.iter().map(|&v| v.is_finite().then_some(v)));
                cols.push(Column::F64(v, def));
            }
        }
        let mut group = self.writer.next_row_group().map_err(err)?;
        for col in cols {
            let mut w = group.next_column().map_err(err)?.ok_or_else(|| Error::Other("runs.parquet: more columns than its schema".into()))?;
            match &col {
                Column::I64(v, d) => w.typed::<Int64Type>().write_batch(v, d.as_deref(), None),
                Column::I32(v, d) => w.typed::<Int32Type>().write_batch(v, d.as_deref(), None),
                Column::F32(v, d) => w.typed::<FloatType>().write_batch(v, d.as_deref(), None),
                Column::F64(v, d) => w.typed::<DoubleType>().write_batch(v, d.as_deref(), None),
                Column::Bool(v, d) => w.typed::<BoolType>().write_batch(v, d.as_deref(), None),
                Column::Str(v) => w.typed::<ByteArrayType>().write_batch(v, None, None),
            }
            .map_err(err)?;
            w.close().map_err(err)?;
        }
        group.close().map_err(err)?;
        Ok(())
    }

    /// Write the footer, make the file durable and rename it to `path`.
    pub fn finish(self, path: &Path) -> Result<()> {
        let file = self.writer.into_inner().map_err(err)?;
        file.sync_all().map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        self.tmp.persist(path).map_err(|e| Error::io(format!("renaming to {}", path.display()), e.error))?;
        Ok(())
    }
}
