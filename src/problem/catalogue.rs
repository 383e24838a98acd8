//! The built-in objectives: every function of the forum cases and the classic test functions.
//!
//! Each entry is an expression in the same language users write, plus its known minima, so the
//! catalogue goes through exactly the same path (graph, symbolic derivatives, code generation)
//! as a user's `expr`. Sources for the test functions: Jamil & Yang, "A literature survey of
//! benchmark functions for global optimization problems" (2013), and the Virtual Library of
//! Simulation Experiments (Surjanovic & Bingham, sfu.ca/~ssurjano).

use crate::problem::expr::Objective;

/// The forum matrix of the case that started gdsweep (README).
pub const FORUM_A: [[f64; 2]; 2] = [[-249.69, -4.1511], [-4.1511, -0.20755]];
pub const FORUM_B: [f64; 2] = [0.0, 10.0];

pub struct Entry {
    pub name: &'static str,
    /// The expression (for `forum_lstsq`, the expanded form of ||Ax − b||²).
    pub expr: &'static str,
    pub vars: &'static [&'static str],
    pub about: &'static str,
    /// Known local minima: (point, loss). Empty where the function has none (softplus).
    pub minima: &'static [(&'static [f64], f64)],
}

const XY: &[&str] = &["x", "y"];
const X: &[&str] = &["x"];

pub const CATALOGUE: &[Entry] = &[
    Entry {
        name: "forum_lstsq",
        expr: "(-249.69*x - 4.1511*y)^2 + (-4.1511*x - 0.20755*y - 10)^2",
        vars: XY,
        about: "||Ax - b||^2 with the forum matrix A = [[-249.69, -4.1511], [-4.1511, -0.20755]], b = [0, 10]; GD is stable iff lr < 1/sigma_max(A)^2 = 1.6030886e-5",
        minima: &[(&[1.200_033_709_178_45, -72.182_413_539_728_56], 0.0)],
    },
    Entry {
        name: "ill_conditioned",
        expr: "x^2 + 1e6*y^2",
        vars: XY,
        about: "condition number 1e6: GD must use lr < 1e-6 and then crawls along x",
        minima: &[(&[0.0, 0.0], 0.0)],
    },
    Entry {
        name: "near_isotropic",
        expr: "x^2 + y^2 + 1e-10*x*y",
        vars: XY,
        about: "an almost perfectly conditioned bowl with a tiny coupling term",
        minima: &[(&[0.0, 0.0], 0.0)],
    },
    Entry {
        name: "sincos",
        expr: "sin(x) + cos(y)",
        vars: XY,
        about: "periodic landscape: minima at (-pi/2 + 2k pi, pi + 2m pi), value -2",
        minima: &[(&[-std::f64::consts::FRAC_PI_2, std::f64::consts::PI], -2.0)],
    },
    Entry {
        name: "double_well",
        expr: "x^4 - 5*x^2 + 3*x",
        vars: X,
        about: "global minimum near -1.7139, local minimum near 1.4018, local maximum near 0.3122",
        minima: &[(&[-1.713_939_436_185_370_8], -11.200_334_708_695_66), (&[1.401_771_247_841_298_7], -1.758_421_270_543_453_7)],
    },
    Entry {
        name: "shifted_double_well",
        expr: "(x - 2)^4 - 4*(x - 2)^2 + 5",
        vars: X,
        about: "two equal minima at 2 +- sqrt(2), local maximum at 2",
        minima: &[(&[0.585_786_437_626_904_9], 1.0), (&[3.414_213_562_373_095], 1.0)],
    },
    Entry {
        name: "shifted_parabola",
        expr: "(x - 2)^2 + 1",
        vars: X,
        about: "the simplest bowl: GD is stable iff lr < 1",
        minima: &[(&[2.0], 1.0)],
    },
    Entry {
        name: "sigmoid_mse",
        expr: "0.5*(sigmoid(x) - 0.8)^2",
        vars: X,
        about: "squared error of a sigmoid unit: gradients vanish where the sigmoid saturates",
        minima: &[(&[1.386_294_361_119_890_6], 0.0)],
    },
    Entry {
        name: "softplus",
        expr: "softplus(x)",
        vars: X,
        about: "sigmoid cross-entropy with target 0: no minimum, the gradient vanishes as x -> -inf",
        minima: &[],
    },
    Entry {
        name: "rosenbrock",
        expr: "(1 - x)^2 + 100*(y - x^2)^2",
        vars: XY,
        about: "Rosenbrock's banana valley",
        minima: &[(&[1.0, 1.0], 0.0)],
    },
    Entry {
        name: "himmelblau",
        expr: "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        vars: XY,
        about: "four minima of value 0",
        minima: &[
            (&[3.0, 2.0], 0.0),
            (&[-2.805_118_086_952_745, 3.131_312_518_250_573], 0.0),
            (&[-3.779_310_253_377_747, -3.283_185_991_286_17], 0.0),
            (&[3.584_428_340_330_492, -1.848_126_526_964_404], 0.0),
        ],
    },
    Entry {
        name: "rastrigin",
        expr: "20 + x^2 - 10*cos(2*pi*x) + y^2 - 10*cos(2*pi*y)",
        vars: XY,
        about: "Rastrigin (2-D): a grid of local minima around the global one at the origin",
        minima: &[(&[0.0, 0.0], 0.0)],
    },
    Entry {
        name: "beale",
        expr: "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
        vars: XY,
        about: "Beale: flat valleys and steep walls",
        minima: &[(&[3.0, 0.5], 0.0)],
    },
    Entry {
        name: "booth",
        expr: "(x + 2*y - 7)^2 + (2*x + y - 5)^2",
        vars: XY,
        about: "Booth: a quadratic bowl",
        minima: &[(&[1.0, 3.0], 0.0)],
    },
    Entry {
        name: "matyas",
        expr: "0.26*(x^2 + y^2) - 0.48*x*y",
        vars: XY,
        about: "Matyas: a flat, correlated quadratic",
        minima: &[(&[0.0, 0.0], 0.0)],
    },
    Entry {
        name: "three_hump_camel",
        expr: "2*x^2 - 1.05*x^4 + x^6/6 + x*y + y^2",
        vars: XY,
        about: "three-hump camel: one global and two local minima",
        minima: &[(&[0.0, 0.0], 0.0)],
    },
    Entry {
        name: "styblinski_tang",
        expr: "0.5*(x^4 - 16*x^2 + 5*x + y^4 - 16*y^2 + 5*y)",
        vars: XY,
        about: "Styblinski-Tang (2-D)",
        minima: &[(&[-2.903_534_027_771_178_3, -2.903_534_027_771_178_3], -78.332_331_407_542_82)],
    },
    Entry {
        name: "ackley",
        expr: "-20*exp(-0.2*sqrt(0.5*(x^2 + y^2))) - exp(0.5*(cos(2*pi*x) + cos(2*pi*y))) + 2.718281828459045 + 20",
        vars: XY,
        about: "Ackley (2-D): nearly flat outer region, many local minima; not differentiable at the origin itself",
        minima: &[],
    },
];

pub fn find(name: &str) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|e| e.name == name)
}

pub fn names() -> Vec<&'static str> {
    CATALOGUE.iter().map(|e| e.name).collect()
}

impl Entry {
    pub fn objective(&self) -> Objective {
        let vars: Vec<String> = self.vars.iter().map(|s| s.to_string()).collect();
        Objective::from_expr(self.expr, Some(&vars)).expect("catalogue expressions parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minima_are_stationary_with_the_stated_loss() {
        for e in CATALOGUE {
            let o = e.objective();
            for (p, v) in e.minima {
                let g = o.grad_f64(p);
                let gn = g.iter().map(|x| x * x).sum::<f64>().sqrt();
                assert!(gn < 1e-6, "{}: gradient {g:?} at {p:?}", e.name);
                let l = o.loss_f64(p);
                assert!((l - v).abs() < 1e-6 * (1.0 + v.abs()), "{}: loss {l} != {v}", e.name);
                let h = o.hessian_f64(p);
                assert!(h.iter().enumerate().all(|(i, r)| r[i] >= 0.0), "{}: Hessian {h:?}", e.name);
            }
        }
    }

    #[test]
    fn forum_entry_matches_the_matrix() {
        let a: Vec<Vec<f64>> = FORUM_A.iter().map(|r| r.to_vec()).collect();
        let m = Objective::least_squares(&a, &FORUM_B, Objective::default_vars(2));
        let e = find("forum_lstsq").unwrap().objective();
        for p in [[0.0, 0.0], [1.0, -3.0], [0.3, 70.0]] {
            let (l1, l2) = (m.loss_f64(&p), e.loss_f64(&p));
            assert!((l1 - l2).abs() <= 1e-9 * l1.abs().max(1.0), "{l1} vs {l2}");
        }
    }
}
