//! The small dense linear algebra of the analyses: eigenvalues of Hessians (a few variables).

/// Eigenvalues of a symmetric matrix, ascending (cyclic Jacobi rotations).
pub fn symmetric_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i][j] * a[i][j]).sum();
        let diag: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum();
        if off <= 1e-30 * diag.max(1e-300) || !off.is_finite() {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                // The smaller root of t² + 2θt − 1 = 0, tan of the rotation angle.
                let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..n).map(|i| a[i][i]).collect();
    ev.sort_by(|x, y| x.total_cmp(y));
    ev
}

/// What a stationary point is, from its Hessian's eigenvalues (ascending): `minimum` if all
/// are > ε, `maximum` if all < −ε, `saddle` if some are > ε and some < −ε, else `degenerate`;
/// ε = 1e-8·max(1, max|λ|).
pub fn point_kind(eigenvalues: &[f64]) -> &'static str {
    let top = eigenvalues.iter().fold(0f64, |m, v| m.max(v.abs()));
    let eps = 1e-8 * top.max(1.0);
    let (pos, neg) = (eigenvalues.iter().any(|&v| v > eps), eigenvalues.iter().any(|&v| v < -eps));
    if eigenvalues.iter().all(|&v| v > eps) {
        "minimum"
    } else if eigenvalues.iter().all(|&v| v < -eps) {
        "maximum"
    } else if pos && neg {
        "saddle"
    } else {
        "degenerate"
    }
}
