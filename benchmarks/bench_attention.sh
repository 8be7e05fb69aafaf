#!/usr/bin/env bash
# Reproduce the "Attention kernels" and "Model" sections of BENCHMARKS.md (fp32, 2 threads, CPU).
#
#   benchmarks/bench_attention.sh             # full sweeps (about 10 + 5 minutes on 2 cores)
#   QUICK=1 benchmarks/bench_attention.sh     # small sweeps (about a minute), same code paths
#
# Needs fastsnn-core, fastsnn-attention and fastsnn-neurons installed (the model's FFN spikes
# through adaptive_threshold); FASTSNN=/path/to/fastsnn picks the CLI. Rows are also written as
# JSON to $BENCH_OUT (default /tmp).
#
# Threads: the fastsnn command sets OMP_WAIT_POLICY=PASSIVE before torch starts unless you set it
# (fastsnn_runtime; BENCHMARKS.md "Thread policy"); each benchmark's `threads` setting picks the
# torch thread count. Sections measured before that policy existed ran with OpenMP's default.
set -euo pipefail
cd "$(dirname "$0")/.."
FASTSNN="${FASTSNN:-fastsnn}"
OUT="${BENCH_OUT:-/tmp}"
ATTENTION_ARGS=(--set threads=2)
MODEL_ARGS=(--set threads=2)
if [ -n "${QUICK:-}" ]; then
  ATTENTION_ARGS+=(--set 'linear_seq_lens=[512,2048]' --set recurrent_max_seq_len=2048
                   --set 'swa_seq_lens=[1024,4096]' --set memory_seq_len=4096 --set repeats=2)
  MODEL_ARGS+=(--set 'seq_lens=[512,2048]' --set n_layers=4 --set decode_steps=4)
fi
FASTSNN_LOAD_PLUGINS=attention "$FASTSNN" bench attention "${ATTENTION_ARGS[@]}" --output "$OUT/fastsnn-bench-attention.json"
FASTSNN_LOAD_PLUGINS=attention,neurons "$FASTSNN" bench model "${MODEL_ARGS[@]}" --output "$OUT/fastsnn-bench-model.json"
