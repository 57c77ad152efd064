"""The shipped ensemble: its arithmetic (mean probability), its export, and its accuracy claim."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.mnist import MNIST_MEAN, MNIST_STD, load_test
from core.train.ensemble import Ensemble
from core.infer.runtime import SHIPPED_DIR, load_model, run_model
from core.infer.model_card import ENSEMBLE_KEY, read_card
from core.train.convnet import build_model
from core.arch.spec import spec_to_dict
from scripts.train_ensemble import CONFIG, NAME, SEEDS, TITLE
from scripts.train_shipped_models import SHIPPED_CNN


def test_logits_are_the_log_of_the_mean_probability():
    torch.manual_seed(0)
    members = [build_model(SHIPPED_CNN).eval() for _ in range(3)]
    x = torch.randn(5, 1, 28, 28)
    with torch.inference_mode():
        logits, acts = Ensemble(members).forward_with_activations(x)
        mean = torch.stack([torch.softmax(m(x), 1) for m in members]).mean(0)
        first_acts = members[0].forward_with_activations(x)[1]
    np.testing.assert_allclose(torch.softmax(logits, 1).numpy(), mean.numpy(), rtol=1e-5, atol=1e-7)
    assert len(acts) == len(first_acts) and all(torch.equal(a, b) for a, b in zip(acts, first_acts))
    with pytest.raises(ValueError, match="at least two"):
        Ensemble(members[:1])


def test_the_shipped_ensemble_scores_what_its_sidecar_says():
    model = load_model(SHIPPED_DIR / f"{NAME}.onnx")
    card = model.card
    assert card.title == TITLE and card.architecture == spec_to_dict(SHIPPED_CNN)
    assert card.extra[ENSEMBLE_KEY]["members"] == len(SEEDS) == 3
    assert card.training["seeds"] == list(SEEDS) and card.training["epochs"] == CONFIG.epochs
    assert "layer_outputs" not in card.extra  # parallel networks: the network page explains instead
    test = load_test()
    x = ((test.images.astype(np.float32) / 255 - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD))[:, None]
    predicted = np.concatenate([run_model(model, x[i:i + 1000]).logits.argmax(1) for i in range(0, len(x), 1000)])
    accuracy = float((predicted == test.labels).mean())
    assert accuracy == pytest.approx(card.test_accuracy, abs=1e-4)
    assert accuracy >= 0.99  # a shipped model above 99 % from the 5,000 shipped digits alone
    assert all(a < accuracy for a in card.training["member_test_accuracy"])  # the ensemble beats each member


def test_the_network_page_explains_an_ensemble():
    from tests.apptest_checks import open_clean

    at = open_clean("pages/network.py", m=NAME)
    assert any("is an ensemble" in i.value for i in at.info)
    assert read_card(SHIPPED_DIR / f"{NAME}.onnx").test_accuracy >= 0.99
