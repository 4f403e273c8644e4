"""Which teacher layer teaches which student layer, width projections, and DistilBERT's initialisation.

Layer numbering for the mapping follows TinyBERT (§3.1): layer 0 is the embedding layer, layers 1 … M
(student) / 1 … N (teacher) the Transformer layers, so layer m's output is ``hidden_states[m]`` and its
attention map is ``attention_scores[m - 1]``. A layer map is the list ``[g(0), g(1), …, g(M)]`` with g(0) = 0.
(``init_student_from_teacher`` instead counts Transformer layers from 0, like ``model.bert.encoder``;
its docstring says so again.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bertlab.config import BertConfig
from bertlab.model.bert import find_encoder


def uniform_layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """TinyBERT's uniform strategy (§3.1, §4.4): g(m) = m · N / M, so [0, N/M, 2N/M, …, N].

    For M = 4, N = 12: [0, 3, 6, 9, 12] — student layer 1 learns from teacher layer 3, …, layer 4 from 12.
    M must divide N; otherwise give an explicit list to ``validate_layer_map`` / ``tinybert_losses``.
    """
    M, N = student_layers, teacher_layers
    if M <= 0 or N <= 0:
        raise ValueError(f"layer counts must be positive, got student {M} and teacher {N}")
    if M > N:
        raise ValueError(f"the student has more layers ({M}) than the teacher ({N}): every student layer "
                         f"needs its own teacher layer; use a deeper teacher or a shallower student")
    if N % M:
        suggestion = [0] + [int(m * N / M + 0.5) for m in range(1, M + 1)]  # rounded g(m)
        raise ValueError(f"uniform layer mapping needs the teacher's layer count to be a multiple of the "
                         f"student's: {N} teacher layers do not divide into {M} student layers. Pass an "
                         f"explicit layer map instead, e.g. {suggestion} (0 = embeddings, then one teacher "
                         f"layer per student layer, increasing)")
    k = N // M
    return [m * k for m in range(M + 1)]


def validate_layer_map(layer_map: Sequence[int] | str, student_layers: int, teacher_layers: int) -> list[int]:
    """Check a layer map and return it as ``[g(0) = 0, g(1), …, g(M)]``; ``"uniform"`` builds one.

    A user list may have M + 1 entries starting with 0 (embeddings), or M entries g(1) … g(M) (then 0 is
    put in front). Entries 1 … M must be strictly increasing teacher layers in 1 … N.
    """
    M, N = student_layers, teacher_layers
    if isinstance(layer_map, str):
        if layer_map != "uniform":
            raise ValueError(f"layer map must be 'uniform' or a list of teacher layers, got {layer_map!r}")
        return uniform_layer_map(M, N)
    g = [int(x) for x in layer_map]
    if len(g) == M:
        g = [0] + g
    if len(g) != M + 1:
        raise ValueError(f"layer map {list(layer_map)} has {len(layer_map)} entries; a student with {M} layers "
                         f"needs {M} (teacher layers for student layers 1..{M}) or {M + 1} (starting with 0 "
                         f"for the embeddings)")
    if g[0] != 0:
        raise ValueError(f"layer map {g}: entry 0 is the embedding layer and must map to the teacher's "
                         f"embeddings (0), got {g[0]}")
    bad = [x for x in g[1:] if not 1 <= x <= N]
    if bad:
        raise ValueError(f"layer map {g}: teacher layers must be in 1..{N} (the teacher has {N} layers; "
                         f"0 is the embeddings), got {bad}")
    if any(b <= a for a, b in zip(g[1:], g[2:])):
        raise ValueError(f"layer map {g}: teacher layers must strictly increase with the student layer, so "
                         f"that deeper student layers learn from deeper teacher layers")
    return g


class Projections(nn.Module):
    """The learned maps W_e (embeddings) and W_h (hidden states) from student width H_S to teacher width H_T
    (TinyBERT §3.1, Eqs. 8–9).

    - Widths equal: ``nn.Identity`` (nothing to learn, as in TinyBERT-6 / DistilBERT-shaped students), unless
      ``learn_when_equal=True``, which makes them Linear layers initialised to the identity.
    - Widths differ: ``nn.Linear(H_S, H_T)`` with PyTorch's default initialisation.
    - ``bias=False`` by default, so the module is the paper's matrix product H_S W_h; TinyBERT's code uses a
      Linear with bias (``bias=True`` reproduces it). Either works: the targets are LayerNorm outputs whose
      offset a bias could absorb, a small difference.
    - ``share_hidden=True`` (default) uses one W_h for every student layer, as the paper writes it
      (Eq. 8 has a single W_h, and the official code applies one ``fit_dense`` to all layers);
      ``share_hidden=False`` gives each student layer m = 1 … M its own W_h.

    Train these with the student (pass ``list(student.parameters()) + list(projections.parameters())`` to the
    optimizer); they are thrown away after distillation.
    """

    def __init__(self, student_hidden: int, teacher_hidden: int, num_student_layers: int,
                 share_hidden: bool = True, learn_when_equal: bool = False, bias: bool = False):
        super().__init__()
        if num_student_layers <= 0:
            raise ValueError(f"num_student_layers must be positive, got {num_student_layers}")
        self.student_hidden, self.teacher_hidden = student_hidden, teacher_hidden
        self.share_hidden = share_hidden
        self.num_student_layers = num_student_layers
        make = lambda: self._make(student_hidden, teacher_hidden, learn_when_equal, bias)  # noqa: E731
        self.W_e = make()
        self.W_h = nn.ModuleList(make() for _ in range(1 if share_hidden else num_student_layers))

    @staticmethod
    def _make(h_s: int, h_t: int, learn_when_equal: bool, bias: bool) -> nn.Module:
        if h_s == h_t and not learn_when_equal:
            return nn.Identity()
        linear = nn.Linear(h_s, h_t, bias=bias)
        if h_s == h_t:
            with torch.no_grad():
                nn.init.eye_(linear.weight)  # start as the identity: an exact copy has zero loss
                if linear.bias is not None:
                    linear.bias.zero_()
        return linear

    @classmethod
    def from_configs(cls, student: BertConfig, teacher: BertConfig, **kwargs) -> "Projections":
        return cls(student.hidden_size, teacher.hidden_size, student.num_hidden_layers, **kwargs)

    def embedding(self, e_s: torch.Tensor) -> torch.Tensor:
        """E_S W_e: (B, T, H_S) -> (B, T, H_T)."""
        return self.W_e(e_s)

    def hidden_projection(self, m: int) -> nn.Module:
        """W_h for student layer m (1 … M)."""
        if not 1 <= m <= self.num_student_layers:
            raise ValueError(f"student layer {m} is outside 1..{self.num_student_layers}")
        return self.W_h[0 if self.share_hidden else m - 1]

    def hidden(self, m: int, h_s: torch.Tensor) -> torch.Tensor:
        """H_S W_h for student layer m: (B, T, H_S) -> (B, T, H_T)."""
        return self.hidden_projection(m)(h_s)

    def extra_repr(self) -> str:
        return (f"H_S={self.student_hidden} -> H_T={self.teacher_hidden}, "
                f"{'one shared W_h' if self.share_hidden else f'{self.num_student_layers} W_h'}")


# --- DistilBERT §3: initialise the student from the teacher --------------------------------------------------

_MUST_MATCH = ("vocab_size", "hidden_size", "E", "intermediate_size", "num_attention_heads",
               "max_position_embeddings", "type_vocab_size", "hidden_act", "norm_placement")


def resolve_init_layers(layers: str | Sequence[int], student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher Transformer layers (counted from 0) that initialise student layers 0 … M − 1."""
    M, N = student_layers, teacher_layers
    if isinstance(layers, str):
        if layers != "every-other":
            raise ValueError(f"layers must be 'every-other' or a list of teacher layers, got {layers!r}")
        if 2 * (M - 1) > N - 1:
            raise ValueError(f"'every-other' takes teacher layers 0, 2, 4, …: a {M}-layer student needs a teacher "
                             f"with at least {2 * M - 1} layers, this one has {N}. Pass an explicit list of {M} "
                             f"teacher layers (0..{N - 1}) instead")
        return [2 * i for i in range(M)]
    chosen = [int(x) for x in layers]
    if len(chosen) != M:
        raise ValueError(f"layers {chosen} has {len(chosen)} entries, but the student has {M} layers: give one "
                         f"teacher layer (0..{N - 1}) per student layer")
    bad = [x for x in chosen if not 0 <= x < N]
    if bad:
        raise ValueError(f"layers {chosen}: teacher layers are counted 0..{N - 1} here, got {bad}")
    return chosen


@torch.no_grad()
def init_student_from_teacher(student: nn.Module, teacher: nn.Module,
                              layers: str | Sequence[int] = "every-other") -> list[int]:
    """DistilBERT's initialisation (§3): copy the teacher's embeddings and one layer out of two.

    Student Transformer layer i (counted from 0, as in ``model.bert.encoder``) gets a copy of teacher layer
    ``layers[i]``: ``"every-other"`` = 0, 2, 4, … (for 6 of 12 layers: 0, 2, 4, 6, 8, 10; the released
    DistilBERT was extracted with [0, 2, 4, 7, 9, 11], which a list reproduces). Embeddings, the pooler and
    the pre-training heads (when both models have them) are copied too. Returns the teacher layers used.

    Only possible when the shapes agree: same width, FFN size, heads, vocabulary and positions (DistilBERT
    keeps BERT's width and halves the depth). The student must not share layers; an ALBERT-style teacher
    may (its layer i is whichever shared block it applies i-th).
    """
    s_cfg, t_cfg = student.config, teacher.config
    diffs = [f"{name}: student {getattr(s_cfg, name)} vs teacher {getattr(t_cfg, name)}"
             for name in _MUST_MATCH if getattr(s_cfg, name) != getattr(t_cfg, name)]
    if diffs:
        raise ValueError("cannot initialise the student from the teacher's layers, their shapes differ ("
                         + "; ".join(diffs) + "). DistilBERT-style initialisation needs the teacher's width; "
                         "for a narrower student use TinyBERT distillation (Projections + tinybert_losses) "
                         "from a random initialisation")
    if s_cfg.share_layers != "none":
        raise ValueError(f"the student shares layers (share_layers={s_cfg.share_layers!r}): there is no one layer "
                         f"to copy each teacher layer into; use share_layers='none' for the student")
    s, t = find_encoder(student), find_encoder(teacher)
    chosen = resolve_init_layers(layers, s_cfg.num_hidden_layers, t_cfg.num_hidden_layers)
    s.embeddings.load_state_dict(t.embeddings.state_dict())
    for i, j in enumerate(chosen):  # student layer i <- teacher layer j (through the teacher's sharing map)
        t_attention = t.encoder.attention_blocks[t.encoder.attention_map[j]]
        t_ffn = t.encoder.ffn_blocks[t.encoder.ffn_map[j]]
        s.encoder.attention_blocks[i].load_state_dict(t_attention.state_dict())
        s.encoder.ffn_blocks[i].load_state_dict(t_ffn.state_dict())
    if s.encoder.final_norm is not None:  # pre-LN stacks (norm_placement matched above)
        s.encoder.final_norm.load_state_dict(t.encoder.final_norm.state_dict())
    if s.pooler is not None and t.pooler is not None:
        s.pooler.load_state_dict(t.pooler.state_dict())
    for head in ("mlm", "nsp"):
        if isinstance(getattr(student, head, None), nn.Module) and isinstance(getattr(teacher, head, None), nn.Module):
            getattr(student, head).load_state_dict(getattr(teacher, head).state_dict())
    return chosen


__all__ = ["uniform_layer_map", "validate_layer_map", "Projections", "resolve_init_layers",
           "init_student_from_teacher"]
