#!/usr/bin/env bash
# Re-draw the gallery from the shipped configs (CPU backend, so the pictures do not depend on a
# GPU): each config's map.png lands here under the config's name, its trajectories.png (if any)
# as <name>_paths.png, its sharpness.png (if any) as <name>_sharpness.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q
for c in forum_lr_threshold forum_two_learning_rates double_well shifted_double_well himmelblau_basins \
         sincos_basins ill_conditioned sigmoid_stall edge_of_stability rosenbrock_methods himmelblau_newton forum_methods \
         fractal_trainability; do
  target/release/gdsweep run "configs/$c.toml" --backend cpu --out "results/$c" --force --quiet
  if [ -e "results/$c/map.png" ]; then cp "results/$c/map.png" "docs/gallery/$c.png"; fi
  if [ -e "results/$c/trajectories.png" ]; then cp "results/$c/trajectories.png" "docs/gallery/${c}_paths.png"; fi
  if [ -e "results/$c/sharpness.png" ]; then cp "results/$c/sharpness.png" "docs/gallery/${c}_sharpness.png"; fi
done
