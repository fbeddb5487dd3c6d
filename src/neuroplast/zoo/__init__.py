"""Models and data of the architecture benchmarks, built offline (issue 13 item 1).

* :mod:`~neuroplast.zoo.cnn` — :class:`VGG` (conv-BN-ReLU ×4, MaxPool, two Linear) and a
  small :class:`ResNet` (basic blocks, 16/32/64 channels) for MNIST;
* :mod:`~neuroplast.zoo.transformer` — :class:`TinyLlama`, a byte-level LLaMA-style decoder
  (RMSNorm, RoPE, gated SiLU FFN, no biases) with Hugging Face's module names;
* :mod:`~neuroplast.zoo.corpus` — the Python standard library's ``.py`` files as a byte
  corpus (fixed file list, split by file, SHA-256 fingerprint);
* :mod:`~neuroplast.zoo.mnist_images` — MNIST as (n, 1, 28, 28) images with a validation split;
* :mod:`~neuroplast.zoo.cache` — trained models as safetensors + a JSON record.

Training recipes and the one-command builders live in ``benchmarks/architectures``::

    python -m benchmarks.architectures.build vgg --seed 0
    model, meta = neuroplast.zoo.load_entry("vgg", seed=0)
"""

from neuroplast.zoo.cache import (
    CACHE_ENV_VAR,
    cache_dir,
    entry_dir,
    is_cached,
    load_entry,
    read_meta,
    save_entry,
)
from neuroplast.zoo.cnn import VGG, BasicBlock, ResNet
from neuroplast.zoo.corpus import Corpus, file_list, load_corpus, scan_stdlib
from neuroplast.zoo.mnist_images import ImageSplit, MnistImages, load_mnist_images
from neuroplast.zoo.registry import FACTORIES, build
from neuroplast.zoo.transformer import LlamaConfig, LlamaMLP, RMSNorm, TinyLlama

__all__ = [
    "CACHE_ENV_VAR", "FACTORIES", "VGG", "BasicBlock", "Corpus", "ImageSplit", "LlamaConfig",
    "LlamaMLP", "MnistImages", "RMSNorm", "ResNet", "TinyLlama", "build", "cache_dir",
    "entry_dir", "file_list", "is_cached", "load_corpus", "load_entry", "load_mnist_images",
    "read_meta", "save_entry", "scan_stdlib",
]
