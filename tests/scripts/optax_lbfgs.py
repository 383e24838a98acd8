"""The reference iterates of tests/lbfgs.rs: optax.lbfgs() (memory 10, zoom line search) in f64
on Σx² from (1, 2, 3), Rosenbrock from (-1.2, 1) and the forum matrix from 0, printed as the
Rust constants the test holds. Needs jax and optax (pip install jax optax); the test itself does
not: run this to regenerate the constants after an optax release changes its iterates.

    python tests/scripts/optax_lbfgs.py
"""
import jax
import jax.numpy as jnp
import optax

jax.config.update("jax_enable_x64", True)


def iterates(f, x0, n):
    opt = optax.lbfgs()
    x = jnp.array(x0, dtype=jnp.float64)
    state = opt.init(x)
    value_and_grad = optax.value_and_grad_from_state(f)
    out = [([float(v) for v in x], 0)]
    for _ in range(n):
        value, grad = value_and_grad(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        x = optax.apply_updates(x, updates)
        out.append(([float(v) for v in x], int(optax.tree_utils.tree_get(state, "num_linesearch_steps"))))
    return out


A = jnp.array([[-249.69, -4.1511], [-4.1511, -0.20755]])
B = jnp.array([0.0, 10.0])
CASES = [
    ("SUM_OF_SQUARES", lambda x: jnp.sum(x**2), [1.0, 2.0, 3.0], 2),
    ("ROSENBROCK", lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2, [-1.2, 1.0], 20),
    ("FORUM", lambda x: jnp.sum((A @ x - B) ** 2), [0.0, 0.0], 3),
]

print(f"// optax {optax.__version__}, jax {jax.__version__}: (x_k, line-search steps of step k)")
for name, f, x0, n in CASES:
    rows = iterates(f, x0, n)
    d = len(x0)
    print(f"const {name}: [([f64; {d}], u32); {n + 1}] = [")
    for x, steps in rows:
        print(f"    ([{', '.join(repr(v) for v in x)}], {steps}),")
    print("];")
