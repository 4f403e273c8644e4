"""The rest of the BERT family (docs/algorithms.md, docs/family.md), each as a small experiment with the same tools.

- ``unilm``: one encoder, three self-attention masks (UNILM, Dong et al. 2019 §2.2–2.3).
- ``knowledge``: ERNIE 1.0's phrase- and entity-level masking (Sun et al. 2019 §3.2).
- ``mass``: masked sequence-to-sequence pre-training with a small decoder (MASS, Song et al. 2019 §2).
- ``compression``: dynamic int8 quantization and magnitude / attention-head pruning.
"""
