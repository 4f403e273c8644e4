"""Parameter counts for the Parameters page: the formulas written out, and the preset / run comparison table.

The numbers come from ``bertlab.analysis.params.count_parameters`` (read off a model built on the meta
device); ``formulas`` writes the same numbers as the algebra a student can check by hand (ALBERT §3.1),
and ``tests/test_dashboard_logic.py`` checks the two agree.
"""

from __future__ import annotations

from bertlab.analysis.params import count_parameters
from bertlab.config import PRESETS, BertConfig

# The presets the issue names first (paper shapes), then bertlab's CPU lesson sizes.
PAPER_PRESETS = ("bert-base", "bert-large", "albert-base", "albert-large", "albert-xlarge", "albert-xxlarge",
                 "distilbert", "tinybert-4", "tinybert-6")


def distinct_blocks(config: BertConfig) -> tuple[int, int]:
    """How many distinct (attention, feed-forward) blocks the encoder stores (ALBERT §3.1 sharing)."""
    L = config.num_hidden_layers
    attention = 1 if config.share_layers in ("all", "attention") else L
    ffn = 1 if config.share_layers in ("all", "ffn") else L
    return attention, ffn


def formulas(config: BertConfig) -> list[tuple[str, str, int]]:
    """(component, formula with the numbers put in, value) for every component of ``BertForPreTraining``."""
    V, E, H, I = config.vocab_size, config.E, config.hidden_size, config.intermediate_size
    P, S = config.max_position_embeddings, config.type_vocab_size
    n_att, n_ffn = distinct_blocks(config)
    final_norm = 1 if config.norm_placement == "pre" else 0
    rows = [
        ("word_embeddings", f"V·E = {V}·{E}", V * E),
        ("position_embeddings", f"P·E = {P}·{E}", P * E),
        ("token_type_embeddings", f"S·E = {S}·{E}", S * E),
    ]
    if config.is_factorized:
        rows.append(("embedding_projection", f"E·H + H = {E}·{H} + {H}", E * H + H))
    rows += [
        ("attention", f"{n_att} × 4(H² + H) = {n_att} × 4({H}² + {H})", n_att * 4 * (H * H + H)),
        ("feed_forward", f"{n_ffn} × (2·H·I + I + H) = {n_ffn} × (2·{H}·{I} + {I} + {H})",
         n_ffn * (2 * H * I + I + H)),
        ("layer_norms", f"2E + ({n_att} + {n_ffn}{' + 1' if final_norm else ''}) × 2H",
         2 * E + (n_att + n_ffn + final_norm) * 2 * H),
        ("pooler", f"H² + H = {H}² + {H}", H * H + H),
        ("mlm_head", f"H·E + E + 2E + V = {H}·{E} + {E} + 2·{E} + {V}  (output matrix tied to the V·E embeddings)",
         H * E + E + 2 * E + V),
        ("nsp_head", f"2H + 2 = 2·{H} + 2", 2 * H + 2),
    ]
    return rows


def embedding_cost_text(config: BertConfig) -> str:
    """ALBERT §3.1 in one line: V·H for BERT, V·E + E·H when the embeddings are factorized."""
    V, E, H = config.vocab_size, config.E, config.hidden_size
    if config.is_factorized:
        return (f"Factorized embeddings: V×E + E×H = {V:,}×{E} + {E}×{H} = {V * E + E * H:,} "
                f"instead of V×H = {V:,}×{H} = {V * H:,} ({V * H / (V * E + E * H):.1f}× fewer)")
    return f"Embeddings V×H = {V:,}×{H} = {V * H:,} (E = H; ALBERT factorizes this as V×E + E×H)"


def count_row(name: str, source: str, config: BertConfig) -> dict:
    """One row of the comparison table."""
    count = count_parameters(config)
    return {"name": name, "source": source, "L": config.num_hidden_layers, "H": config.hidden_size,
            "A": config.num_attention_heads, "E": config.E, "V": config.vocab_size, "FFN": config.intermediate_size,
            "sharing": config.share_layers, "total": count.total, "backbone": count.backbone,
            "applied": count.applied, "by_component": dict(count.by_component)}


def preset_rows() -> list[dict]:
    names = [n for n in PAPER_PRESETS if n in PRESETS] + [n for n in PRESETS if n not in PAPER_PRESETS]
    return [count_row(name, "preset", PRESETS[name]) for name in names]
