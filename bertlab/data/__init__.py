"""Pre-training data: corpora → WordPiece tokens → NSP / SOP / full-sentence inputs → masked batches.

    corpus = load_corpus("wiki-en")                      # documents → sentences → words
    train, held_out = corpus.split(0.1, seed=0)          # by document
    tokenizer = get_tokenizer(corpus, vocab_size=8192)   # WordPiece, cached on disk
    data = PretrainingDataset(train, tokenizer, objective="mlm+nsp", masking="dynamic")
    batch = data.batch(step=0, batch_size=32)            # input_ids, attention_mask, token_type_ids, labels, ...
"""

from bertlab.config import IGNORE_INDEX
from bertlab.data.builtin import BUILTIN_CORPORA, DEFAULT_CORPUS
from bertlab.data.collator import PretrainingCollator
from bertlab.data.corpus import Corpus, list_corpora, load_corpus
from bertlab.data.datasets import (Examples, PretrainingDataset, UnigramBaseline, derive_seed, most_frequent_token,
                                   pack_instances, unigram_baseline)
from bertlab.data.demo import format_masked, mask_text
from bertlab.data.masking import (CASE_NAMES, KEPT, MASKED, NOT_CHOSEN, REPLACED, choose_positions, mask_tokens,
                                  masking_cases)
from bertlab.data.pairs import IN_ORDER, IS_NEXT, NOT_NEXT, SWAPPED, Instance, full_sentence_instances, pair_instances
from bertlab.data.tokenized import TokenizedCorpus, tokenize_corpus
from bertlab.data.tokenizer import (CLS_ID, MASK_ID, NUM_SPECIAL_TOKENS, PAD_ID, SEP_ID, SPECIAL_TOKENS, UNK_ID,
                                    get_tokenizer, load_tokenizer, save_tokenizer, train_tokenizer)

__all__ = [
    "BUILTIN_CORPORA", "DEFAULT_CORPUS", "Corpus", "list_corpora", "load_corpus",
    "SPECIAL_TOKENS", "PAD_ID", "UNK_ID", "CLS_ID", "SEP_ID", "MASK_ID", "NUM_SPECIAL_TOKENS",
    "get_tokenizer", "train_tokenizer", "load_tokenizer", "save_tokenizer",
    "TokenizedCorpus", "tokenize_corpus",
    "IGNORE_INDEX", "choose_positions", "mask_tokens", "masking_cases", "CASE_NAMES", "NOT_CHOSEN", "MASKED",
    "REPLACED", "KEPT",
    "Instance", "pair_instances", "full_sentence_instances", "IS_NEXT", "NOT_NEXT", "IN_ORDER", "SWAPPED",
    "PretrainingCollator", "PretrainingDataset", "Examples", "pack_instances", "derive_seed",
    "UnigramBaseline", "unigram_baseline", "most_frequent_token", "mask_text", "format_masked",
]
