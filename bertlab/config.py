"""Model configuration: one validated dataclass, named presets, JSON round-trip.

Field names follow Hugging Face transformers (``hidden_size``, ``embedding_size`` ...) so that a student
can read either code base. Symbols as in ALBERT (Lan et al., 2020, §3.1): V = ``vocab_size``,
E = ``embedding_size``, H = ``hidden_size``, L = ``num_hidden_layers``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from bertlab.io import atomic_write_text

SHARE_MODES = ("none", "all", "attention", "ffn")
ACTIVATIONS = ("gelu", "gelu_new", "relu")
NORM_PLACEMENTS = ("post", "pre")
# the label of every position a loss skips (PyTorch's cross_entropy ignore_index): unmasked tokens under
# MLM (BERT §3.1), padding, unscored word pieces in token tasks. Everything else imports it from here.
IGNORE_INDEX = -100


@dataclass
class BertConfig:
    """Shape and regularisation of a BERT / ALBERT encoder with pre-training heads."""

    vocab_size: int = 8192  # V: WordPiece vocabulary size
    hidden_size: int = 128  # H: width of every encoder layer
    embedding_size: int | None = None  # E: token embedding width; None means E = H (BERT)
    num_hidden_layers: int = 2  # L: encoder depth (layer applications, shared or not)
    num_attention_heads: int = 2  # A: heads per layer; H must divide by A
    intermediate_size: int = 512  # feed-forward inner width (4H in BERT)
    hidden_act: str = "gelu"  # feed-forward activation: gelu (erf), gelu_new (tanh), relu
    max_position_embeddings: int = 512  # longest sequence the position table covers
    type_vocab_size: int = 2  # segment (token_type) ids: A = 0, B = 1
    hidden_dropout_prob: float = 0.1  # dropout on embeddings and sub-layer outputs
    attention_probs_dropout_prob: float = 0.1  # dropout on attention probabilities
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02  # std of the normal initialisation
    share_layers: str = "none"  # ALBERT §3.1 cross-layer sharing: none | all | attention | ffn
    norm_placement: str = "post"  # "post" = BERT (LayerNorm after the residual); "pre" = pre-LN variant
    pad_token_id: int = 0
    # XLM §3.1 language embeddings: a table of this many rows added to token + position embeddings; 0 = none
    # (BERT), so models and config files without the field behave exactly as before
    num_languages: int = 0

    def __post_init__(self) -> None:
        positive = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings", "type_vocab_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.embedding_size is not None and (not isinstance(self.embedding_size, int)
                                                or self.embedding_size <= 0):
            raise ValueError(f"BertConfig.embedding_size must be a positive integer or None (E = H), "
                             f"got {self.embedding_size!r}")
        if not isinstance(self.num_languages, int) or isinstance(self.num_languages, bool) or self.num_languages < 0:
            raise ValueError(f"BertConfig.num_languages must be 0 (no language embeddings) or a positive integer, "
                             f"got {self.num_languages!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig.hidden_size {self.hidden_size} is not divisible by num_attention_heads "
                f"{self.num_attention_heads}: choose a head count that divides it "
                f"(e.g. {_divisors_hint(self.hidden_size)})")
        for name, allowed in (("share_layers", SHARE_MODES), ("hidden_act", ACTIVATIONS),
                              ("norm_placement", NORM_PLACEMENTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"BertConfig.{name} must be one of {', '.join(allowed)}; "
                                 f"got {getattr(self, name)!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"BertConfig.pad_token_id {self.pad_token_id} is outside the vocabulary "
                             f"(vocab_size {self.vocab_size})")

    @property
    def E(self) -> int:  # noqa: N802 - the paper's symbol
        """Embedding width actually used: ``embedding_size`` or H."""
        return self.embedding_size or self.hidden_size

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def is_factorized(self) -> bool:
        """True when E != H, so embeddings are projected E -> H (ALBERT §3.1)."""
        return self.E != self.hidden_size

    def replace(self, **changes) -> "BertConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BertConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown BertConfig field(s): {', '.join(unknown)}; "
                             f"known fields: {', '.join(sorted(known))}")
        return cls(**data)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            atomic_write_text(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> "BertConfig":
        text = str(path_or_text)
        if not text.lstrip().startswith("{"):
            path = Path(path_or_text)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise FileNotFoundError(f"config file {path} does not exist") from None
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
        else:
            data = json.loads(text)
        if "model" in data and isinstance(data["model"], dict):  # a run folder's config.json
            data = data["model"]
        return cls.from_dict(data)


def _divisors_hint(n: int) -> str:
    return ", ".join(str(d) for d in range(1, min(n, 64) + 1) if n % d == 0 and d > 1)


def _bert(**kw) -> BertConfig:
    base = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                intermediate_size=3072)
    base.update(kw)
    return BertConfig(**base)


def _albert(**kw) -> BertConfig:
    base = dict(vocab_size=30000, embedding_size=128, share_layers="all", hidden_act="gelu_new",
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    base.update(kw)
    return _bert(**base)


# Paper shapes (BERT §3, ALBERT Table 1, DistilBERT §3, TinyBERT §4.1) and small shapes that train on a CPU.
PRESETS: dict[str, BertConfig] = {
    "bert-base": _bert(),
    "bert-large": _bert(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    "albert-base": _albert(),
    "albert-large": _albert(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                            intermediate_size=4096),
    "albert-xlarge": _albert(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16,
                             intermediate_size=8192),
    "albert-xxlarge": _albert(hidden_size=4096, num_hidden_layers=12, num_attention_heads=64,
                              intermediate_size=16384),
    "distilbert": _bert(num_hidden_layers=6),
    "tinybert-4": _bert(hidden_size=312, num_hidden_layers=4, num_attention_heads=12, intermediate_size=1200),
    "tinybert-6": _bert(num_hidden_layers=6),
    "tiny": BertConfig(vocab_size=8192, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=512, max_position_embeddings=512),
    "small": BertConfig(vocab_size=8192, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, max_position_embeddings=512),
    "mini": BertConfig(vocab_size=8192, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                       intermediate_size=2048, max_position_embeddings=512),
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "bert-base": "BERT-base (Devlin et al. 2019): L12 H768 A12, ~110M",
    "bert-large": "BERT-large: L24 H1024 A16, ~340M",
    "albert-base": "ALBERT-base (Lan et al. 2020): E128 H768 L12, all layers shared, ~12M",
    "albert-large": "ALBERT-large: E128 H1024 L24, shared, ~18M",
    "albert-xlarge": "ALBERT-xlarge: E128 H2048 L24, shared, ~60M",
    "albert-xxlarge": "ALBERT-xxlarge: E128 H4096 L12, shared, ~235M",
    "distilbert": "DistilBERT (Sanh et al. 2019): BERT-base with 6 layers, ~66M",
    "tinybert-4": "TinyBERT-4 (Jiao et al. 2020): L4 H312 FFN1200, ~14.5M",
    "tinybert-6": "TinyBERT-6: L6 H768, ~67M",
    "tiny": "CPU lesson size: L2 H128 A2 (trains in minutes)",
    "small": "CPU lesson size: L4 H256 A4",
    "mini": "CPU lesson size: L4 H512 A8",
}


def check_field_types(cls, values: dict, where: str) -> None:
    """Raise a ValueError naming ``where`` and the field when a value in ``values`` (e.g. read from a JSON file)
    has the wrong type for dataclass ``cls``: {"steps": "ten"} -> "steps must be an integer, got 'ten'"."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        hint = hints.get(name)
        if hint is None:
            continue
        allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        if not any(_has_type(value, t) for t in allowed):
            wanted = " or ".join(_TYPE_NAMES.get(typing.get_origin(t) or t, str(t)) for t in allowed)
            raise ValueError(f"{where}: {name} must be {wanted}, got {value!r}")


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
               list: "a list", type(None): "null"}


def _has_type(value, hint) -> bool:
    kind = typing.get_origin(hint) or hint
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is type(None):
        return value is None
    return isinstance(value, kind) if isinstance(kind, type) else True


def check_overrides(overrides, where: str = "model_overrides") -> dict:
    """``overrides`` of BertConfig fields: an object of known fields with values of the right types."""
    if not isinstance(overrides, dict):
        raise ValueError(f"{where} must be an object of BertConfig fields, got {overrides!r}")
    known = {f.name for f in dataclasses.fields(BertConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{where}: unknown BertConfig field(s) {', '.join(unknown)}; known fields: "
                         f"{', '.join(sorted(known))}")
    check_field_types(BertConfig, overrides, where)
    return overrides


def get_preset(name: str, **overrides) -> BertConfig:
    """The preset ``name`` with optional field overrides, e.g. ``get_preset("tiny", embedding_size=64)``."""
    try:
        config = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
    return config.replace(**overrides) if overrides else config.replace()


__all__ = ["BertConfig", "PRESETS", "PRESET_DESCRIPTIONS", "SHARE_MODES", "IGNORE_INDEX", "check_field_types",
           "check_overrides", "get_preset"]
