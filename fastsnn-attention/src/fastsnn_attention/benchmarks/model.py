"""``fastsnn bench model``: a spiking LM with hybrid vs softmax-only attention, prefill and decode.

Goals (issue 4), at d_model 512 and 8 layers: ``hybrid_alt`` prefills faster than softmax-only
from T=4096 and ≥ 3× faster at T=16384; decode ms/token at prefix 16k within 15% of prefix 1k
for the hybrid while softmax grows; and the cache bytes per sequence.
"""

from __future__ import annotations

import time
from typing import Any, Literal, Union

import torch
from pydantic import Field

from fastsnn import DEFAULT_NEURON, Benchmark, Params
from fastsnn.benchmark import Progress
from fastsnn.config.model import ModelConfig
from fastsnn.model import build_model
from fastsnn_attention.benchmarks.measure import time_call

Layout = Literal["hybrid_alt", "hybrid_par", "softmax", "linear", "swa", "gla"]
MIB = 2**20


def attention_ref(layout: str, window: int) -> Any:
    """The ``attention`` config entry for a layout name, with the SWA window filled in."""
    swa = {"name": "swa", "window": window}
    return {"hybrid_alt": {"name": "hybrid_alt", "swa": swa}, "hybrid_par": {"name": "hybrid_par", "swa": swa},
            "swa": swa}.get(layout, layout)


class ModelBenchmark(Benchmark):
    """Spiking LM prefill tokens/s, decode ms/token and cache bytes: hybrid layouts vs softmax-only."""

    class Params(Params):
        layouts: list[Layout] = Field(["hybrid_alt", "softmax"], description="attention layouts to compare")
        seq_lens: list[int] = Field([512, 1024, 2048, 4096, 8192, 16384], description="prompt lengths T")
        d_model: int = Field(512, gt=0)
        n_layers: int = Field(8, gt=0)
        n_heads: int = Field(8, gt=0)
        vocab_size: int = Field(1024, gt=0, description="small, so the head does not hide the attention cost")
        window: int = Field(512, gt=0, description="SWA window in the hybrid layouts")
        ffn: Union[str, dict[str, Any]] = Field("pulse", description="FFN component reference")
        neuron: Union[str, dict[str, Any]] = Field(DEFAULT_NEURON, description="FFN spiking neuron reference")
        decode_steps: int = Field(16, gt=0, description="tokens timed one by one after each prefill (best reported)")
        rounds: int = Field(2, gt=0, description="passes over the whole sweep; the best time per (layout, T) is kept")
        threads: int = Field(2, gt=0, description="torch intra-op threads")
        seed: int = 0

    def build(self, layout: str) -> torch.nn.Module:
        """The benchmark model for one layout (fp32, eval mode)."""
        p = self.params
        config = ModelConfig(
            vocab_size=p.vocab_size, d_model=p.d_model, n_layers=p.n_layers, n_heads=p.n_heads,
            max_seq_len=max(p.seq_lens) + p.decode_steps + 1, attention=attention_ref(layout, p.window),
            ffn=p.ffn, neuron=p.neuron,
        )
        torch.manual_seed(p.seed)
        return build_model(config).eval()

    def run(self, progress: Progress) -> list[dict[str, Any]]:
        """Prefill and decode every layout at every T (rounds interleaved); one row per (layout, T)."""
        p = self.params
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(p.threads)
        try:
            models = {layout: self.build(layout) for layout in p.layouts}
            generator = torch.Generator().manual_seed(p.seed)
            prompts = {t: torch.randint(0, p.vocab_size, (1, t), generator=generator) for t in p.seq_lens}
            best: dict[tuple[str, int], dict[str, Any]] = {}
            # Rounds over the whole sweep, layouts taking turns at each T, best time per cell: load
            # from other jobs then hits every cell alike and rarely twice.
            for round_idx in range(p.rounds):
                for seq_len, prompt in prompts.items():
                    for layout, model in models.items():
                        row = self._measure(layout, model, prompt)
                        progress(f"round {round_idx + 1}/{p.rounds} {layout} T={seq_len}: prefill "
                                 f"{row['prefill_s']:.3f} s, decode {row['decode_ms_per_token']:.1f} ms/token")
                        kept = best.setdefault((layout, seq_len), row)
                        kept["prefill_s"] = min(kept["prefill_s"], row["prefill_s"])
                        kept["decode_ms_per_token"] = min(kept["decode_ms_per_token"], row["decode_ms_per_token"])
        finally:
            torch.set_num_threads(previous_threads)
        rows = [best[(layout, t)] for layout in p.layouts for t in p.seq_lens]
        for row in rows:
            row["prefill_tokens_per_s"] = round(row["T"] / row["prefill_s"], 1)
        self._add_ratios(rows)
        return rows

    @torch.inference_mode()
    def _measure(self, layout: str, model: torch.nn.Module, prompt: torch.Tensor) -> dict[str, Any]:
        """Prefill ``prompt (1, T)`` into a fresh cache, then time single-token decoding (best step)."""
        p = self.params
        cache = model.init_cache(1)
        start = time.perf_counter()
        logits = model(prompt, cache=cache)
        prefill_s = time.perf_counter() - start
        token = logits[:, -1:].argmax(-1)
        model(token, cache=cache)  # warm-up decode step
        seen = cache.seen

        def decode_one() -> None:
            model(token, cache=cache)

        decode_s = time_call(decode_one, p.decode_steps, warmup=0)
        return {
            "section": "model", "layout": layout, "T": prompt.shape[1],
            "prefill_s": round(prefill_s, 3), "decode_ms_per_token": round(decode_s * 1e3, 2),
            "decode_prefix": seen, "cache_mib_per_seq": round(cache.nbytes() / MIB, 3),
        }

    @staticmethod
    def _add_ratios(rows: list[dict[str, Any]]) -> None:
        """Speed-up vs softmax at the same T, and decode time relative to the layout's T=1024 (or first) row."""
        softmax = {r["T"]: r for r in rows if r["layout"] == "softmax"}
        by_layout: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_layout.setdefault(row["layout"], []).append(row)
            base = softmax.get(row["T"])
            if base is not None and row["layout"] != "softmax":
                row["prefill_speedup_vs_softmax"] = round(row["prefill_tokens_per_s"] / base["prefill_tokens_per_s"], 2)
        for layout_rows in by_layout.values():
            ref = next((r for r in layout_rows if r["T"] == 1024), layout_rows[0])
            for row in layout_rows:
                row["decode_vs_T1024"] = round(row["decode_ms_per_token"] / ref["decode_ms_per_token"], 2)
