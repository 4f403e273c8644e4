"""Convert between bertlab and Hugging Face transformers models with identical weights.

- E = H, no sharing      <-> ``BertForPreTraining``
- E != H or all-shared   <-> ``AlbertForPreTraining`` (one ALBERT layer group per distinct layer)
- attention-only / FFN-only sharing and pre-LN have no transformers equivalent: a clear error says so.

transformers is imported lazily: bertlab itself does not need it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bertlab.config import BertConfig
from bertlab.model import BertForPreTraining
from bertlab.model.encoder import layer_maps

_BLOCK_NAMES = {  # our name inside a block -> (BERT name inside layer i, ALBERT name inside a group's layer)
    "attention.query": ("attention.self.query", "attention.query"),
    "attention.key": ("attention.self.key", "attention.key"),
    "attention.value": ("attention.self.value", "attention.value"),
    "output": ("attention.output.dense", "attention.dense"),
    "norm": ("attention.output.LayerNorm", "attention.LayerNorm"),
}
_FFN_NAMES = {
    "intermediate": ("intermediate.dense", "ffn"),
    "output": ("output.dense", "ffn_output"),
    "norm": ("output.LayerNorm", "full_layer_layer_norm"),
}


def transformers_family(config: BertConfig) -> str:
    """"bert" or "albert": which transformers architecture holds this config exactly."""
    if config.norm_placement != "post":
        raise ValueError("norm_placement='pre' has no transformers equivalent (BERT and ALBERT are post-LN)")
    if config.share_layers in ("attention", "ffn"):
        raise ValueError(f"share_layers={config.share_layers!r} has no transformers equivalent: ALBERT shares "
                         f"whole layers; use share_layers='all' or 'none'")
    if config.num_languages:
        raise ValueError(f"num_languages={config.num_languages}: XLM's language embeddings have no place in "
                         "transformers' BERT or ALBERT (its XLM models use another architecture)")
    return "albert" if config.is_factorized or config.share_layers == "all" else "bert"


def key_map(config: BertConfig) -> dict[str, str]:
    """bertlab state-dict key -> transformers key, for every parameter of ``BertForPreTraining``."""
    family = transformers_family(config)
    albert = family == "albert"
    top = "albert" if albert else "bert"
    keys: dict[str, str] = {}

    def add(ours: str, theirs: str, bias: bool = True) -> None:
        for suffix in ("weight", "bias") if bias else ("weight",):
            keys[f"{ours}.{suffix}"] = f"{theirs}.{suffix}"

    for table in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        add(f"bert.embeddings.{table}", f"{top}.embeddings.{table}", bias=False)
    add("bert.embeddings.norm", f"{top}.embeddings.LayerNorm")
    if config.is_factorized:
        add("bert.embeddings.projection", "albert.encoder.embedding_hidden_mapping_in")
    attention_map, _ = layer_maps(config)
    for i in range(max(attention_map) + 1):
        layer = f"albert.encoder.albert_layer_groups.{i}.albert_layers.0" if albert else f"bert.encoder.layer.{i}"
        for ours, names in _BLOCK_NAMES.items():
            add(f"bert.encoder.attention_blocks.{i}.{ours}", f"{layer}.{names[albert]}")
        for ours, names in _FFN_NAMES.items():
            add(f"bert.encoder.ffn_blocks.{i}.{ours}", f"{layer}.{names[albert]}")
    head = "predictions" if albert else "cls.predictions"
    add("bert.pooler.dense", "albert.pooler" if albert else "bert.pooler.dense")
    add("mlm.dense", f"{head}.dense" if albert else f"{head}.transform.dense")
    add("mlm.norm", f"{head}.LayerNorm" if albert else f"{head}.transform.LayerNorm")
    keys["mlm.bias"] = f"{head}.bias"
    add("nsp.classifier", "sop_classifier.classifier" if albert else "cls.seq_relationship")
    return keys


def transformers_config(config: BertConfig):
    import transformers

    common = dict(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                  num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
                  intermediate_size=config.intermediate_size, hidden_act=config.hidden_act,
                  hidden_dropout_prob=config.hidden_dropout_prob,
                  attention_probs_dropout_prob=config.attention_probs_dropout_prob,
                  max_position_embeddings=config.max_position_embeddings, type_vocab_size=config.type_vocab_size,
                  layer_norm_eps=config.layer_norm_eps, initializer_range=config.initializer_range,
                  pad_token_id=config.pad_token_id)
    if transformers_family(config) == "bert":
        return transformers.BertConfig(**common)
    groups = 1 if config.share_layers == "all" else config.num_hidden_layers
    return transformers.AlbertConfig(embedding_size=config.E, num_hidden_groups=groups, inner_group_num=1,
                                     classifier_dropout_prob=config.hidden_dropout_prob, **common)


def to_transformers(model: BertForPreTraining, attn_implementation: str = "eager"):
    """A transformers BertForPreTraining / AlbertForPreTraining with ``model``'s weights."""
    import transformers

    config = model.config
    hf_config = transformers_config(config)
    hf_config._attn_implementation = attn_implementation
    cls = transformers.BertForPreTraining if isinstance(hf_config, transformers.BertConfig) \
        else transformers.AlbertForPreTraining
    hf_model = cls(hf_config)
    ours = model.state_dict()
    mapped = {theirs: ours[mine].detach().clone() for mine, theirs in key_map(config).items()}
    if transformers_family(config) == "albert" and not config.is_factorized:
        # ALBERT always projects E -> H; with E = H, bertlab has no projection: use the identity
        mapped["albert.encoder.embedding_hidden_mapping_in.weight"] = torch.eye(config.hidden_size)
        mapped["albert.encoder.embedding_hidden_mapping_in.bias"] = torch.zeros(config.hidden_size)
    missing, unexpected = hf_model.load_state_dict(mapped, strict=False)
    untied = [k for k in missing if not k.endswith(("decoder.weight", "decoder.bias")) and "position_ids" not in k]
    if untied or unexpected:
        raise RuntimeError(f"weight mapping is incomplete: missing {untied}, unexpected {unexpected}")
    hf_model.tie_weights()
    head = hf_model.predictions if hasattr(hf_model, "predictions") else hf_model.cls.predictions
    with torch.no_grad():  # the decoder is tied to the word embeddings and to the head bias
        head.decoder.weight.copy_(ours["bert.embeddings.word_embeddings.weight"])
        head.decoder.bias.copy_(ours["mlm.bias"])
    return hf_model.train(model.training)


def config_from_transformers(hf_config) -> BertConfig:
    """The bertlab config of a transformers BertConfig / AlbertConfig."""
    fields = dict(vocab_size=hf_config.vocab_size, hidden_size=hf_config.hidden_size,
                  num_hidden_layers=hf_config.num_hidden_layers, num_attention_heads=hf_config.num_attention_heads,
                  intermediate_size=hf_config.intermediate_size, hidden_act=hf_config.hidden_act,
                  hidden_dropout_prob=hf_config.hidden_dropout_prob,
                  attention_probs_dropout_prob=hf_config.attention_probs_dropout_prob,
                  max_position_embeddings=hf_config.max_position_embeddings,
                  type_vocab_size=hf_config.type_vocab_size, layer_norm_eps=hf_config.layer_norm_eps,
                  initializer_range=hf_config.initializer_range, pad_token_id=hf_config.pad_token_id or 0)
    if hf_config_is_albert(hf_config):
        groups = hf_config.num_hidden_groups
        if getattr(hf_config, "inner_group_num", 1) != 1 or groups not in (1, hf_config.num_hidden_layers):
            raise ValueError(f"ALBERT with num_hidden_groups={groups}, inner_group_num={hf_config.inner_group_num}"
                             f" has no bertlab equivalent (bertlab: 1 group = all shared, or one per layer)")
        share = "all" if groups == 1 and hf_config.num_hidden_layers > 1 else "none"
        embedding = hf_config.embedding_size if hf_config.embedding_size != hf_config.hidden_size else None
        return BertConfig(embedding_size=embedding, share_layers=share, **fields)
    if hf_config.model_type != "bert":
        raise ValueError(f"cannot convert a transformers {hf_config.model_type!r} model; bert and albert are supported")
    return BertConfig(**fields)


def hf_config_is_albert(hf_config) -> bool:
    return hf_config.model_type == "albert"


def from_transformers(hf_model) -> BertForPreTraining:
    """A bertlab BertForPreTraining with the weights of a transformers Bert/AlbertForPreTraining."""
    config = config_from_transformers(hf_model.config)
    model = BertForPreTraining(config)
    theirs = hf_model.state_dict()
    if hf_config_is_albert(hf_model.config) and not config.is_factorized:
        projection = theirs["albert.encoder.embedding_hidden_mapping_in.weight"]
        if not torch.equal(projection, torch.eye(config.hidden_size)) or \
                theirs["albert.encoder.embedding_hidden_mapping_in.bias"].any():
            raise ValueError("this ALBERT model has E = H but a trained E->H projection; bertlab models with "
                             "E = H have none. Convert a model with embedding_size < hidden_size instead")
    missing = [t for t in key_map(config).values() if t not in theirs]
    if missing:
        raise ValueError(f"the transformers model lacks {len(missing)} weights bertlab needs "
                         f"(e.g. {missing[:3]}); pass a *ForPreTraining model")
    model.load_state_dict({mine: theirs[t].detach().clone() for mine, t in key_map(config).items()})
    return model.train(hf_model.training)


def export_pretrained(model: BertForPreTraining, path: str | Path, tokenizer=None) -> Path:
    """Write a folder that ``transformers.AutoModelForMaskedLM.from_pretrained(path)`` loads
    (and ``AutoTokenizer`` too, when a ``tokenizers.Tokenizer`` is given)."""
    path = Path(path)
    to_transformers(model).save_pretrained(path)
    if tokenizer is not None:
        import transformers

        fast = transformers.PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
            sep_token="[SEP]", mask_token="[MASK]")
        fast.save_pretrained(path)
    return path
