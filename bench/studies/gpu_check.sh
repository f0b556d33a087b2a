#!/usr/bin/env bash
# GPU checks (`make perf-gpu`): on a machine with a CUDA GPU, a full large-profile sweep
# (every strategy x 8 LRs x 5 seeds, 7-1024-128-7, the original network's sizes) and
# `bench perf` on the large profile, then a short table in results/perf-gpu.md. Needs a
# Python with jax[cuda] (pip install -e '.[cuda]') and, for the PyTorch rows, a CUDA torch;
# set PY to choose the interpreter.
#   SWEEP_TIMEOUT / PERF_TIMEOUT (seconds) bound each part; RESULTS picks the output folder;
#   SWEEP_ARGS / PERF_ARGS are appended to the two commands (e.g. "--set steps=100").
set -uo pipefail
cd "$(dirname "$0")/../.."  # the repository root (this is bench/studies/gpu_check.sh)
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
RESULTS=${RESULTS:-results}
SWEEP_TIMEOUT=${SWEEP_TIMEOUT:-600}
PERF_TIMEOUT=${PERF_TIMEOUT:-300}
LRS=${LRS:-1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2}
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$PWD/.cache/jax}
export PYTHONUNBUFFERED=1
mkdir -p "$RESULTS"
card=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
echo "card: ${card:-none found}"
$PY -c "import jax; print('jax', jax.__version__, jax.devices())"

t0=$(date +%s)
timeout "$SWEEP_TIMEOUT" $PY -m bench run --profile large --strategies all --lrs "$LRS" \
  --seeds 5 --out "$RESULTS/large-gpu" --no-progress --no-report ${SWEEP_ARGS:-}
sweep_rc=$?
t1=$(date +%s)
$PY -m bench report "$RESULTS/large-gpu" || true
t2=$(date +%s)
timeout "$PERF_TIMEOUT" $PY -m bench perf --profile large --steps 10 --repeats 3 \
  --only engine-sweep,engine-single,torch-custom,torch-fused --out "$RESULTS/perf-gpu-perf.md" \
  ${PERF_ARGS:-}
t3=$(date +%s)

$PY - "$RESULTS" "$card" "$sweep_rc" "$((t1 - t0))" "$((t3 - t2))" <<'PY'
import json, sys
from pathlib import Path

import pandas as pd

from bench.summary import summarize

results, card, rc, sweep_s, perf_s = sys.argv[1:6]
root = Path(results)
lines = ["# GPU checks (`make perf-gpu`)", "", f"- card: {card or 'none found'}"]
runs = root / "large-gpu" / "runs.parquet"
if runs.exists():
    df = pd.read_parquet(runs)
    env = json.loads((root / "large-gpu" / "sweep.json").read_text())["environment"]
    lines += [f"- device (JAX): {env['device']}, jax {env['jax']}",
              f"- large-profile sweep: {df['strategy'].nunique()} strategies, {len(df)} runs "
              f"({df['lr'].nunique()} LRs x {df['seed'].nunique()} seeds), "
              f"{int(sweep_s)} s wall (exit status {rc}; 124 = cut by SWEEP_TIMEOUT)",
              f"- perf: {int(perf_s)} s", "", "## Sweep summary", ""]
    t = summarize(df)
    cols = [c for c in ("strategy", "max_usable_lr", "best_ratio_median", "best_lr",
                        "divergence_rate", "nan_rate_init") if c in t.columns]
    lines += ["```", t[cols].to_string(index=False), "```", ""]
perf = root / "perf-gpu-perf.md"
if perf.exists():
    lines += ["## Throughput (`bench perf --profile large`)", "", perf.read_text()]
text = "\n".join(lines) + "\n"
(root / "perf-gpu.md").write_text(text)
print(text)
PY
