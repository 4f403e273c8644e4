"""Knowledge distillation: DistilBERT (Sanh et al. 2019) and TinyBERT (Jiao et al. 2020).

- ``losses``: one small function per formula (soft cross-entropy, cosine, embedding / hidden / attention MSE);
- ``mapping``: the layer map g(m), width projections W_e / W_h, DistilBERT's every-other-layer initialisation;
- ``objectives``: all components of a batch and their weighted total (``tinybert_losses``, ``distilbert_losses``).
"""

from bertlab.distill.losses import (attention_loss, check_head_counts, cosine_hidden_loss, embedding_loss,
                                    hidden_loss, masked_mse, match_heads, soft_cross_entropy)
from bertlab.distill.mapping import (Projections, init_student_from_teacher, resolve_init_layers,
                                     uniform_layer_map, validate_layer_map)
from bertlab.distill.objectives import DISTILBERT_WEIGHTS, TINYBERT_WEIGHTS, distilbert_losses, tinybert_losses

__all__ = ["soft_cross_entropy", "cosine_hidden_loss", "masked_mse", "embedding_loss", "hidden_loss",
           "attention_loss", "check_head_counts", "match_heads", "uniform_layer_map", "validate_layer_map",
           "Projections", "resolve_init_layers", "init_student_from_teacher", "tinybert_losses",
           "distilbert_losses", "TINYBERT_WEIGHTS", "DISTILBERT_WEIGHTS"]
