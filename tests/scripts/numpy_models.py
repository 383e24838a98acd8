"""Reference numbers for tests/models.rs, computed with numpy as a user would.

seed001: the forum's regression X = [[1,1],[1,2],[1,3],[1,4]] (a bias column and one feature),
y = [2, 3.8, 5.9, 7.8], mean squared error, w from 0, lr 0.01, 1000 steps of full-batch GD:
w <- w - lr * (2/n) X^T (X w - y). Prints the final [w_x, b] (gdsweep's order: weights, bias).

seed003: X = [[1000,2],[2000,3],[3000,4]], y = [12, 23, 34] with a bias: GD's threshold 2/lambda_max
of the MSE Hessian 2 X~^T X~ / n (X~ = [X, 1]), raw and standardised (StandardScaler: population
std). Prints one JSON line.
"""
import json
import numpy as np

X = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0], [1.0, 4.0]])
y = np.array([2.0, 3.8, 5.9, 7.8])
w = np.zeros(2)
for _ in range(1000):
    w = w - 0.01 * (2.0 / len(y)) * X.T @ (X @ w - y)
seed001 = [w[1], w[0]]

F = np.array([[1000.0, 2.0], [2000.0, 3.0], [3000.0, 4.0]])
def threshold(features):
    Xt = np.hstack([features, np.ones((len(features), 1))])
    H = 2.0 * Xt.T @ Xt / len(features)
    return 2.0 / np.linalg.eigvalsh(H).max()
Z = (F - F.mean(axis=0)) / F.std(axis=0)
print(json.dumps({"seed001": seed001, "seed003_raw": threshold(F), "seed003_standardized": threshold(Z)}))
