"""Published parameter counts next to bertlab's counts of the same shapes (ALBERT Table 1 and 2,
DistilBERT §3, TinyBERT §4.1), with what explains each gap."""

from __future__ import annotations

from bertlab.analysis.params import count_parameters
from bertlab.config import get_preset

ALBERT_V = 30000  # the ALBERT paper counts every model with its 30k SentencePiece vocabulary

# (label, preset, overrides, published size in millions, source, note)
PAPER_SIZES = [
    ("BERT-base", "bert-base", {"vocab_size": ALBERT_V}, 108, "ALBERT Table 1", ""),
    ("BERT-large", "bert-large", {"vocab_size": ALBERT_V}, 334, "ALBERT Table 1", ""),
    ("ALBERT-base", "albert-base", {}, 12, "ALBERT Table 1", ""),
    ("ALBERT-large", "albert-large", {}, 18, "ALBERT Table 1", ""),
    ("ALBERT-xlarge", "albert-xlarge", {}, 60, "ALBERT Table 1", ""),
    ("ALBERT-xxlarge", "albert-xxlarge", {}, 235, "ALBERT Table 1",
     "the released xxlarge checkpoint (and transformers' AlbertModel) has 223M too: the paper's 235M is not "
     "reproducible from the published shape"),
    ("ALBERT-base E=768 all-shared", "albert-base", {"embedding_size": None}, 31, "ALBERT Table 4", ""),
    ("ALBERT-base E=128 not-shared", "albert-base", {"share_layers": "none"}, 89, "ALBERT Table 4", ""),
    ("DistilBERT", "distilbert", {}, 66, "DistilBERT Table 3", ""),
    ("TinyBERT-4", "tinybert-4", {}, 14.5, "TinyBERT Table 1", ""),
    ("TinyBERT-6", "tinybert-6", {}, 67, "TinyBERT Table 1", ""),
]


def paper_size_rows() -> list[dict]:
    rows = []
    for label, preset, overrides, published, source, note in PAPER_SIZES:
        count = count_parameters(get_preset(preset, **overrides))
        rows.append({"model": label, "published_M": published, "source": source,
                     "backbone_M": round(count.backbone / 1e6, 1), "with_pooler_M": round(
                         (count.backbone + count.by_component["pooler"]) / 1e6, 1),
                     "total_M": round(count.total / 1e6, 1), "note": note})
    return rows


def paper_size_markdown() -> str:
    lines = ["| model | published | bertlab: embeddings + encoder | + pooler | + MLM/NSP heads | source |",
             "|---|---:|---:|---:|---:|---|"]
    for r in paper_size_rows():
        lines.append(f"| {r['model']} | {r['published_M']}M | {r['backbone_M']}M | {r['with_pooler_M']}M | "
                     f"{r['total_M']}M | {r['source']} |")
    notes = [f"- {r['model']}: {r['note']}" for r in paper_size_rows() if r["note"]]
    return "\n".join(lines + ([""] + notes if notes else []))
