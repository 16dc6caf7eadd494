"""The embedded all-MiniLM-L6-v2 loads offline, converts and runs the documented inference API."""

from models.backbones import load_tokenizer, resolve_backbone
from models.modeling_tf_bert import TFBertForSequenceClassification

import numpy as np
import pytest


@pytest.fixture(scope="module")
def backbone():
    model = TFBertForSequenceClassification.from_pretrained(resolve_backbone("all-MiniLM-L6-v2"), num_labels=2)
    return model, load_tokenizer("all-MiniLM-L6-v2")


def test_pretrained_weights_are_loaded_not_random(backbone):
    model, _ = backbone
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    word = model.bert.embeddings.weight.numpy()
    # Random init would give std ~0.02 everywhere; trained MiniLM embeddings are far from it.
    assert abs(word.std() - 0.02) > 0.005


def test_inference_api_runs_with_token_removal(backbone):
    model, tokenizer = backbone
    model.to_AdapLeR()
    encoded = tokenizer("a sample text.", return_tensors="tf")
    outputs = model(encoded, lr_mode=True)
    assert outputs.logits.shape == (1, 2)
    assert len(outputs.lengths) == 6
    assert float(outputs.lengths[0][0]) <= encoded["input_ids"].shape[1]
    batch = tokenizer(["a sample text.", "another, somewhat longer sample text here."], padding=True,
                      return_tensors="tf")
    batched = model(batch, lr_mode=True).logits.numpy()
    alone = model(tokenizer("a sample text.", return_tensors="tf"), lr_mode=True).logits.numpy()
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-4)
