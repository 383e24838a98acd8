"""Reference trainability records for tests/trainability.rs, computed with numpy in f64 as the
notebook of Sohl-Dickstein, "The boundary of neural network trainability is fractal" (2024)
computes them: the mean-field network `net`, full-batch GD with one learning rate per layer,
the losses before each update, and `convergence_measure`.

Reads one JSON object from stdin: X (rows x 16), Y (rows), W1 (16 x 16), W2 (16), steps and
pairs [[lr_input, lr_output], ...]. Prints, per pair, [trained, measure, sum_v, sum_inv_v,
tail_mean].

One change from the notebook, the one gdsweep documents (outcome::Trainability): a non-finite
loss counts as the cap *after* the division by L_0 (the notebook replaces it before dividing,
and its `v*fin` makes an infinite loss NaN).
"""
import json
import sys
import numpy as np

spec = json.load(sys.stdin)
X = np.array(spec["X"], dtype=np.float64)
Y = np.array(spec["Y"], dtype=np.float64)[:, None]
W1 = np.array(spec["W1"], dtype=np.float64)
W2 = np.array(spec["W2"], dtype=np.float64)[:, None]
steps = spec["steps"]
MAX_VAL = 1e6


def loss_and_grads(w1, w2):
    n1, n2 = w1.shape[0], w2.shape[0]
    z1 = X @ w1 / np.sqrt(n1)
    a1 = np.tanh(z1 * np.sqrt(2.0))
    z2 = a1 @ w2 / np.sqrt(n2)
    out = z2 / np.sqrt(n2)
    r = out - Y
    loss = np.mean(r ** 2)
    d_out = 2.0 * r / r.size
    d_z2 = d_out / np.sqrt(n2)
    g2 = a1.T @ d_z2 / np.sqrt(n2)
    d_a1 = d_z2 @ w2.T / np.sqrt(n2)
    d_z1 = d_a1 * (1.0 - a1 ** 2) * np.sqrt(2.0)
    g1 = X.T @ d_z1 / np.sqrt(n1)
    return loss, g1, g2


def measure(lr1, lr2):
    w1, w2 = W1.copy(), W2.copy()
    losses = []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            loss, g1, g2 = loss_and_grads(w1, w2)
            losses.append(loss)
            w1 = w1 - lr1 * g1
            w2 = w2 - lr2 * g2
        v = np.array(losses) / losses[0]
        v = np.where(np.isfinite(v), np.minimum(v, MAX_VAL), MAX_VAL)
    tail = float(np.mean(v[-20:]))
    trained = tail < 1
    value = -np.sum(v) if trained else np.sum(1 / v)
    return [bool(trained), float(value), float(np.sum(v)), float(np.sum(1 / v)), tail]


print(json.dumps([measure(a, b) for a, b in spec["pairs"]]))
