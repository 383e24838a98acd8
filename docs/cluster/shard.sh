#!/usr/bin/env bash
# One shard of a gdsweep sweep, as one task of a job array (README "Clusters").
#
#   docs/cluster/shard.sh CONFIG ROOT
#
# Runs shard I of N of CONFIG into ROOT/shard-I, where I and N come from the scheduler:
#   Slurm job array:          SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT (set by sbatch --array)
#   Kubernetes Indexed Job:   JOB_COMPLETION_INDEX (set by the Job), SHARDS (set in its env)
# With --resume, a task that was preempted or requeued goes on from its last complete chunk,
# and a task that already finished does nothing. When every task is done:
#   gdsweep merge ROOT/shard-* --out results/NAME
# GDSWEEP names the binary (default: gdsweep on PATH); GDSWEEP_BACKEND picks the backend
# (default: the config's, else auto).
set -euo pipefail
config=${1:?usage: shard.sh CONFIG ROOT}
root=${2:?usage: shard.sh CONFIG ROOT}
index=${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:?neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set: run this as a task of a job array}}
count=${SLURM_ARRAY_TASK_COUNT:-${SHARDS:?set SHARDS to the number of shards (the number of completions of the Job)}}
backend=()
if [ -n "${GDSWEEP_BACKEND:-}" ]; then backend=(--backend "$GDSWEEP_BACKEND"); fi
exec "${GDSWEEP:-gdsweep}" run "$config" --shard "$index/$count" --resume --out "$root/shard-$index" --quiet "${backend[@]}"
