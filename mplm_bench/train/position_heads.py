"""Position heads: layer-0 attention heads set at initialisation to look a fixed number of
tokens back (docs/training.md §2).

Every copy and lookup the protocols need is induction: find an earlier occurrence of what is
here, read what followed it. An induction head composes with a previous-token head, and from
random weights that head is the slow part to form (the "phase change" of small transformers).
So `seed_position_heads` gives layer 0 one head per offset (1, 2, …) that already attends there,
and training starts from that circuit. Only the heads' query and key weights are set; their value
and output weights stay random and are learnt, and every weight keeps training.

How a head looks back Δ tokens with RoPE and no biases: one residual dimension is made constant
across all token embeddings, so after RMSNorm it is a constant `s`. The query reads it into the
first half of each rotary pair, the key into that pair rotated by Δ·f_i, so the score between
positions m and n is `Σ_i w_i cos((m − n − Δ) f_i)`: largest at m − n = Δ, and the fastest
rotary frequencies keep every other offset well below it.
"""

from __future__ import annotations

import math
from typing import Any

CONSTANT_DIM = 0  # the residual dimension every token embedding holds constant
N_FREQS = 8  # the fastest rotary pairs a position head uses: enough to rule out aliasing
MARGIN_LOGITS = 12.0  # attention logit of the target offset over the next-best one


def contrast(freqs: list[float], max_len: int) -> float:
    """min over offsets d ≠ 0 of Σ (1 − cos(d·f)): the score gap, per unit weight, between the
    target offset and the best other one within a context of max_len tokens."""
    return min(sum(1 - math.cos(d * f) for f in freqs) for d in range(-4, max_len) if d != 0)


def seed_position_heads(model: Any, offsets: tuple[int, ...] = (1, 2)) -> None:
    """Set heads 0..len(offsets)−1 of layer 0 to attend `offsets[h]` tokens back (in place)."""
    import torch

    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    freqs = [float(f) for f in model.model.rotary_emb.inv_freq[:N_FREQS]]  # the engine's own RoPE
    weight = MARGIN_LOGITS / contrast(freqs, cfg.max_position_embeddings)  # per-pair score weight
    attn = model.model.layers[0].self_attn
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        # Every row gets the same norm, so RMSNorm maps the constant dimension to one value `s`
        # for every token: the score then depends on the offset alone (a spread of a few percent
        # in `s` moves the ~140-logit peak by more than the margin).
        rest = [d for d in range(emb.shape[1]) if d != CONSTANT_DIM]
        scale = emb[:, rest].norm(dim=1).mean()
        emb[:, rest] *= scale / emb[:, rest].norm(dim=1, keepdim=True).clamp_min(1e-12)  # the pad row stays 0
        emb[:, CONSTANT_DIM] = 3 * scale / math.sqrt(len(rest))
        s = float(_normed_constant(model))
        # score = (q·k) / sqrt(head_dim), q_i = a·s, k_i = a·s·(cos Δf, sin Δf): a²s²/√d = weight
        a = math.sqrt(weight * math.sqrt(head_dim)) / s
        half = head_dim // 2
        for h, delta in enumerate(offsets):
            rows = slice(h * head_dim, (h + 1) * head_dim)
            attn.q_proj.weight[rows] = 0.0
            attn.k_proj.weight[rows] = 0.0
            for i, f in enumerate(freqs):
                attn.q_proj.weight[h * head_dim + i, CONSTANT_DIM] = a
                attn.k_proj.weight[h * head_dim + i, CONSTANT_DIM] = a * math.cos(delta * f)
                attn.k_proj.weight[h * head_dim + i + half, CONSTANT_DIM] = a * math.sin(delta * f)


def _normed_constant(model: Any) -> Any:
    """The constant dimension after layer 0's input RMSNorm, averaged over the vocabulary."""
    emb = model.model.embed_tokens.weight
    rms = emb.pow(2).mean(dim=1, keepdim=True).add(model.config.rms_norm_eps).sqrt()
    norm_w = model.model.layers[0].input_layernorm.weight[CONSTANT_DIM]
    return (emb[:, CONSTANT_DIM : CONSTANT_DIM + 1] / rms).mean() * norm_w


def attention_to_offset(model: Any, ids: Any, head: int, delta: int) -> float:
    """Mean layer-0 attention weight `head` puts on the token `delta` back (a check for tests)."""
    import torch

    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True)
    att = out.attentions[0][0, head]  # (query, key)
    n = att.shape[0]
    return float(torch.stack([att[m, m - delta] for m in range(delta, n)]).mean())
