#!/usr/bin/env bash
# Times how long the GPU backend takes to compile the sweep shader as the objective grows: one
# run of one step of a sum of K terms sin(i·x + c·y)·w, `gdsweep run -b gpu`, minus the same for
# K = 1 (process start, adapter, a tiny shader). Prints the step graph's operations (from
# `gdsweep plan`) and the seconds: the data behind backend::gpu::compile_seconds_estimate.
#
#   tests/scripts/compile_time.sh [GDSWEEP] [K...]     (default: target/release/gdsweep 200 400 800 1600)
# (K ≤ 2000: a flat sum of more terms is refused, see README "Config".)
set -euo pipefail
# Mesa keeps compiled shaders in ~/.cache/mesa_shader_cache: a second run of one shader does
# not compile it again. Time the first.
export MESA_SHADER_CACHE_DISABLE=true
bin=${1:-target/release/gdsweep}
shift || true
sizes=${*:-200 400 800 1600}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
config() { # $1: K
  python3 - "$1" > "$work/c$1.toml" <<'PY'
import sys
k = int(sys.argv[1])
terms = " + ".join(f"sin({i}*x + {i % 7 + 1}*y)*{1 + i % 3}" for i in range(1, k + 1))
print(f'name = "c{k}"\n[objective]\nexpr = "{terms}"\n[sweep]\nlr = 0.001\n[run]\nsteps = 1\n')
PY
}
seconds() { # $1: K
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" run "$work/c$1.toml" -b gpu -q --out "$work/out" --force
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
config 1
base=$(seconds 1)
echo "ops seconds"
for k in $sizes; do
  config "$k"
  ops=$("$bin" plan "$work/c$k.toml" | sed -n 's/^shader: \([0-9]*\) operations.*/\1/p')
  echo "$ops $(echo "$(seconds "$k") - $base" | bc)"
done
