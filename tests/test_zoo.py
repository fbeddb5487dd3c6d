"""The architecture benchmarks' models and data (issue 13 item 1): shapes, the corpus reader,
causality and RMSNorm/RoPE against independent formulas, the safetensors cache, deterministic
training, the one-command builder, and function-preserving replication on each model."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import neuroplast
from benchmarks.architectures import build as build_cli
from benchmarks.architectures import table, train_cnn, train_llama
from neuroplast.data import IDX_FILE_NAMES, write_idx
from neuroplast.errors import NeuroplastError
from neuroplast.sites import conv_site, gated_site
from neuroplast.zoo import cache, corpus
from neuroplast.zoo.cnn import VGG, ResNet
from neuroplast.zoo.mnist_images import ImageSplit, MnistImages, load_mnist_images
from neuroplast.zoo.registry import build, resolved_config
from neuroplast.zoo.transformer import LlamaConfig, RMSNorm, TinyLlama, rotary_tables

SMALL_LLAMA = {"d_model": 16, "n_layers": 2, "n_heads": 2, "d_ff": 24, "context": 12}


def small_llama(seed: int = 0) -> TinyLlama:
    torch.manual_seed(seed)
    model = TinyLlama(LlamaConfig(**SMALL_LLAMA, init_std=0.3)).double()
    return model.eval()


def tokens(shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed))


# -- models -----------------------------------------------------------------------------------
def test_cnn_shapes_and_parameter_counts():
    x = torch.rand(2, 1, 28, 28)
    vgg, resnet = VGG(), ResNet()
    assert vgg(x).shape == (2, 10) and resnet(x).shape == (2, 10)
    conv = 9 * (1 * 32 + 32 * 32 + 32 * 64 + 64 * 64)
    bn = 2 * (32 + 32 + 64 + 64)
    linear = 64 * 7 * 7 * 128 + 128 + 128 * 10 + 10
    assert sum(p.numel() for p in vgg.parameters()) == conv + bn + linear
    assert [n for n, m in resnet.named_modules() if n.endswith("downsample")] == [
        "layer2.0.downsample", "layer3.0.downsample"]
    assert resnet.layer3[1].conv1.in_channels == 64
    assert ResNet(blocks=1)(x).shape == (2, 10)


def test_llama_shapes_names_and_no_biases():
    model = TinyLlama()
    assert model(tokens((2, 9))).shape == (2, 9, 256)
    names = dict(model.named_modules())
    for part in ("gate_proj", "up_proj", "down_proj"):
        assert names[f"model.layers.3.mlp.{part}"].bias is None
    assert all(m.bias is None for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert names["model.layers.0.mlp.gate_proj"].out_features == 344
    with pytest.raises(NeuroplastError, match="longer than the model's context"):
        model(tokens((1, 129)))
    with pytest.raises(NeuroplastError, match="multiple of n_heads"):
        TinyLlama(LlamaConfig(d_model=30, n_heads=4))


def test_output_at_t_does_not_depend_on_later_tokens():
    model = small_llama()
    x = tokens((3, 12))
    base = model(x)
    for t in (0, 5, 10):
        changed = x.clone()
        changed[:, t + 1:] = (changed[:, t + 1:] + 1 + tokens((3, 11 - t), seed=t)) % 256
        out = model(changed)
        torch.testing.assert_close(out[:, :t + 1], base[:, :t + 1], rtol=0, atol=1e-12)
        assert (out[:, t + 1:] - base[:, t + 1:]).abs().amax() > 1e-3  # the test can fail


def test_rmsnorm_against_independent_formulas():
    norm = RMSNorm(7, eps=1e-5).double()
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 7))
    x = torch.randn(4, 3, 7, dtype=torch.float64) * 3
    norm2 = torch.linalg.vector_norm(x, dim=-1, keepdim=True) ** 2
    expected = x * math.sqrt(7) / torch.sqrt(norm2 + 7 * 1e-5) * norm.weight
    torch.testing.assert_close(norm(x), expected, rtol=1e-12, atol=1e-12)
    reference = F.rms_norm(x, (7,), norm.weight, eps=1e-5)
    torch.testing.assert_close(norm(x), reference, rtol=1e-12, atol=1e-12)


def naive_attention_layer(model: TinyLlama, x: torch.Tensor) -> torch.Tensor:
    """Layer 0's attention written out: RoPE as complex rotations of the pairs (i, i + hd/2),
    scores per (query, key) with an explicit causal loop."""
    layer = model.model.layers[0]
    attn, cfg = layer.self_attn, model.config
    h = layer.input_layernorm(x)  # (b, T, d)
    b, t, d = h.shape
    hd = d // cfg.n_heads
    q, k, v = (p(h).view(b, t, cfg.n_heads, hd) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
    freq = cfg.rope_theta ** (-torch.arange(hd // 2, dtype=torch.float64) * 2 / hd)

    def rotate(z: torch.Tensor) -> torch.Tensor:
        pairs = torch.complex(z[..., :hd // 2], z[..., hd // 2:])  # (b, T, H, hd/2)
        turn = torch.polar(torch.ones(t, hd // 2, dtype=torch.float64),
                           torch.arange(t, dtype=torch.float64)[:, None] * freq)
        r = pairs * turn[None, :, None, :]
        return torch.cat([r.real, r.imag], dim=-1)

    q, k = rotate(q), rotate(k)
    out = torch.zeros(b, t, cfg.n_heads, hd, dtype=torch.float64)
    for i in range(t):
        scores = torch.einsum("bhe,bjhe->bhj", q[:, i], k[:, :i + 1]) / math.sqrt(hd)
        out[:, i] = torch.einsum("bhj,bjhe->bhe", scores.softmax(-1), v[:, :i + 1])
    return attn.o_proj(out.reshape(b, t, d))


def test_attention_with_rope_matches_a_naive_implementation():
    model = small_llama()
    x = model.model.embed_tokens(tokens((2, 12)))  # (2, 12, 16)
    layer = model.model.layers[0]
    cos, sin = rotary_tables(8, 12, model.config.rope_theta)
    ours = layer.self_attn(layer.input_layernorm(x), cos, sin)
    torch.testing.assert_close(ours, naive_attention_layer(model, x), rtol=1e-10, atol=1e-12)


# -- MNIST as images --------------------------------------------------------------------------
def fake_mnist(root: Path, n_train: int = 40, n_test: int = 12) -> Path:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              (np.arange(n_train) % 10).astype(np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              (np.arange(n_test) % 10).astype(np.uint8)]
    for name, array in zip(IDX_FILE_NAMES, arrays, strict=True):
        write_idx(root / name, array)
    return root


def test_mnist_images_split_and_never_download(tmp_path, monkeypatch):
    data = load_mnist_images(fake_mnist(tmp_path), n_validation=10)
    assert data.train.x.shape == (30, 1, 28, 28) and data.validation.n == 10
    assert data.test.n == 12 and data.train.x.max() <= 1.0
    assert data.validation.y.tolist() == [i % 10 for i in range(30, 40)]
    monkeypatch.setenv("NEUROPLAST_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(NeuroplastError, match="never download"):
        load_mnist_images(tmp_path / "empty")
    with pytest.raises(NeuroplastError, match="n_validation"):
        load_mnist_images(tmp_path, n_validation=40)


# -- the corpus -------------------------------------------------------------------------------
FAKE_FILES = {
    "abc.py": b"class A: pass\n", "os.py": b"import sys\n" * 3,
    "json/__init__.py": b"from .decoder import *\n", "json/decoder.py": b"x = 1\n",
    "asyncio/tasks.py": b"async def f():\n    return 1\n",
    # excluded
    "test/test_os.py": b"t", "json/tests/t.py": b"t", "idlelib/run.py": b"t",
    "lib2to3/main.py": b"t", "site-packages/pkg/m.py": b"t", "dist-packages/m.py": b"t",
    "encodings/cp1252.py": b"t", "tkinter/ttk.py": b"t", "distutils/core.py": b"t",
    "ctypes/macholib/dyld.py": b"t", "config-3.11-x86_64/python-config.py": b"t",
    "_sysconfigdata__linux.py": b"t", "asyncore.py": b"t", "cgi.py": b"t",
    "json/__pycache__/x.py": b"t", "README.txt": b"t",
}


def fake_stdlib(root: Path, files: dict[str, bytes] = FAKE_FILES) -> Path:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def test_scan_applies_the_exclusion_rules(tmp_path):
    kept = corpus.scan_stdlib(fake_stdlib(tmp_path))
    assert kept == sorted(["abc.py", "asyncio/tasks.py", "json/__init__.py",
                           "json/decoder.py", "os.py"])
    assert corpus.excluded("test/test_os.py") == "under test/"
    assert corpus.excluded("cgi.py") and not corpus.excluded("json/cgi.py")


def test_the_shipped_file_list_is_fixed_sorted_and_obeys_the_rules():
    files = corpus.file_list()
    assert 300 <= len(files) <= 600
    assert list(files) == sorted(set(files))
    assert all(corpus.excluded(f) is None for f in files)
    assert {"os.py", "json/decoder.py", "asyncio/tasks.py"} <= set(files)
    n_val = sum(corpus.is_validation(f) for f in files)
    assert 0.05 * len(files) < n_val < 0.2 * len(files)


def test_corpus_reader_splits_by_file_reports_missing_and_fingerprints(tmp_path):
    root = fake_stdlib(tmp_path)
    listed = ("abc.py", "asyncio/tasks.py", "gone.py", "json/__init__.py", "json/decoder.py",
              "os.py")
    val = {f for f in listed if corpus.is_validation(f, 0.4)}
    assert val and val != set(listed) - {"gone.py"}  # both splits hold files at 0.4
    c = corpus.load_corpus(root, listed, validation_fraction=0.4)
    present = [f for f in listed if f != "gone.py"]
    assert c.missing == ("gone.py",)
    assert c.validation_files == tuple(f for f in present if f in val)
    assert c.train_files == tuple(f for f in present if f not in val)
    assert bytes(c.train.tolist()) == b"".join(FAKE_FILES[f] for f in c.train_files)
    assert bytes(c.validation.tolist()) == b"".join(FAKE_FILES[f] for f in c.validation_files)
    expected = hashlib.sha256(b"".join(FAKE_FILES[f] for f in present)).hexdigest()
    assert c.fingerprint == expected and c.train.dtype == torch.uint8
    summary = c.summary()
    assert summary["n_files_listed"] == 6 and summary["missing"] == ["gone.py"]
    assert json.loads(json.dumps(summary)) == summary
    # the split of a file does not depend on which other files exist
    again = corpus.load_corpus(root, ("os.py", "json/decoder.py", "abc.py", "asyncio/tasks.py"),
                               validation_fraction=0.4)
    assert set(again.validation_files) == val & set(again.validation_files + again.train_files)
    with pytest.raises(NeuroplastError, match="point root at a Python standard library"):
        corpus.load_corpus(tmp_path / "nowhere", listed)


# -- the cache --------------------------------------------------------------------------------
@pytest.mark.parametrize("family,config", [
    ("vgg", {"channels": [4, 4, 8, 8], "hidden": 8}),
    ("resnet", {"widths": [4, 8, 8], "blocks": 1}),
    ("llama", SMALL_LLAMA),
])
def test_cache_round_trip_and_no_silent_overwrite(tmp_path, family, config):
    torch.manual_seed(0)
    model = build(family, config)
    if family != "llama":  # BatchNorm buffers that are not the defaults
        model.train()
        model(torch.rand(8, 1, 28, 28))
    model.eval()
    x = tokens((2, 12)) if family == "llama" else torch.rand(3, 1, 28, 28)
    meta = {"family": family, "config": resolved_config(family, config), "metrics": {"a": 1}}
    folder = cache.save_entry(model, family, 3, meta, cache=tmp_path)
    assert folder == tmp_path / family / "seed3" and cache.is_cached(family, 3, tmp_path)
    loaded, record = cache.load_entry(family, 3, tmp_path)
    assert record["metrics"] == {"a": 1} and record["seed"] == 3 and not loaded.training
    assert torch.equal(loaded(x), model(x))
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b) and a.dtype == b.dtype, k
    with pytest.raises(NeuroplastError, match="already exists; pass --force"):
        cache.save_entry(model, family, 3, {**meta, "metrics": {"a": 2}}, cache=tmp_path)
    assert cache.read_meta(family, 3, tmp_path)["metrics"] == {"a": 1}
    cache.save_entry(model, family, 3, {**meta, "metrics": {"a": 2}}, cache=tmp_path, force=True)
    assert cache.read_meta(family, 3, tmp_path)["metrics"] == {"a": 2}
    assert sorted(p.name for p in (tmp_path / family).iterdir()) == ["seed3"]  # no leftovers


def test_cache_errors_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROPLAST_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path
    with pytest.raises(NeuroplastError, match="build vgg --seed 7"):
        cache.load_entry("vgg", 7)
    torch.manual_seed(0)
    model = build("vgg", {"channels": [4, 4, 8, 8], "hidden": 8})
    meta = {"family": "vgg", "config": resolved_config("vgg", {"channels": [4, 4, 8, 8],
                                                               "hidden": 8})}
    folder = cache.save_entry(model, "vgg", 0, meta)
    torch.save(model.state_dict(), folder / cache.WEIGHTS)  # a pickle where weights should be
    with pytest.raises(NeuroplastError, match="not a readable safetensors file"):
        cache.load_entry("vgg", 0)
    with pytest.raises(NeuroplastError, match="'family' and 'config'"):
        cache.save_entry(model, "vgg", 1, {"family": "vgg"})
    with pytest.raises(NeuroplastError, match="takes no"):
        resolved_config("vgg", {"width": 3})


# -- training recipes -------------------------------------------------------------------------
def synthetic_images(n: int = 96) -> MnistImages:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 10
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.2
    x[torch.arange(n), 0, y, y] = 1.0  # a learnable pattern
    split = ImageSplit(x, y)
    return MnistImages(split, split.head(32), split.head(32), "synthetic")


@pytest.mark.parametrize("family", ["vgg", "resnet"])
def test_cnn_training_is_deterministic_given_the_seed(family):
    data = synthetic_images()
    recipe = train_cnn.QUICK[family]
    a, record = train_cnn.train_cnn(family, 0, recipe, data)
    b, _ = train_cnn.train_cnn(family, 0, recipe, data)
    c, _ = train_cnn.train_cnn(family, 1, recipe, data)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))
    assert not torch.equal(a.features[0].weight if family == "vgg" else a.conv1.weight,
                           c.features[0].weight if family == "vgg" else c.conv1.weight)
    assert record["steps"] == 3 == len(record["curve"]) + 1  # 96 images, batch 32: 3 steps
    assert set(record["metrics"]) == {"train", "validation", "test"}
    assert record["config"] == resolved_config(family, recipe.config)


def fake_corpus(tmp_path: Path) -> corpus.Corpus:
    text = (Path(corpus.__file__).read_bytes() + Path(train_llama.__file__).read_bytes())
    files = {f"m{i}.py": text[i * 2000:(i + 1) * 2000] for i in range(8)}
    return corpus.load_corpus(fake_stdlib(tmp_path, files), tuple(sorted(files)),
                              validation_fraction=0.3)


def test_llama_training_is_deterministic_and_reports_bits_per_byte(tmp_path):
    data = fake_corpus(tmp_path)
    assert data.validation.numel() > 200
    a, record = train_llama.train_llama(0, train_llama.QUICK, data)
    b, _ = train_llama.train_llama(0, train_llama.QUICK, data)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))
    val = record["metrics"]["validation"]
    assert val["bits_per_byte"] == pytest.approx(val["loss"] / math.log(2))
    assert val["loss"] == pytest.approx(train_llama.evaluate_lm(a, data.validation)["loss"])
    assert [p["step"] for p in record["curve"]] == [2, 4]
    assert record["data"]["fingerprint_sha256"] == data.fingerprint


def test_build_command_trains_once_skips_cached_and_refuses_other_recipes(tmp_path, capsys):
    names = corpus.file_list()
    val = next(f for f in names if corpus.is_validation(f))
    files = {f: Path(corpus.__file__).read_bytes()[:3000] for f in names[:12] + (val,)}
    args = ["llama", "--quick", "--silent", "--cache", str(tmp_path / "zoo"),
            "--stdlib", str(fake_stdlib(tmp_path / "lib", files))]
    assert build_cli.main(args) == 0
    out = capsys.readouterr()
    assert "llama-quick seed 0: trained" in out.out and "listed files missing" in out.err
    meta = cache.read_meta("llama-quick", 0, tmp_path / "zoo")
    assert meta["command"] == ("python -m benchmarks.architectures.build llama --seed 0 "
                               f"--stdlib {(tmp_path / 'lib').resolve()} --quick")  # what it read
    assert meta["data"]["n_train_files"] + meta["data"]["n_validation_files"] == len(files)
    assert build_cli.main(args) == 0
    assert "seed 0: cached" in capsys.readouterr().out
    path = cache.entry_dir("llama-quick", 0, tmp_path / "zoo") / cache.META
    path.write_text(json.dumps({**meta, "recipe": {**meta["recipe"], "lr": 1.0}}))
    assert build_cli.main(args) == 2
    assert "other hyper-parameters" in capsys.readouterr().err
    assert build_cli.main(args + ["--force"]) == 0
    assert cache.read_meta("llama-quick", 0, tmp_path / "zoo")["recipe"]["lr"] == 3e-3
    rows = table.rows(tmp_path / "zoo", quick=True)
    assert [(r["model"], r["seed"]) for r in rows] == [("llama-quick", 0)]
    assert rows[0]["corpus_sha256"] == meta["data"]["fingerprint_sha256"]
    assert "bits/byte" in table.markdown(rows) and table.rows(tmp_path / "zoo") == []


# -- neuroplast's sites on the zoo's models -----------------------------------------------------
def test_b1_replication_on_a_transformer_gated_site_keeps_the_output():
    model = small_llama()
    x = tokens((4, 12))
    mlp = model.model.layers[1].mlp
    site = gated_site("model.layers.1.mlp", gate=mlp.gate_proj, up=mlp.up_proj,
                      consumer=mlp.down_proj, activation="silu")
    before = model(x)
    neuroplast.replicate(model, site, data=x, n=5, method="B1", seed=0)
    assert mlp.gate_proj.out_features == mlp.up_proj.out_features == 29
    assert mlp.down_proj.in_features == 29
    torch.testing.assert_close(model(x), before, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family", ["vgg", "resnet"])
def test_b1_replication_on_a_conv_site_keeps_the_output(family):
    torch.manual_seed(0)
    model = build(family, {"channels": [4, 6, 8, 8], "hidden": 8} if family == "vgg"
                  else {"widths": [4, 6, 8], "blocks": 1}).double()
    x = torch.rand(6, 1, 28, 28, dtype=torch.float64)
    model.train()
    model(x)  # BatchNorm running statistics that are not the defaults
    model.eval()
    if family == "vgg":
        f = model.features
        site = conv_site("features.0", producer=f[0], consumer=f[3], between=(f[1],),
                         activation="relu")
        grown = f[3]
    else:
        block = model.layer2[0]
        site = conv_site("layer2.0.conv1", producer=block.conv1, consumer=block.conv2,
                         between=(block.bn1,), activation="relu")
        grown = block.conv2
    before = model(x)
    width = site.width
    neuroplast.replicate(model, site, data=x, n=2, method="B1", seed=0)
    assert grown.in_channels == width + 2
    torch.testing.assert_close(model(x), before, rtol=1e-10, atol=1e-10)


# -- discovery and saving on the zoo's models --------------------------------------------------
EXPECTED_SITES = {
    "vgg": [("features.0", "conv"), ("features.3", "conv"), ("features.7", "conv"),
            ("features.10", "flatten"), ("classifier.1", "linear")],
    "resnet": [(f"layer{s}.{b}.conv1", "conv") for s in (1, 2, 3) for b in (0, 1)],
    "llama": [(f"model.layers.{i}.mlp", "gated") for i in range(4)],
}


@pytest.mark.parametrize("family", sorted(EXPECTED_SITES))
def test_discovery_finds_the_documented_sites(family):
    torch.manual_seed(0)
    model = build(family).eval()
    example = tokens((2, 8)) if family == "llama" else torch.rand(2, 1, 28, 28)
    report = neuroplast.explain_sites(model, example)
    assert [(s.name, s.kind) for s in report.sites] == EXPECTED_SITES[family]
    if family == "resnet":
        assert all(report.reason(n).startswith("residual-coupled") for n in
                   ("conv1", "layer1.0.conv2", "layer2.0.downsample.0", "layer3.1.conv2"))
    if family == "llama":
        assert report.reason("model.layers.0.self_attn.q_proj").startswith("attention")
        assert report.reason("model.layers.0.mlp.down_proj").startswith("residual-coupled")


def test_a_pruned_zoo_model_saves_and_loads_through_its_factory(tmp_path):
    config = {"channels": [4, 6, 8, 8], "hidden": 8}
    torch.manual_seed(0)
    model = build("vgg", config).eval()
    x = torch.rand(16, 1, 28, 28)
    sites = neuroplast.find_sites(model, x[:2])
    neuroplast.prune(model, sites[1], x, rule="lstsq", amount=2)
    assert model.features[7].in_channels == 4
    neuroplast.save(model, tmp_path / "pruned")
    loaded = neuroplast.load(tmp_path / "pruned", lambda: build("vgg", config)).eval()
    assert torch.equal(loaded(x), model(x))
