"""Parity with Hugging Face transformers on identical weights (eval mode, fp32, within 1e-5)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bertlab.config import get_preset  # noqa: E402
from bertlab.interop import export_pretrained, from_transformers, to_transformers  # noqa: E402
from bertlab.model import BertForPreTraining  # noqa: E402

SHAPES = {
    "bert": dict(),
    "albert-factorized-shared": dict(embedding_size=32, share_layers="all", hidden_act="gelu_new"),
    "albert-factorized-unshared": dict(embedding_size=48),
    "albert-shared-e-equals-h": dict(share_layers="all", num_hidden_layers=3),
}


def inputs():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 300, (2, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    types = torch.zeros_like(ids)
    types[:, 6:] = 1
    return ids, mask, types


@pytest.mark.parametrize("name", SHAPES)
def test_outputs_match_transformers(name):
    torch.manual_seed(0)
    model = BertForPreTraining(get_preset("tiny", vocab_size=300, **SHAPES[name])).eval()
    hf = to_transformers(model).eval()
    expected = "AlbertForPreTraining" if name.startswith("albert") else "BertForPreTraining"
    assert type(hf).__name__ == expected
    ids, mask, types = inputs()
    ours = model(ids, mask, types, output_attentions=True, output_hidden_states=True, mlm_positions="all")
    theirs = hf(input_ids=ids, attention_mask=mask, token_type_ids=types, output_attentions=True,
                output_hidden_states=True)
    real = mask.bool()
    close = dict(atol=1e-5, rtol=0)
    assert torch.allclose(ours.last_hidden_state[real], theirs.hidden_states[-1][real], **close)
    for a, b in zip(ours.attentions, theirs.attentions, strict=True):
        assert torch.allclose(a, b, **close)
    assert torch.allclose(ours.prediction_logits[real], theirs.prediction_logits[real], **close)
    nsp = theirs.sop_logits if hasattr(theirs, "sop_logits") else theirs.seq_relationship_logits
    assert torch.allclose(ours.seq_relationship_logits, nsp, **close)


@pytest.mark.parametrize("name", SHAPES)
def test_round_trip_keeps_every_weight(name):
    model = BertForPreTraining(get_preset("tiny", vocab_size=300, **SHAPES[name]))
    back = from_transformers(to_transformers(model))
    assert back.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(value, back.state_dict()[key]), key


def test_unsupported_sharing_is_refused_clearly():
    with pytest.raises(ValueError, match="no transformers equivalent"):
        to_transformers(BertForPreTraining(get_preset("tiny", vocab_size=300, share_layers="ffn")))


def test_exported_folder_loads_with_auto_model(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    model = BertForPreTraining(get_preset("tiny", vocab_size=len(vocab))).eval()
    export_pretrained(model, tmp_path / "export", tokenizer)
    loaded = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "export").eval()
    auto_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "export")
    ids = torch.tensor([[2, 5, 4, 6, 3]])
    assert auto_tokenizer.mask_token_id == 4
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model(ids, mlm_positions="all").prediction_logits,
                              atol=1e-5)
