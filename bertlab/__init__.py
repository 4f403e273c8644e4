"""bertlab: an interactive teaching workbench for BERT, ALBERT, DistilBERT and TinyBERT.

    from bertlab import BertConfig, get_preset, BertForPreTraining, load_run
"""

from bertlab.config import PRESETS, BertConfig, get_preset
from bertlab.model import (BertForPreTraining, BertForSequenceClassification, BertForTokenClassification,
                           BertModel)

__version__ = "0.1.0"


def load_run(path, checkpoint=None):
    """Model, tokenizer and settings of a run folder (see ``bertlab.train.run.load_run``)."""
    # not at the top: `import bertlab.config` would otherwise load the training loop and every model class
    from bertlab.train.run import load_run as _load_run

    return _load_run(path, checkpoint)


__all__ = ["BertConfig", "PRESETS", "get_preset", "BertModel", "BertForPreTraining",
           "BertForSequenceClassification", "BertForTokenClassification", "load_run", "__version__"]
