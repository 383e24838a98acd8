#!/usr/bin/env bash
# Runs every shipped config (configs/*.toml) on both backends with two builds of gdsweep and
# diffs every output file byte for byte: runs.csv, thresholds.csv, basins.csv, map.csv,
# map_grid.csv, trajectories.csv, map.png, trajectories.png, and manifest.json without its
# times (wall_seconds, *_per_second, finished_unix_time, threshold.seconds) and the sweep's identity
# (sweep, resumed_chunks, config.output: new in issue 10).
#
#   tests/scripts/same_outputs.sh [BEFORE] [AFTER]
#
# BEFORE and AFTER are each a git revision (built in a temporary worktree) or a path to a
# gdsweep binary. BEFORE defaults to 62f46cb (the last commit before the redesign of issue 8),
# AFTER to this checkout (built with `cargo build --release`). Needs lavapipe or a GPU for the
# gpu backend; BACKENDS="cpu" limits it. Exit 0 when every file is identical.
set -euo pipefail
cd "$(dirname "$0")/../.."
before=${1:-62f46cb}
after=${2:-.}
backends=${BACKENDS:-cpu gpu}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/src-before" 2>/dev/null || true; git worktree remove --force "$work/src-after" 2>/dev/null || true; rm -rf "$work"' EXIT

binary() { # $1: revision, path to a binary, or "." for this checkout; $2: label
  if [ "$1" = "." ]; then
    cargo build --release -q && echo "$PWD/target/release/gdsweep"
  elif [ -x "$1" ] && [ -f "$1" ]; then
    echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  else
    git worktree add -q --detach "$work/src-$2" "$1" >&2
    (cd "$work/src-$2" && cargo build --release -q --target-dir "${TARGET_CACHE:-$work/target-$2}") >&2
    echo "${TARGET_CACHE:-$work/target-$2}/release/gdsweep"
  fi
}

old=$(binary "$before" before)
new=$(binary "$after" after)
strip_times() {
  python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
for k in ("wall_seconds", "config_steps_per_second", "steps_taken_per_second", "finished_unix_time", "sweep", "resumed_chunks"):
    m.pop(k, None)
if isinstance(m.get("config"), dict):
    m["config"].pop("output", None)
if isinstance(m.get("threshold"), dict):
    m["threshold"].pop("seconds", None)
print(json.dumps(m, indent=1, sort_keys=True))' "$1"
}

fail=0
files=0
for config in configs/*.toml; do
  name=$(basename "$config" .toml)
  for b in $backends; do
    for side in old new; do
      bin=$old; [ $side = new ] && bin=$new
      "$bin" run "$config" --backend "$b" --out "$work/$side/$name-$b" --force --quiet >/dev/null
    done
    for f in "$work/old/$name-$b"/*; do
      base=$(basename "$f")
      g="$work/new/$name-$b/$base"
      files=$((files + 1))
      if [ ! -e "$g" ]; then
        echo "MISSING $name-$b/$base"; fail=1
      elif [ "$base" = manifest.json ]; then
        if ! diff -q <(strip_times "$f") <(strip_times "$g") >/dev/null; then
          echo "DIFFERS $name-$b/$base"; diff <(strip_times "$f") <(strip_times "$g") | head -20; fail=1
        fi
      elif ! cmp -s "$f" "$g"; then
        echo "DIFFERS $name-$b/$base"; fail=1
      fi
    done
    extra=$(comm -13 <(ls "$work/old/$name-$b") <(ls "$work/new/$name-$b"))
    [ -z "$extra" ] || { echo "EXTRA $name-$b: $extra"; fail=1; }
  done
done
if [ $fail = 0 ]; then echo "same_outputs: all $files files identical ($backends)"; else echo "same_outputs: outputs differ"; fi
exit $fail
