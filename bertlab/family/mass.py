"""MASS: masked sequence-to-sequence pre-training (Song et al. 2019, §2).

The encoder reads a sentence of m tokens in which one contiguous span of k tokens is replaced by [MASK];
a decoder rebuilds exactly that span, left to right, attending to the encoder output (§2.2, Figure 1):

    encoder input    [CLS] x1 x2 [M] [M] [M] [M] x7 x8 [SEP]
    decoder input               [M] x3  x4  x5           (the span shifted right: its own left context)
    decoder labels              x3  x4  x5  x6           (only the span is predicted)

The decoder never gets the tokens the encoder can see, so it must read them through cross-attention, and
the encoder never sees the span it is asked for. k is the knob of §2.3: k = 1 is BERT's masked LM (one
token from two-sided context; the decoder has no left context), k = m is a standard language model (the
encoder sees only [MASK]s; the decoder is an LM), and MASS used k ≈ 50 % of m. Here every span token is
[MASK] (no BERT-style 80/10/10 replacement), so the encoder truly never sees a span token.

Pieces: span selection (``choose_span``, ``choose_spans``), the batch builder (``mass_inputs``), sentences
from a corpus (``MassData``), the model (``MassModel``: bertlab's ``BertModel`` as encoder, torch's
``nn.TransformerDecoder`` as decoder, embeddings tied), the training-loop task (``MassTask``) and greedy
decoding (``greedy_fill``, ``show_reconstruction``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bertlab.config import IGNORE_INDEX, BertConfig
from bertlab.data.corpus import load_corpus
from bertlab.data.datasets import derive_seed, pack_instances
from bertlab.data.pairs import Instance
from bertlab.data.tokenized import tokenize_corpus
from bertlab.data.tokenizer import MASK_ID, PAD_ID
from bertlab.model.bert import BertModel, BertPreTrainedModel, masked_lm_loss
from bertlab.model.heads import MaskedLMHead
from bertlab.model.layer import ACTIVATIONS

Batch = dict[str, torch.Tensor]
MODEL_INPUTS = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_positions", "decoder_attention_mask",
                "labels")
_ORDER, _SPANS = 21, 22  # streams of randomness derived from the seed (see bertlab.data.datasets.derive_seed)


# --------------------------------------------------------------------------------------------- spans (§2.1)

def parse_span(rule: str | int | float) -> tuple[int | None, float | None]:
    """``"1"`` / ``3`` -> (k, None): a fixed span length; ``"50%"`` / ``0.5`` -> (None, 0.5): a fraction of m."""
    text = str(rule).strip()
    try:
        if text.endswith("%"):
            k, fraction = None, float(text[:-1]) / 100
        elif isinstance(rule, float) or "." in text:
            k, fraction = None, float(text)
        else:
            k, fraction = int(text), None
    except ValueError:
        raise ValueError(f"span rule {rule!r}: give a token count (\"1\", \"5\") or a percentage of the sentence "
                         f"(\"50%\", \"100%\")") from None
    if (k is not None and k < 1) or (fraction is not None and not 0 < fraction <= 1):
        raise ValueError(f"span rule {rule!r}: a span is at least 1 token and at most the whole sentence "
                         f"(\"1\" … \"100%\")")
    return k, fraction


def span_lengths(lengths: torch.Tensor, k: int | None = None, fraction: float | None = None) -> torch.Tensor:
    """k for sentences of ``lengths`` tokens: ``k`` clipped to [1, m], or round(fraction * m) in [1, m]."""
    if (k is None) == (fraction is None):
        raise ValueError(f"give exactly one of k (a token count) or fraction (of the sentence); got k={k}, "
                         f"fraction={fraction}")
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1 token, got {k}")
    if fraction is not None and not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1] (1 = the whole sentence), got {fraction}")
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    if (lengths < 1).any():
        raise ValueError(f"every sentence needs at least one real token; got lengths {lengths.tolist()[:8]}")
    wanted = torch.full_like(lengths, k) if k is not None else torch.round(lengths * fraction).long()
    return torch.minimum(wanted.clamp(min=1), lengths)


def choose_span(length: int, k: int | None = None, fraction: float | None = None,
                generator: torch.Generator | None = None) -> tuple[int, int]:
    """One span ``[start, end)`` of a sentence of ``length`` tokens: exactly k tokens (clipped to the
    sentence), its start uniform over the ``length - k + 1`` places it fits."""
    start, end = choose_spans(torch.zeros(1, length, dtype=torch.bool), k, fraction, generator)
    return int(start), int(end)


def choose_spans(special_tokens_mask: torch.Tensor, k: int | None = None, fraction: float | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A span per row of a padded batch, over its real tokens only (never [CLS], [SEP] or [PAD]).

    special_tokens_mask (B, T): True on special tokens and padding. Each row's real tokens must be one run
    (one sentence, as ``MassData`` builds). Returns start, end (B,): the span is positions [start, end).
    """
    real = ~special_tokens_mask.bool()  # (B, T)
    m = real.sum(1)  # (B,) real tokens per row
    if (m == 0).any():
        raise ValueError(f"row {int((m == 0).nonzero()[0])} has no real token to mask")
    first = real.int().argmax(1)  # (B,) position of the first real token
    positions = torch.arange(real.shape[1])  # (T,)
    run = (positions >= first[:, None]) & (positions < (first + m)[:, None])  # (B, T)
    if not torch.equal(run, real):
        raise ValueError("choose_spans: each row's real tokens must be contiguous (one sentence between [CLS] and "
                         "[SEP]); build rows with MassData, or pass one sentence per row")
    k_rows = span_lengths(m, k, fraction)  # (B,)
    places = m - k_rows + 1  # (B,) number of starts where the span fits
    u = torch.rand(real.shape[0], generator=generator, dtype=torch.float64)  # uniform [0, 1)
    start = first + (u * places).long().clamp(max=places - 1)  # uniform over the places
    return start, start + k_rows


def mass_inputs(input_ids: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> Batch:
    """The MASS example of each row (§2.1): encoder input with the span as [MASK], decoder input = the span
    shifted right (first [MASK], then the span's own tokens), labels = the span (-100 on padding).

    input_ids (B, T) unmasked [CLS] sentence [SEP] [PAD]…; start, end (B,). Decoder tensors are (B, K) with
    K the longest span; ``decoder_positions`` are the span's positions in the sentence (start + j).
    """
    B, T = input_ids.shape
    positions = torch.arange(T)  # (T,)
    in_span = (positions >= start[:, None]) & (positions < end[:, None])  # (B, T)
    k = end - start  # (B,)
    j = torch.arange(int(k.max()))  # (K,)
    valid = j < k[:, None]  # (B, K): a real span token, not padding
    span_pos = (start[:, None] + j).clamp(max=T - 1)  # (B, K)
    span = input_ids.gather(1, span_pos)  # (B, K)
    previous = input_ids.gather(1, (span_pos - 1).clamp(min=0))  # (B, K): the token before each span token
    decoder_input_ids = torch.where(j == 0, torch.full_like(span, MASK_ID), previous)  # x_{u-1} is hidden: [M]
    return {"input_ids": input_ids.masked_fill(in_span, MASK_ID),
            "attention_mask": (input_ids != PAD_ID).long(),
            "decoder_input_ids": decoder_input_ids.masked_fill(~valid, PAD_ID),
            "decoder_positions": span_pos.masked_fill(~valid, 0),
            "decoder_attention_mask": valid.long(),
            "labels": span.masked_fill(~valid, IGNORE_INDEX),
            "span_start": start, "span_end": end}


# --------------------------------------------------------------------------------------------------- data

class MassData:
    """One sentence per example, ``[CLS] sentence [SEP]`` (cut to ``max_seq_length``), from a corpus.

    ``batch(step, batch_size, span)`` is a pure function of (seed, step, batch_size, span), so resumed
    runs see the same data; sentences shorter than ``min_tokens`` are left out.
    """

    def __init__(self, corpus, tokenizer, max_seq_length: int = 64, seed: int = 0, min_tokens: int = 4):
        if max_seq_length < min_tokens + 2:
            raise ValueError(f"max_seq_length {max_seq_length} leaves no room for a {min_tokens}-token sentence "
                             f"between [CLS] and [SEP]; raise it (64 suits most sentences)")
        self.corpus, self.tokenizer, self.seed = load_corpus(corpus), tokenizer, seed
        self.tokens = tokenize_corpus(self.corpus, tokenizer)
        instances = []
        for doc in range(self.tokens.num_documents):
            for s, e in self.tokens.sentence_ranges(doc):
                e = min(e, s + max_seq_length - 2)
                if e - s >= min_tokens:
                    instances.append(Instance(((s, e),), (0,), (doc,)))
        if not instances:
            raise ValueError(f"{self.corpus.name}: no sentence has {min_tokens} tokens or more")
        self.examples = pack_instances(instances, self.tokens, max_seq_length)

    def __len__(self) -> int:
        return len(self.examples)

    def rows(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """input_ids and special_tokens_mask of some sentences, cut to the longest: (B, T) each."""
        arrays = self.examples.rows(index)
        return (torch.from_numpy(arrays["input_ids"].astype(np.int64)),
                torch.from_numpy(arrays["special_tokens_mask"]))

    def batch(self, step: int, batch_size: int, span: str | int | float = "50%") -> Batch:
        """The batch of global step ``step``: a seeded permutation per epoch, seeded spans per step."""
        per_epoch = max(1, len(self) // batch_size)
        epoch, i = divmod(step, per_epoch)
        order = np.random.default_rng(derive_seed(self.seed, _ORDER, epoch)).permutation(len(self))
        index = order[np.arange(i * batch_size, (i + 1) * batch_size) % len(self)]
        input_ids, special = self.rows(index)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, _SPANS, step))
        start, end = choose_spans(special, *parse_span(span), generator=generator)
        return mass_inputs(input_ids, start, end)

    def fixed_batches(self, span: str | int | float, num_examples: int, batch_size: int = 64) -> list[Batch]:
        """Held-out batches for evaluation: the same sentences (a seeded sample of ``num_examples``) for every
        span rule, and the same spans for every model and every call."""
        n = min(num_examples, len(self))
        size = min(batch_size, n)
        chosen = np.random.default_rng(derive_seed(self.seed, _ORDER, 0)).permutation(len(self))[:n]
        batches = []
        for i in range(max(1, n // size)):
            input_ids, special = self.rows(chosen[i * size:(i + 1) * size])
            generator = torch.Generator().manual_seed(derive_seed(self.seed, _SPANS, i))
            batches.append(mass_inputs(input_ids, *choose_spans(special, *parse_span(span), generator=generator)))
        return batches


# -------------------------------------------------------------------------------------------------- model

@dataclass
class MassConfig:
    """A BERT encoder plus a small Transformer decoder of the same width (MASS §3.1 used 6 + 6 layers)."""

    encoder: BertConfig  # the encoder's shape; the decoder copies its width, heads, FFN size and dropout
    decoder_layers: int = 2  # decoder depth: causal self-attention + cross-attention + FFN per layer

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            self.encoder = BertConfig.from_dict(self.encoder)
        if not isinstance(self.decoder_layers, int) or self.decoder_layers < 1:
            raise ValueError(f"MassConfig.decoder_layers must be a positive integer, got {self.decoder_layers!r}")

    def to_dict(self) -> dict:
        return {"encoder": self.encoder.to_dict(), "decoder_layers": self.decoder_layers}


@dataclass
class MassOutput:
    loss: torch.Tensor | None  # mean cross-entropy over the span tokens
    span_logits: torch.Tensor  # (N, V) at the N labelled decoder positions (all (B, K) positions without labels)
    span_labels: torch.Tensor | None  # (N,)
    encoder_hidden: torch.Tensor  # (B, T, H)


class SpanDecoder(nn.Module):
    """Embeds the shifted span at its sentence positions, then ``nn.TransformerDecoder`` layers: causal
    self-attention over the span so far, cross-attention to the encoder output, feed-forward (§2.2)."""

    def __init__(self, config: BertConfig, num_layers: int):
        super().__init__()
        E, H = config.E, config.hidden_size
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, E)  # its own; words are tied
        self.norm = nn.LayerNorm(E, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.projection = nn.Linear(E, H) if config.is_factorized else None  # E -> H as in the encoder
        pre = config.norm_placement == "pre"
        layer = nn.TransformerDecoderLayer(H, config.num_attention_heads, config.intermediate_size,
                                           dropout=config.hidden_dropout_prob,
                                           activation=ACTIVATIONS[config.hidden_act], batch_first=True,
                                           norm_first=pre, layer_norm_eps=config.layer_norm_eps)
        self.layers = nn.TransformerDecoder(layer, num_layers,
                                            norm=nn.LayerNorm(H, eps=config.layer_norm_eps) if pre else None)

    def forward(self, word_embeddings: nn.Embedding, decoder_input_ids: torch.Tensor,
                decoder_positions: torch.Tensor, memory: torch.Tensor, attention_mask: torch.Tensor,
                decoder_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """decoder ids / positions (B, K), memory (B, T, H), masks 1 = real -> hidden (B, K, H)."""
        K = decoder_input_ids.shape[1]
        x = self.dropout(self.norm(word_embeddings(decoder_input_ids) + self.position_embeddings(decoder_positions)))
        if self.projection is not None:
            x = self.projection(x)  # (B, K, H)
        causal = torch.ones(K, K, dtype=torch.bool, device=x.device).triu(1)  # True = may not attend (future)
        pad = None if decoder_attention_mask is None else ~decoder_attention_mask.bool()  # (B, K)
        return self.layers(x, memory, tgt_mask=causal, tgt_is_causal=True, tgt_key_padding_mask=pad,
                           memory_key_padding_mask=~attention_mask.bool())  # (B, K, H)


class MassModel(BertPreTrainedModel):
    """Encoder (bertlab's ``BertModel``) + span decoder + an output layer tied to the encoder's word
    embeddings, which the decoder's input embeddings are too (one V x E table for all three)."""

    def __init__(self, config: MassConfig):
        super().__init__()
        self.mass_config = config
        self.config = config.encoder  # what BertPreTrainedModel.init_weights reads
        self.encoder = BertModel(config.encoder, add_pooler=False)
        self.decoder = SpanDecoder(config.encoder, config.decoder_layers)
        self.head = MaskedLMHead(config.encoder)
        self.init_weights()

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.encoder.embeddings.word_embeddings

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids, attention_mask).last_hidden_state  # (B, T, H)

    def decode(self, memory, attention_mask, decoder_input_ids, decoder_positions, decoder_attention_mask=None):
        """Vocabulary logits (B, K, V) of every decoder position."""
        hidden = self.decoder(self.word_embeddings, decoder_input_ids, decoder_positions, memory, attention_mask,
                              decoder_attention_mask)
        return self.head(hidden, self.word_embeddings.weight)

    def forward(self, input_ids, attention_mask, decoder_input_ids, decoder_positions,
                decoder_attention_mask=None, labels=None) -> MassOutput:
        memory = self.encode(input_ids, attention_mask)
        hidden = self.decoder(self.word_embeddings, decoder_input_ids, decoder_positions, memory, attention_mask,
                              decoder_attention_mask)  # (B, K, H)
        if labels is None:
            return MassOutput(None, self.head(hidden, self.word_embeddings.weight), None, memory)
        selected = labels != IGNORE_INDEX  # (B, K): project onto V only where there is a label
        logits = self.head(hidden[selected], self.word_embeddings.weight)  # (N, V)
        return MassOutput(masked_lm_loss(logits, labels[selected]), logits, labels[selected], memory)


# -------------------------------------------------------------------------------------------------- task

class MassTask:
    """The training loop's task (``bertlab.train.loop.Task``): span cross-entropy, token accuracy of the span
    (teacher-forced). ``eval_sets`` maps a name to fixed held-out batches; each is scored at evaluation as
    ``<name>_loss`` / ``<name>_acc``, and the first one also as ``loss`` / ``accuracy``."""

    def __init__(self, eval_sets: dict[str, list[Batch]] | None = None):
        self.eval_sets = dict(eval_sets or {})

    def counts(self, batch: Batch) -> dict[str, float]:
        return {"span_tokens": float((batch["labels"] != IGNORE_INDEX).sum())}

    @staticmethod
    def _forward(model: nn.Module, batch: Batch) -> MassOutput:
        return model(**{k: batch[k] for k in MODEL_INPUTS})

    @staticmethod
    def batch_stats(out: MassOutput, batch: Batch) -> dict[str, float]:
        n = out.span_labels.numel()
        return {"tokens": float(batch["attention_mask"].sum() + batch["decoder_attention_mask"].sum()),
                "span_tokens": float(n), "loss_sum": float(out.loss.detach()) * n,
                "correct": float((out.span_logits.argmax(-1) == out.span_labels).sum())}

    def step(self, model: nn.Module, batch: Batch, totals: dict[str, float]):
        out = self._forward(model, batch)
        stats = self.batch_stats(out, batch)
        return out.loss * (stats["span_tokens"] / max(totals["span_tokens"], 1.0)), stats  # share of global mean

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums.get("span_tokens", 0.0), 1.0)
        return {"loss": sums.get("loss_sum", 0.0) / n, "accuracy": sums.get("correct", 0.0) / n,
                "span_tokens": sums.get("span_tokens", 0.0)}  # targets in this window: k = 1 gets 1 per sentence

    def score(self, model: nn.Module, batches: list[Batch]) -> dict[str, float]:
        """Teacher-forced loss and token accuracy of the span over ``batches``."""
        device = next(model.parameters()).device
        sums: dict[str, float] = {}
        with torch.no_grad():
            for batch in batches:
                batch = {k: v.to(device) for k, v in batch.items()}
                for k, v in self.batch_stats(self._forward(model, batch), batch).items():
                    sums[k] = sums.get(k, 0.0) + v
        return self.summarize(sums)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        metrics = {}
        for i, (name, batches) in enumerate(self.eval_sets.items()):
            scored = self.score(model, batches)
            metrics.update({f"{name}_loss": scored["loss"], f"{name}_acc": scored["accuracy"]})
            if i == 0:
                metrics.update(loss=scored["loss"], accuracy=scored["accuracy"])
        return metrics


# ------------------------------------------------------------------------------------------------ decoding

@torch.no_grad()
def greedy_fill(model: MassModel, batch: Batch) -> torch.Tensor:
    """Rebuild each masked span token by token, feeding back the model's own argmax (no teacher forcing).
    Returns (B, K) predicted ids, [PAD] past each span's end."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    b = {k: v.to(device) for k, v in batch.items()}
    memory = model.encode(b["input_ids"], b["attention_mask"])  # the encoder runs once
    valid = b["decoder_attention_mask"].bool()  # (B, K)
    K = valid.shape[1]
    decoder_ids = torch.full_like(b["decoder_input_ids"], PAD_ID)
    decoder_ids[:, 0] = MASK_ID
    predicted = torch.full_like(decoder_ids, PAD_ID)
    for t in range(K):
        logits = model.decode(memory, b["attention_mask"], decoder_ids[:, :t + 1], b["decoder_positions"][:, :t + 1],
                              b["decoder_attention_mask"][:, :t + 1])  # (B, t + 1, V)
        predicted[:, t] = logits[:, t].argmax(-1)
        if t + 1 < K:
            decoder_ids[:, t + 1] = predicted[:, t]
    model.train(was_training)
    return predicted.masked_fill(~valid, PAD_ID).cpu()


def show_reconstruction(tokenizer, batch: Batch, row: int, predicted: torch.Tensor | None = None) -> str:
    """``left ⟦span⟧ right`` of one row: the original span, or the ``predicted`` one in its place.
    A bracket inside a word (a span that starts or ends on a ``##`` piece) is written without a space."""
    start, end = int(batch["span_start"][row]), int(batch["span_end"][row])
    ids = batch["input_ids"][row].tolist()
    length = int(batch["attention_mask"][row].sum())
    span = batch["labels"][row, :end - start] if predicted is None else predicted[row, :end - start]
    (left, _), (middle, glued_middle), (right, glued_right) = (
        _words(tokenizer, part) for part in (ids[1:start], span.tolist(), ids[end:length - 1]))
    return (f"{left}{'' if glued_middle else ' '}⟦{middle}⟧{'' if glued_right else ' '}{right}").strip()


def _words(tokenizer, ids: list[int]) -> tuple[str, bool]:
    """Text of some WordPiece ids, and whether it continues the word before it (starts with ##)."""
    tokens = [tokenizer.id_to_token(i) for i in ids]
    glued = bool(tokens) and tokens[0].startswith("##")
    if glued:
        tokens[0] = tokens[0][2:]
    return (tokenizer.decoder.decode(tokens) if tokens else ""), glued


__all__ = ["MassConfig", "MassData", "MassModel", "MassOutput", "MassTask", "SpanDecoder", "choose_span",
           "choose_spans", "greedy_fill", "mass_inputs", "parse_span", "show_reconstruction", "span_lengths"]
