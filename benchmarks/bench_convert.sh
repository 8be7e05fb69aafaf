#!/usr/bin/env bash
# Reproduce the "Conversion" section of BENCHMARKS.md: digits MLP and CNN converted by FastSNN
# (binary/bitwise, event mode, T = 1…32) beside SpikingJelly 2.x's ann2snn on the same trained ANNs.
#
#   benchmarks/bench_convert.sh                 # venv in $BENCH_VENV, rows as JSON in $BENCH_OUT, 2 threads
#
# scikit-learn (the bundled digits) and SpikingJelly live only in this separate venv; FastSNN never
# depends on them. Without SpikingJelly the benchmark still runs and says why that column is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BENCH_VENV:-$HOME/.cache/fastsnn-bench-venv}"
OUT="${BENCH_OUT:-benchmarks/results/convert.json}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.13.0
fi
"$VENV/bin/pip" install -q --no-deps -r benchmarks/requirements-bench.txt  # every run: a venv from before gets new lines
"$VENV/bin/pip" install -q -e fastsnn-core -e fastsnn-neurons -e fastsnn-convert
FASTSNN_LOAD_PLUGINS=neurons,convert "$VENV/bin/python" -m fastsnn bench convert --set threads=2 --output "$OUT" "$@"
