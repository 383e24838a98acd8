//! Data tables for models trained on data: a CSV file with a header row, or an inline table;
//! the feature columns and the target; standardisation.
//!
//! - **Reading.** Every row must have the header's number of fields and every chosen field must
//!   be a finite number; an error names the line (1 = the header), the column and what is
//!   allowed. Columns that are neither features nor the target are not read.
//! - **Standardisation** is the z-score of each feature with the population standard deviation,
//!   as scikit-learn's `StandardScaler`: x′ = (x − mean)/std, and a constant column (std 0)
//!   keeps scale 1 (x′ = x − mean), as scikit-learn does. The mean and std are computed once, in
//!   f64, on the host.
//! - **Theory.** For a linear model with a bias and the mean squared error
//!   f(w, b) = (1/m)·Σᵢ (xᵢ·w + b − yᵢ)², the Hessian is 2·X̃ᵀX̃/m with X̃ = [X, 1] (the bias
//!   column last): [`Table::mse_hessian`].

/// What is wrong with a table: where (`line`: 1 is the header; None: the table as a whole),
/// which field, and what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct DataError {
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}, column '{}': {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// A table of m rows: the feature names, the features row by row (x[i·d .. (i+1)·d]) and the
/// target.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub features: Vec<String>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

/// Each feature's mean and the scale it is divided by (the population std; 1 where it is 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    pub fn dim(&self) -> usize {
        self.features.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let d = self.dim();
        &self.x[i * d..(i + 1) * d]
    }

    /// Read a CSV text with a header: `target` and the `features` columns (None: every column
    /// but the target, in the file's order).
    pub fn from_csv(text: &str, features: Option<&[String]>, target: &str) -> Result<Table, DataError> {
        let whole = |field: &str, message: String| DataError { line: None, field: field.into(), message };
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().map_err(|e| whole("header", e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
        let position = |name: &str, field: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| whole(field, format!("no column '{name}' (columns: {})", header.join(", "))))
        };
        let target_at = position(target, "target")?;
        let names: Vec<String> = match features {
            Some(f) => f.to_vec(),
            None => header.iter().filter(|h| *h != target).cloned().collect(),
        };
        if names.is_empty() {
            return Err(whole("features", "no feature columns: the table has only the target".into()));
        }
        if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
            return Err(whole("features", format!("'{}' is named twice", dup.1)));
        }
        if names.iter().any(|n| n == target) {
            return Err(whole("features", format!("'{target}' is the target: it cannot be a feature too")));
        }
        let feature_at: Vec<usize> = names.iter().map(|n| position(n, "features")).collect::<Result<_, _>>()?;
        let mut table = Table { features: names, x: Vec::new(), y: Vec::new() };
        for (k, record) in reader.records().enumerate() {
            let line = k + 2;
            let record = record.map_err(|e| DataError { line: Some(line), field: "row".into(), message: e.to_string() })?;
            let number = |c: usize| -> Result<f64, DataError> {
                let text = record.get(c).unwrap_or("").trim();
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    _ => Err(DataError { line: Some(line), field: header[c].clone(), message: format!("'{text}' is not allowed: use a finite number") }),
                }
            };
            for &c in &feature_at {
                table.x.push(number(c)?);
            }
            table.y.push(number(target_at)?);
        }
        if table.rows() == 0 {
            return Err(whole("data", "the table has a header but no rows".into()));
        }
        Ok(table)
    }

    /// An inline table: rows of features and the target (`x_1`, `x_2`, … unless named).
    pub fn inline(x: &[Vec<f64>], y: &[f64], names: Option<&[String]>) -> Result<Table, DataError> {
        let whole = |field: &str, message: String| DataError { line: None, field: field.into(), message };
        let d = x.first().map_or(0, Vec::len);
        if x.is_empty() || d == 0 {
            return Err(whole("x", "needs at least one row with at least one feature".into()));
        }
        if let Some(i) = x.iter().position(|r| r.len() != d) {
            return Err(whole("x", format!("row {i} has {} values, row 0 has {d}: every row needs the same features", x[i].len())));
        }
        if y.len() != x.len() {
            return Err(whole("y", format!("has {} values for {} rows of x", y.len(), x.len())));
        }
        if let Some(v) = x.iter().flatten().chain(y).find(|v| !v.is_finite()) {
            return Err(whole("x", format!("{v} is not allowed: use finite numbers")));
        }
        let features = match names {
            Some(n) if n.len() == d => n.to_vec(),
            Some(n) => return Err(whole("features", format!("names {} features but x has {d}", n.len()))),
            None => (1..=d).map(|j| format!("x_{j}")).collect(),
        };
        Ok(Table { features, x: x.concat(), y: y.to_vec() })
    }

    /// Each feature's mean and population std (scikit-learn's StandardScaler; 1 where the std
    /// is 0).
    pub fn scaling(&self) -> Scaling {
        let (m, d) = (self.rows() as f64, self.dim());
        let mean: Vec<f64> = (0..d).map(|j| (0..self.rows()).map(|i| self.row(i)[j]).sum::<f64>() / m).collect();
        let scale = (0..d)
            .map(|j| {
                let var = (0..self.rows()).map(|i| (self.row(i)[j] - mean[j]).powi(2)).sum::<f64>() / m;
                if var > 0.0 { var.sqrt() } else { 1.0 }
            })
            .collect();
        Scaling { mean, scale }
    }

    /// The table with its features standardised by `s`.
    pub fn standardized(&self, s: &Scaling) -> Table {
        let d = self.dim();
        let x = self.x.iter().enumerate().map(|(k, &v)| (v - s.mean[k % d]) / s.scale[k % d]).collect();
        Table { x, ..self.clone() }
    }

    /// The Hessian of the mean squared error of a linear model, 2·X̃ᵀX̃/m with X̃ = [X, 1]
    /// where `bias` (the bias last), else 2·XᵀX/m. Constant: the model is linear in its
    /// parameters.
    pub fn mse_hessian(&self, bias: bool) -> Vec<Vec<f64>> {
        let (m, d) = (self.rows(), self.dim());
        let n = d + bias as usize;
        let col = |i: usize, j: usize| if j < d { self.row(i)[j] } else { 1.0 };
        (0..n).map(|a| (0..n).map(|b| 2.0 * (0..m).map(|i| col(i, a) * col(i, b)).sum::<f64>() / m as f64).collect()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_csv_table_reads_its_features_and_target() {
        let text = "size,note,bedrooms,price\n1000,a,2,12\n2000,b,3,23\n3000,c,4,34\n";
        let t = Table::from_csv(text, Some(&names(&["size", "bedrooms"])), "price").unwrap();
        assert_eq!(t.features, ["size", "bedrooms"]);
        assert_eq!(t.x, [1000.0, 2.0, 2000.0, 3.0, 3000.0, 4.0]);
        assert_eq!(t.y, [12.0, 23.0, 34.0]);
        // Without a list: every column but the target, and a text column is refused by name.
        let e = Table::from_csv(text, None, "price").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(2), "note"));
        assert!(e.to_string().contains("'a' is not allowed: use a finite number"), "{e}");
    }

    #[test]
    fn bad_tables_say_where_and_what_is_allowed() {
        let err = |text: &str, f: Option<&[String]>, target: &str| Table::from_csv(text, f, target).unwrap_err();
        assert_eq!(err("a,b\n1,2\n3\n", None, "b").line, Some(3), "a short row");
        assert!(err("a,b\n1,2\n", None, "c").message.contains("no column 'c' (columns: a, b)"));
        assert!(err("a,b\n", None, "b").message.contains("no rows"));
        let e = err("a,b\n1,inf\n", None, "b");
        assert_eq!((e.line, e.field.as_str()), (Some(2), "b"));
        assert!(err("a,b\n1,2\n", Some(&names(&["a", "a"])), "b").message.contains("named twice"));
        assert!(err("a,b\n1,2\n", Some(&names(&["b"])), "b").message.contains("is the target"));
        assert!(err("b\n1\n", None, "b").message.contains("no feature columns"));
        assert!(Table::inline(&[vec![1.0], vec![1.0, 2.0]], &[1.0, 2.0], None).unwrap_err().message.contains("row 1 has 2 values"));
        assert!(Table::inline(&[vec![1.0]], &[1.0, 2.0], None).unwrap_err().message.contains("2 values for 1 rows"));
    }

    /// StandardScaler's numbers for the forum's second case (population std), and a constant
    /// column kept at scale 1.
    #[test]
    fn standardisation_is_standard_scalers() {
        let t = Table::inline(&[vec![1000.0, 2.0, 5.0], vec![2000.0, 3.0, 5.0], vec![3000.0, 4.0, 5.0]], &[12.0, 23.0, 34.0], None).unwrap();
        let s = t.scaling();
        assert_eq!(s.mean, [2000.0, 3.0, 5.0]);
        assert!((s.scale[0] - 816.496580927726).abs() < 1e-9 && (s.scale[1] - 0.816496580927726).abs() < 1e-15 && s.scale[2] == 1.0);
        let z = t.standardized(&s);
        let want = 1.224744871391589;
        assert!((z.row(0)[0] + want).abs() < 1e-14 && (z.row(2)[1] - want).abs() < 1e-14 && z.row(1)[0] == 0.0 && z.row(0)[2] == 0.0);
    }

    /// The forum's first regression: X = [1, 2, 3, 4] with a bias. 2X̃ᵀX̃/m = [[15, 5], [5, 2]],
    /// whose λ_max = (17 + √269)/2 gives GD's threshold 2/λ_max.
    #[test]
    fn the_mse_hessian_has_the_bias_column() {
        let t = Table::inline(&[vec![1.0], vec![2.0], vec![3.0], vec![4.0]], &[2.0, 3.8, 5.9, 7.8], None).unwrap();
        assert_eq!(t.mse_hessian(true), [[15.0, 5.0], [5.0, 2.0]]);
        assert_eq!(t.mse_hessian(false), [[15.0]]);
        let top = *crate::problem::linalg::symmetric_eigenvalues(t.mse_hessian(true)).last().unwrap();
        assert!((top - (17.0 + 269f64.sqrt()) / 2.0).abs() < 1e-12);
    }
}
