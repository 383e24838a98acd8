//! The small dense linear algebra of the analyses: eigenvalues of Hessians and Newton steps
//! (a few variables).

/// Eigenvalues of a symmetric matrix, ascending (cyclic Jacobi rotations).
pub fn symmetric_eigenvalues(a: Vec<Vec<f64>>) -> Vec<f64> {
    symmetric_eigen(a).0
}

/// Eigenvalues of a symmetric matrix, ascending, and their unit eigenvectors in the same order
/// (cyclic Jacobi rotations, accumulated; Golub & Van Loan, Matrix Computations §8.5).
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    // Columns of v are the eigenvectors: v ← v·J for every rotation J.
    let mut v: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
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
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i][i].total_cmp(&a[j][j]));
    let values = order.iter().map(|&i| a[i][i]).collect();
    let vectors = order.iter().map(|&i| v.iter().map(|row| row[i]).collect()).collect();
    (values, vectors)
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

/// The solution of a·x = b (Gaussian elimination with partial pivoting); None where a is
/// singular to working precision.
pub fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = a.iter().flatten().fold(0f64, |m, v| m.max(v.abs()));
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if !(a[p][c].abs() > 1e-14 * scale) {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_eigenvalues() {
        let ev = symmetric_eigenvalues(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12, "{ev:?}");
        let ev = symmetric_eigenvalues(vec![vec![4.0, 1.0, 0.5], vec![1.0, -3.0, 0.2], vec![0.5, 0.2, 1.0]]);
        let trace: f64 = ev.iter().sum();
        assert!((trace - 2.0).abs() < 1e-10);
        assert!(ev[0] < 0.0 && ev[2] > 4.0, "{ev:?}");
        assert_eq!(symmetric_eigenvalues(vec![vec![-5.0]]), vec![-5.0]);
    }

    #[test]
    fn jacobi_eigenvectors() {
        let a = vec![vec![4.0, 1.0, 0.5], vec![1.0, -3.0, 0.2], vec![0.5, 0.2, 1.0]];
        let (values, vectors) = symmetric_eigen(a.clone());
        for (l, v) in values.iter().zip(&vectors) {
            let norm: f64 = v.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-12);
            for i in 0..3 {
                let av: f64 = (0..3).map(|j| a[i][j] * v[j]).sum();
                assert!((av - l * v[i]).abs() < 1e-10, "A·v ≠ λ·v for λ = {l}");
            }
        }
    }

    #[test]
    fn solve_needs_pivoting_and_refuses_singular() {
        let x = solve(vec![vec![0.0, 2.0], vec![3.0, 1.0]], vec![4.0, 5.0]).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-15 && (x[1] - 2.0).abs() < 1e-15, "{x:?}");
        assert_eq!(solve(vec![vec![1.0, 2.0], vec![2.0, 4.0]], vec![1.0, 1.0]), None);
    }
}
