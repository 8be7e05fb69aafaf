"""Recurrent linear attention: one token at a time from an O(1)-size state (the decoding form).

Per token: ``S ← S + kᵀv``, ``z ← z + k``, ``o = q S`` [``/ (q·z + eps)``]. The state's size does
not depend on how many tokens were seen.
"""

from __future__ import annotations

import torch

from fastsnn_attention.ops.groups import check_qkv, merge_groups, split_groups
from fastsnn_attention.ops.linear.state import LinearAttentionState


def recurrent_linear_attn(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    normalize: bool = False,
    scale: float | None = None,
    initial_state: LinearAttentionState | None = None,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, LinearAttentionState]:
    """Run the recurrence over ``T`` tokens (``T = 1`` when decoding).

    :param q: ``[B, Hq, T, Dk]``; ``k`` ``[B, Hkv, T, Dk]``; ``v`` ``[B, Hkv, T, Dv]`` (featurised).
    :param initial_state: state before the first token (fp32), or ``None`` for zeros.
    :returns: ``o [B, Hq, T, Dv]`` in ``q``'s dtype and the state after the last token (fp32).
    """
    n_kv_heads, _ = check_qkv(q, k, v, what="recurrent_linear_attn")
    batch, _, time, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    state = initial_state or LinearAttentionState.zeros(
        batch, n_kv_heads, key_dim, v.shape[-1], normalize=normalize, device=q.device
    )
    kv, z = state.kv.float(), state.z.float() if normalize else None
    q_g = split_groups(q, n_kv_heads).float() * scale  # (B, Hkv, G, T, Dk)
    k_f, v_f = k.float(), v.float()
    outputs = []
    for t in range(time):
        k_t, v_t = k_f[:, :, t], v_f[:, :, t]  # (B, Hkv, Dk), (B, Hkv, Dv)
        kv = kv + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)  # (B, Hkv, Dk, Dv)
        q_t = q_g[:, :, :, t]  # (B, Hkv, G, Dk)
        o_t = q_t @ kv  # (B, Hkv, G, Dv)
        if normalize:
            z = z + k_t
            o_t = o_t / ((q_t @ z.unsqueeze(-1)) + eps)  # (B, Hkv, G, 1) broadcast
        outputs.append(o_t)
    o = merge_groups(torch.stack(outputs, dim=3)).to(q.dtype)  # (B, Hq, T, Dv)
    return o, LinearAttentionState(kv, z)
