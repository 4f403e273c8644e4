import pytest

from bertlab.config import PRESETS, BertConfig, get_preset


def test_invalid_head_count_names_field_and_fix():
    with pytest.raises(ValueError, match=r"hidden_size 250 is not divisible by num_attention_heads 4.*e\.g\. 2, 5"):
        BertConfig(hidden_size=250, num_attention_heads=4)


@pytest.mark.parametrize("field,value", [("share_layers", "some"), ("hidden_act", "swish"), ("vocab_size", 0),
                                         ("embedding_size", -3), ("hidden_dropout_prob", 1.5),
                                         ("norm_placement", "middle")])
def test_invalid_values_fail_at_construction(field, value):
    with pytest.raises(ValueError, match=field):
        BertConfig(**{field: value})


def test_json_round_trip(tmp_path):
    config = get_preset("albert-base", embedding_size=64)
    config.to_json(tmp_path / "c.json")
    assert BertConfig.from_json(tmp_path / "c.json") == config
    assert BertConfig.from_json(config.to_json()) == config


def test_bad_json_file_names_file_and_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{\n  "hidden_size": 128,\n  oops\n}')
    with pytest.raises(ValueError, match=r"c\.json:3"):
        BertConfig.from_json(path)
    path.write_text('{"hidden_sise": 128}')
    with pytest.raises(ValueError, match="unknown BertConfig field.*hidden_sise"):
        BertConfig.from_json(path)


def test_presets_and_unknown_preset():
    assert {"bert-base", "bert-large", "albert-base", "albert-large", "albert-xlarge", "albert-xxlarge",
            "distilbert", "tinybert-4", "tinybert-6", "tiny", "small", "mini"} <= set(PRESETS)
    assert get_preset("albert-base").E == 128 and get_preset("bert-base").E == 768
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        get_preset("huge")
    assert get_preset("tiny") is not PRESETS["tiny"]  # callers may not mutate the preset table
