"""WordPiece tokenizers trained on a corpus with the ``tokenizers`` library (BERT §3, Wu et al. 2016).

The pipeline is BERT's: Unicode NFKC (full-width "１９９８" → "1998"), BERT's normaliser (optional lower-
casing and accent stripping; a space around every CJK character, so Chinese is tokenized by character
as in BERT-Chinese), splitting on whitespace and punctuation, then WordPiece with ``##`` continuations.
Special tokens are fixed for every bertlab tokenizer: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.

Trained tokenizers are cached under ``cache_dir()/tokenizers`` keyed by corpus name, corpus fingerprint,
vocabulary size and casing; a model's run folder keeps its own copy as ``tokenizer.json``.
"""

from __future__ import annotations

import re
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from bertlab.data.corpus import load_corpus
from bertlab.io import atomic_path
from bertlab.paths import cache_dir

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)  # ids below this are special; every other id is a real token


def new_wordpiece_tokenizer(lowercase: bool = True) -> Tokenizer:
    """An untrained BERT-style WordPiece tokenizer."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##",
                                           max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.NFKC(),
        normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                   lowercase=lowercase)])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def _add_bert_template(tokenizer: Tokenizer) -> None:
    # [CLS] A [SEP] for one segment; [CLS] A [SEP] B [SEP] with token_type_ids 0…0 1…1 for a pair.
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)])


def train_tokenizer(texts, vocab_size: int = 8192, lowercase: bool = True, min_frequency: int = 2) -> Tokenizer:
    """Train WordPiece on an iterable of strings (sentences with their words separated by spaces)."""
    if vocab_size <= NUM_SPECIAL_TOKENS + 1:
        raise ValueError(f"vocab_size {vocab_size} is too small: it must hold the 5 special tokens and more")
    tokenizer = new_wordpiece_tokenizer(lowercase)
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=list(SPECIAL_TOKENS), continuing_subword_prefix="##",
                                        show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    _add_bert_template(tokenizer)
    check_special_tokens(tokenizer)
    return tokenizer


def check_special_tokens(tokenizer: Tokenizer, where: str = "the tokenizer") -> Tokenizer:
    """Raise unless [PAD] [UNK] [CLS] [SEP] [MASK] are ids 0–4, which every bertlab model assumes."""
    for token_id, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != token_id:
            raise ValueError(f"{where}: {token} has id {tokenizer.token_to_id(token)}, expected {token_id}; "
                             f"bertlab needs {', '.join(f'{t}={i}' for i, t in enumerate(SPECIAL_TOKENS))}")
    return tokenizer


def tokenizer_cache_path(corpus, vocab_size: int, lowercase: bool) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", corpus.name)
    casing = "lower" if lowercase else "cased"
    return cache_dir() / "tokenizers" / f"{safe}-{corpus.fingerprint}-v{vocab_size}-{casing}.json"


def get_tokenizer(corpus="wiki-en", vocab_size: int = 8192, lowercase: bool = True,
                  cache: bool = True) -> Tokenizer:
    """The WordPiece tokenizer for ``corpus`` (a Corpus or anything ``load_corpus`` takes), trained once."""
    corpus = load_corpus(corpus)
    path = tokenizer_cache_path(corpus, vocab_size, lowercase)
    if cache and path.exists():
        try:
            return check_special_tokens(Tokenizer.from_file(str(path)), str(path))
        except Exception:  # noqa: BLE001 - a damaged cache file: train again
            pass
    tokenizer = train_tokenizer((" ".join(s) for s in corpus.sentences()), vocab_size, lowercase)
    if cache:
        save_tokenizer(tokenizer, path)
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, path: str | Path) -> Path:
    """Write ``tokenizer.json`` atomically (the tokenizers library's own format)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tokenizer.save(str(tmp))
    return path


def read_tokenizer_file(path: str | Path) -> Tokenizer:
    """``Tokenizer.from_file``, with a damaged file (truncated, not a tokenizer) named in a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file {path} does not exist")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:  # noqa: BLE001 - the tokenizers library raises a bare Exception
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path} is not a readable tokenizer.json ({reason}); the file is damaged or truncated: "
                         f"copy it again from the run that made it") from None


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a ``tokenizer.json`` (a file, or a run folder holding one) and check its special tokens."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    return check_special_tokens(read_tokenizer_file(path), str(path))


def encode_words(tokenizer: Tokenizer, sentences: list[list[str]], add_special_tokens: bool = False):
    """Encode pre-split sentences; ``encoding.word_ids[t]`` is the word that token ``t`` came from,
    so every WordPiece of "hairy" (hair ##y) or every character of 中国 shares one word id."""
    return tokenizer.encode_batch(sentences, is_pretokenized=True, add_special_tokens=add_special_tokens)
