"""Masked language modelling: which tokens the model must predict, and what it sees in their place.

BERT §3.1 (Task #1: Masked LM) and Appendix A.1:

1. Choose 15 % of the tokens at random, never a special token ([CLS], [SEP], [PAD]).
2. Of the chosen tokens
   - 80 % are replaced by [MASK]           my dog is hairy → my dog is [MASK]
   - 10 % are replaced by a random token   my dog is hairy → my dog is apple
   - 10 % are left unchanged               my dog is hairy → my dog is hairy
   Why not always [MASK]? [MASK] never appears when the model is fine-tuned; the random and unchanged
   cases make the model keep a good representation of *every* input token, not only of [MASK].
3. The loss is computed only at the chosen positions: every other label is -100, which
   ``cross_entropy(..., ignore_index=-100)`` skips.

Whole-word masking (BERT's 2019 release, "BERT-wwm" for Chinese by Cui et al. 2019): choose *words*, not
tokens, and mask every piece of a chosen word: ``phil ##am ##mon`` all together, or all characters of a
Chinese word (今天 → [MASK][MASK]). Static vs dynamic masking (RoBERTa §4.1) is only a question of *when*
this function is called: once when the dataset is built, or every time a batch is served.

Each token (or word) is chosen independently with probability 0.15, as RoBERTa and Hugging Face do;
BERT's original script drew exactly round(0.15·n) positions per sequence — the same rate on average.
Everything is vectorised over the batch and all randomness comes from ``generator``.

Which of the three cases a chosen position fell into is what the model *saw* there, so ``masking_cases`` reads it
back from the masked input and the labels. Accuracy must be split by it: an unchanged position shows the answer,
and a model that only copies its input scores well there while knowing nothing (``mlm_acc_unchanged`` vs
``mlm_acc_mask`` in ``bertlab.train.pretraining``).
"""

from __future__ import annotations

import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.tokenizer import MASK_ID, NUM_SPECIAL_TOKENS

# What the model sees at a chosen position (``masking_cases``); the names are the suffixes of the metrics
# mlm_acc_mask, mlm_acc_random, mlm_acc_unchanged
NOT_CHOSEN, MASKED, REPLACED, KEPT = -1, 0, 1, 2
CASE_NAMES = ("mask", "random", "unchanged")  # CASE_NAMES[MASKED] == "mask", ...


def choose_positions(special_tokens_mask: torch.Tensor, mlm_probability: float = 0.15,
                     word_ids: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean (B, T): the positions the model must predict.

    Token masking: every non-special token is chosen with probability ``mlm_probability``.
    Whole-word masking (``word_ids`` given, (B, T), the same id on every piece of a word, -1 on specials):
    every *word* is chosen with that probability, and all of its pieces follow the word's choice.
    """
    B, T = special_tokens_mask.shape
    draws = torch.rand((B, T), generator=generator)  # one uniform number per position
    if word_ids is not None:
        # Give every piece of a word the draw of the word's first piece: a word is chosen or not, whole.
        new_word = torch.ones((B, T), dtype=torch.bool)
        new_word[:, 1:] = word_ids[:, 1:] != word_ids[:, :-1]  # True where a new word starts
        first_piece = torch.where(new_word, torch.arange(T).expand(B, T), 0)
        first_piece = torch.cummax(first_piece, dim=1).values  # (B, T) index of the word's first piece
        draws = draws.gather(1, first_piece)
    chosen = draws < mlm_probability
    return chosen & ~special_tokens_mask.bool()  # special tokens are never chosen


def mask_tokens(input_ids: torch.Tensor, special_tokens_mask: torch.Tensor, vocab_size: int,
                mask_token_id: int = MASK_ID, mlm_probability: float = 0.15,
                word_ids: torch.Tensor | None = None, generator: torch.Generator | None = None,
                num_special_tokens: int = NUM_SPECIAL_TOKENS) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's 80/10/10 rule. ``input_ids`` (B, T) → (masked_input_ids (B, T), labels (B, T)).

    ``special_tokens_mask`` (B, T) is True on [CLS], [SEP] and [PAD]; ids below ``num_special_tokens``
    are never drawn as random replacements. ``labels`` holds the original token where chosen, -100 elsewhere.
    """
    input_ids = torch.as_tensor(input_ids)
    if input_ids.dim() == 1:  # one sequence: treat it as a batch of one
        masked, labels = mask_tokens(input_ids[None], torch.as_tensor(special_tokens_mask)[None], vocab_size,
                                     mask_token_id, mlm_probability,
                                     None if word_ids is None else torch.as_tensor(word_ids)[None],
                                     generator, num_special_tokens)
        return masked[0], labels[0]
    if word_ids is not None:
        word_ids = torch.as_tensor(word_ids)
    chosen = choose_positions(torch.as_tensor(special_tokens_mask), mlm_probability, word_ids, generator)

    # The loss looks only at the chosen positions.
    labels = torch.where(chosen, input_ids, IGNORE_INDEX)

    # One more uniform number per chosen position decides what the model sees there
    # (per token even under whole-word masking, as in Google's and Hugging Face's code).
    action = torch.rand(input_ids.shape, generator=generator)
    masked = input_ids.clone()

    # 80 %: replace with [MASK]               my dog is hairy → my dog is [MASK]
    to_mask = chosen & (action < 0.8)
    masked[to_mask] = mask_token_id

    # 10 %: replace with a random real token  my dog is hairy → my dog is apple
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    random_tokens = torch.randint(num_special_tokens, vocab_size, input_ids.shape, generator=generator,
                                  dtype=input_ids.dtype)
    masked[to_random] = random_tokens[to_random]

    # 10 %: keep the original token           my dog is hairy → my dog is hairy (still predicted)
    return masked, labels


def masking_cases(masked_input_ids: torch.Tensor, labels: torch.Tensor,
                  mask_token_id: int = MASK_ID) -> torch.Tensor:
    """(B, T) int: the case of the 80/10/10 rule the model saw at each chosen position, -1 (``NOT_CHOSEN``) elsewhere.

    ``MASKED`` where the input is [MASK], ``KEPT`` where the input is the label itself, ``REPLACED`` otherwise.
    Read from the masked input rather than from the draws, so it holds for masks made when the data was built
    (static masking), for whole-word and knowledge masking, and for batches changed after masking (UNILM's causal
    rows turn a kept token into [MASK]). A random replacement that drew the original token (about 1 in V of them)
    shows the model the answer, and counts as ``KEPT``: what the model saw, not what the dice said.
    """
    case = torch.where(masked_input_ids == mask_token_id, MASKED,
                       torch.where(masked_input_ids == labels, KEPT, REPLACED))  # (B, T)
    return torch.where(labels != IGNORE_INDEX, case, NOT_CHOSEN)
