#!/usr/bin/env bash
# Reproduce the "Neurons" section of BENCHMARKS.md: neuron fwd+bwd time and autograd memory beside
# ReLU, SpikingJelly's multi-step LIFNode and snnTorch's Leaky, plus coding encode/decode speed.
#
#   benchmarks/bench_neurons.sh                 # venv in $BENCH_VENV, rows as JSON in $BENCH_OUT, 2 threads
#   BENCH_VENV=/work/benchvenv benchmarks/bench_neurons.sh --set repeats=50
#
# SpikingJelly and snnTorch live only in this separate venv; FastSNN never depends on them.
#
# Threads: `python -m fastsnn` sets OMP_WAIT_POLICY=PASSIVE before torch starts unless you set it
# (fastsnn_runtime; BENCHMARKS.md "Thread policy"), also in a venv whose `fastsnn` script predates
# that; `threads=2` picks the torch thread count.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BENCH_VENV:-$HOME/.cache/fastsnn-bench-venv}"
OUT="${BENCH_OUT:-/tmp/fastsnn-bench-neurons.json}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.13.0
  "$VENV/bin/pip" install -q -e fastsnn-core -e fastsnn-neurons
fi
"$VENV/bin/pip" install -q --no-deps -r benchmarks/requirements-bench.txt  # every run: a venv from before gets new lines
FASTSNN_LOAD_PLUGINS=neurons "$VENV/bin/python" -m fastsnn bench neurons --set threads=2 --output "$OUT" "$@"
