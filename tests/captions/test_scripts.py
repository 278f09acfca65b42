"""The real-data scripts offline: a bank from a folder of images, and a captioner trained on
COCO-style pairs with a language model from a local folder (a tiny GPT-2 config)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from brainenc.captions import Captioner, EmbeddingBank
from brainenc.world.captioner import build_world_captioner
from brainenc.world.stimuli import generate_stimuli


def _image_folder(folder, n=8):
    stim = generate_stimuli(n, 91_000)
    folder.mkdir()
    for i, image in enumerate(stim.images[:]):
        Image.fromarray(image).save(folder / f"im{i}.png")
    return stim


def test_build_caption_bank_from_a_folder(script, tmp_path):
    _image_folder(tmp_path / "images")
    out = tmp_path / "bank.h5"
    args = ["--backbone", "world-clip", "--images", str(tmp_path / "images"), "--out", str(out),
            "--image-size", "64", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert script("build_caption_bank").main(args) == 0
    bank = EmbeddingBank.load(out)
    assert len(bank) == 8 and bank.width == 128 and bank.meta["backbone"] == "world-clip"
    assert bank.meta["image_set"].startswith("8 images under")
    np.testing.assert_allclose(np.linalg.norm(bank.directions.astype(np.float32), axis=1), 1,
                               atol=1e-3)  # fmt: skip


def test_train_captioner_on_coco_pairs_with_a_local_lm(script, tmp_path):
    stim = _image_folder(tmp_path / "images")
    coco = {
        "images": [{"id": i, "file_name": f"im{i}.png"} for i in range(8)],
        "annotations": [{"image_id": i, "caption": c} for i, c in enumerate(stim.captions)],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    tiny = build_world_captioner({w for c in stim.captions for w in c.split()})
    tiny.lm.save_pretrained(tmp_path / "lm")
    tiny.tokenizer.save_pretrained(tmp_path / "lm")
    out = tmp_path / "captioner"
    args = ["--backbone", "world-clip", "--images", str(tmp_path / "images"), "--coco",
            str(tmp_path / "coco.json"), "--lm", str(tmp_path / "lm"), "--out", str(out),
            "--image-size", "64", "--steps", "3", "--batch-size", "4",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert script("train_captioner").main(args) == 0
    captioner = Captioner.load(out)
    assert captioner.metadata["backbone"] == "world-clip"
    assert captioner.metadata["training"]["n_pairs"] == 8
    assert len(captioner.caption(np.ones((2, 128), np.float32) / 128**0.5, beams=2)) == 2
