"""Examples → a padded batch of tensors, masked on the fly (dynamic masking, RoBERTa §4.1).

An example is a dict of 1-D arrays: ``input_ids``, ``token_type_ids``, ``special_tokens_mask``,
``word_ids`` (-1 on special tokens) and ``next_sentence_label`` (absent for full sentences). When the
example already carries ``labels`` it was masked when the dataset was built (static masking) and the
collator only pads it.
"""

from __future__ import annotations

import numpy as np
import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.masking import mask_tokens
from bertlab.data.tokenizer import MASK_ID, NUM_SPECIAL_TOKENS, PAD_ID


class PretrainingCollator:
    """``collator(examples, generator=None) -> {input_ids, attention_mask, token_type_ids, labels,
    next_sentence_label}``, every tensor (B, T) except ``next_sentence_label`` (B,)."""

    def __init__(self, tokenizer=None, mlm_probability: float = 0.15, whole_word: bool = False,
                 vocab_size: int | None = None, pad_to_multiple_of: int | None = None, seed: int = 0):
        if vocab_size is None:
            if tokenizer is None:
                raise ValueError("PretrainingCollator needs a tokenizer or a vocab_size")
            vocab_size = tokenizer.get_vocab_size()
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be between 0 and 1, got {mlm_probability}")
        self.vocab_size = vocab_size
        self.mlm_probability = mlm_probability
        self.whole_word = whole_word
        self.pad_to_multiple_of = pad_to_multiple_of
        self.generator = torch.Generator().manual_seed(seed)  # used when a call brings no generator

    def __call__(self, examples: list[dict], generator: torch.Generator | None = None) -> dict:
        lengths = np.array([len(e["input_ids"]) for e in examples])
        T = self._padded_length(int(lengths.max()))
        fields = {"input_ids": PAD_ID, "token_type_ids": 0, "special_tokens_mask": True, "word_ids": -1}
        if "labels" in examples[0]:
            fields["labels"] = IGNORE_INDEX
        arrays = {name: np.full((len(examples), T), fill, dtype=np.int64) for name, fill in fields.items()}
        for row, example in enumerate(examples):
            for name in fields:
                arrays[name][row, :lengths[row]] = example[name]
        nsp = None
        if examples[0].get("next_sentence_label") is not None:
            nsp = np.array([e["next_sentence_label"] for e in examples])
        return self.collate_arrays(lengths=lengths, next_sentence_label=nsp, generator=generator, **arrays)

    def _padded_length(self, longest: int) -> int:
        m = self.pad_to_multiple_of
        return longest if not m else -(-longest // m) * m

    def collate_arrays(self, input_ids, token_type_ids, special_tokens_mask, word_ids, lengths,
                       next_sentence_label=None, labels=None, generator=None) -> dict:
        """The batch from already padded (B, T) arrays: mask (unless ``labels`` are given) and convert."""
        input_ids = torch.as_tensor(input_ids, dtype=torch.long)  # (B, T)
        B, T = input_ids.shape
        attention_mask = (torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]).long()  # (B, T)
        if labels is None:
            input_ids, labels = mask_tokens(
                input_ids, torch.as_tensor(special_tokens_mask, dtype=torch.bool), self.vocab_size, MASK_ID,
                self.mlm_probability,
                word_ids=torch.as_tensor(word_ids, dtype=torch.long) if self.whole_word else None,
                generator=generator if generator is not None else self.generator,
                num_special_tokens=NUM_SPECIAL_TOKENS)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask,
                 "token_type_ids": torch.as_tensor(token_type_ids, dtype=torch.long),
                 "labels": torch.as_tensor(labels, dtype=torch.long)}
        if next_sentence_label is not None:
            batch["next_sentence_label"] = torch.as_tensor(next_sentence_label, dtype=torch.long)
        return batch
