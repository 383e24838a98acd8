"""Writes fractal_272.csv, the data of configs/fractal_trainability.toml: N = 272 points (as
many as the 16 -> 16 -> 1 network has weights) with X (16 columns) and Y drawn from N(0, 1),
numpy's default_rng(0), every value as the shortest text that reads back to it.
Run: python3 configs/data/fractal_272.py (needs numpy)."""
import pathlib
import numpy as np

rng = np.random.default_rng(0)
X = rng.standard_normal((272, 16))
Y = rng.standard_normal(272)
out = pathlib.Path(__file__).with_name("fractal_272.csv")
with open(out, "w") as f:
    f.write(",".join([f"x{i}" for i in range(16)] + ["y"]) + "\n")
    for row, y in zip(X, Y):
        f.write(",".join(repr(float(v)) for v in [*row, y]) + "\n")
