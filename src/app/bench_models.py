"""JAX peers of gdsweep's model workloads W3 and W4 (src/app/bench.rs builds the same data):
jit of one fori_loop over steps on arrays whose last axis is the run (batch-first, full batch),
f32. Prints one JSON line like ../shared/peers/lstsq_sweep.py: peer, seconds (compute only,
compilation excluded), config_steps_per_s.

W3: linear regression with a bias on 1000 rows x 8 features, MSE, GD, runs = 256 learning rates
    log-spaced in [1e-3, 1] x (runs/256) initial biases in [-1, 1], weights from 0.
W4: the fractal paper's network (16 -> 16 -> 1, tanh, no biases, mean-field) on 272 rows x 16,
    MSE, GD with per-layer learning rates on a side x side log grid over [0.1, 10]^2, weights
    from a fixed N(0, 1) draw.

usage: python bench_models.py w3 RUNS STEPS | w4 SIDE STEPS
"""
import json, math, sys, time
import numpy as np


def w3_data():
    x = np.array([[math.sin(1.3 * i + 0.7 * j + 0.01 * i * j) for j in range(8)] for i in range(1000)])
    y = np.array([sum(0.1 * (j + 1) * x[i, j] for j in range(8)) + 0.05 * math.sin(3.0 * i) for i in range(1000)])
    return x, y


def w4_data():
    x = np.array([[math.sin(0.37 * (16 * i + j)) * 1.5 for j in range(16)] for i in range(272)])
    y = np.array([math.cos(0.7 * i) for i in range(272)])
    return x, y


def w3(runs, steps):
    import jax, jax.numpy as jnp
    x, y = w3_data()
    xt = jnp.asarray(np.hstack([x, np.ones((len(y), 1))]), jnp.float32)  # (m, 9)
    yy = jnp.asarray(y, jnp.float32)[:, None]
    n_init = runs // 256
    lr = np.repeat(np.logspace(-3, 0, 256), n_init).astype(np.float32)
    b0 = np.tile(np.linspace(-1, 1, n_init), 256).astype(np.float32)
    w0 = np.zeros((9, runs), np.float32)
    w0[8] = b0
    m = float(len(y))

    @jax.jit
    def sweep(w, lr):
        def body(_, w):
            r = xt @ w - yy  # (m, runs)
            return w - lr * (2.0 / m) * (xt.T @ r)
        return jax.lax.fori_loop(0, steps, body, w)

    sweep(jnp.asarray(w0), jnp.asarray(lr)).block_until_ready()
    t = time.perf_counter()
    sweep(jnp.asarray(w0), jnp.asarray(lr)).block_until_ready()
    return time.perf_counter() - t, runs


def w4(side, steps):
    import jax, jax.numpy as jnp
    x, y = w4_data()
    xx = jnp.asarray(x, jnp.float32)
    yy = jnp.asarray(y, jnp.float32)[:, None]
    rng = np.random.default_rng(0)
    w1 = jnp.asarray(np.repeat(rng.standard_normal((16, 16, 1)), side * side, axis=2), jnp.float32)  # (in, out, runs)
    w2 = jnp.asarray(np.repeat(rng.standard_normal((16, 1)), side * side, axis=1), jnp.float32)  # (in, runs)
    g = np.logspace(-1, 1, side)
    lr1 = jnp.asarray(np.repeat(g, side), jnp.float32)
    lr2 = jnp.asarray(np.tile(g, side), jnp.float32)

    def loss(w1, w2):
        z1 = jnp.einsum("mi,ior->mor", xx, w1) / 4.0
        a = jnp.tanh(z1 * jnp.sqrt(2.0))
        out = jnp.einsum("mir,ir->mr", a, w2) / 4.0 / 4.0
        return jnp.sum(jnp.mean((out - yy) ** 2, axis=0))  # runs are independent: the sum's gradient is each run's

    grad = jax.grad(loss, argnums=(0, 1))

    @jax.jit
    def sweep(w1, w2):
        def body(_, s):
            g1, g2 = grad(*s)
            return s[0] - lr1 * g1, s[1] - lr2 * g2
        return jax.lax.fori_loop(0, steps, body, (w1, w2))

    jax.block_until_ready(sweep(w1, w2))
    t = time.perf_counter()
    jax.block_until_ready(sweep(w1, w2))
    return time.perf_counter() - t, side * side


if __name__ == "__main__":
    which, size, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seconds, runs = (w3 if which == "w3" else w4)(size, steps)
    print(json.dumps({"peer": f"jax_batched_{which}", "seconds": seconds, "config_steps_per_s": runs * steps / seconds}))
