#!/usr/bin/env bash
# The prepared CUDA check (issue 40): on a fresh CUDA machine, within about ten minutes, install the
# GPU build, run the README's first command, the engine benchmark at n=8 and n=64, a quick
# calibration, the replay table at 4x4, and the checkpoint engine tests (special-token tags, stop
# restoring, the served tokenizer on `vllm serve`), and write one report. No CUDA run has been seen
# from this project yet: run it whenever a GPU is at hand, and quote the report with its card.
#
#   bash benchmarks/gpu_check.sh [REPORT_DIR]      (default: $OUT, else results/gpu_check)
#
# Each step has its own time limit and its exit status goes into the report; a failed step does not
# stop the others.
set -uo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-${OUT:-results/gpu_check}}"
mkdir -p "$DIR"
REPORT="$DIR/report.md"
PY=.venv/bin/python
: > "$REPORT"

say() { printf '%s\n' "$*" | tee -a "$REPORT"; }

step() {  # step NAME SECONDS CMD...: run with a limit, keep its output, record status and time
  local name=$1 limit=$2; shift 2
  local log="$DIR/$name.log" t0=$SECONDS
  timeout "$limit" "$@" > "$log" 2>&1
  local rc=$?
  say "## $name"
  say "command: \`$*\` — exit $rc in $((SECONDS - t0)) s (limit ${limit} s)"
  say '```'
  tail -n 25 "$log" >> "$REPORT"
  say '```'
}

say "# mplm-bench GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)"
say '```'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$REPORT" >/dev/null
say '```'
if ! nvidia-smi -L >/dev/null 2>&1; then
  say "no CUDA device (nvidia-smi failed): this script is for a GPU machine"
  exit 1
fi

step setup 420 make setup EXTRA=gpu
step first-command 180 "$PY" -m mplm_bench.cli run --task sudoku --strategy mplm -T size=4 --out "$DIR/runs"
step engine-n8 240 "$PY" benchmarks/engine.py --n 8 --size 4
step engine-n64 300 "$PY" benchmarks/engine.py --n 64 --size 4
step calibrate 240 "$PY" -m mplm_bench.cli calibrate --out "$DIR/gpu.yaml" --quick
step replay 300 "$PY" benchmarks/replay.py --n 3 --size 4 --quick
step checkpoint-tests 300 "$PY" -m pytest -q tests/engine/test_engine_checkpoints.py
say "report: $REPORT"
