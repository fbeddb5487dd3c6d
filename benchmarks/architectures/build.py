"""Build the architecture benchmarks' models, offline, one command each, cached.

    python -m benchmarks.architectures.build vgg --seed 0
    python -m benchmarks.architectures.build resnet --seed 0 1 2 3 4
    python -m benchmarks.architectures.build llama --seed 0 [--threads 2]

Each (model, seed) is trained once and written to the cache (``--cache DIR``, else
``$NEUROPLAST_CACHE``, else ``~/.cache/neuroplast/zoo``) as ``<model>/seed<S>/`` with
``model.safetensors`` and ``meta.json``. A seed already in the cache is skipped (so a killed
multi-seed build resumes where it stopped), unless it was trained with other
hyper-parameters, which is an error; ``--force`` retrains and replaces it. Nothing is
downloaded: MNIST is read from ``--data DIR`` (or ``$NEUROPLAST_DATA``, or the user cache),
the text corpus from this Python's standard library (``--stdlib DIR`` to read another).
``--quick`` trains tiny versions for a few steps (entries ``<model>-quick``), for smoke tests.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.architectures import train_cnn, train_llama
from benchmarks.runner import machine_description
from neuroplast.errors import NeuroplastError
from neuroplast.zoo import cache as zoo_cache
from neuroplast.zoo.corpus import load_corpus
from neuroplast.zoo.mnist_images import load_mnist_images

MODELS = ("vgg", "resnet", "llama")


def recipe_for(model: str, quick: bool, threads: int | None) -> Any:
    """The recipe of ``model`` (the default one, or the tiny ``--quick`` one)."""
    if model == "llama":
        recipe = train_llama.QUICK if quick else train_llama.LmRecipe()
    else:
        recipe = train_cnn.QUICK[model] if quick else train_cnn.CnnRecipe()
    return recipe if threads is None else replace(recipe, threads=threads)


def _comparable(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe without settings that do not change the trained weights' meaning."""
    out = json.loads(json.dumps(recipe))  # tuples → lists, as stored
    for key in ("threads", "eval_batch_size", "log_every", "eval_every", "eval_windows"):
        out.pop(key, None)
    return out


def build_one(model: str, seed: int, args: argparse.Namespace, data: dict[str, Any]) -> str:
    """Train and cache one (model, seed) unless cached; returns a one-line summary."""
    key = f"{model}-quick" if args.quick else model
    recipe = recipe_for(model, args.quick, args.threads)
    if zoo_cache.is_cached(key, seed, args.cache) and not args.force:
        meta = zoo_cache.read_meta(key, seed, args.cache)
        if _comparable(meta.get("recipe", {})) != _comparable(recipe.to_dict()):
            raise NeuroplastError(
                f"{zoo_cache.entry_dir(key, seed, args.cache)} was trained with other "
                "hyper-parameters than this recipe; pass --force to retrain it, or --cache to "
                "build elsewhere"
            )
        return f"{key} seed {seed}: cached ({_headline(meta)})"
    if model == "llama":
        if "corpus" not in data:
            data["corpus"] = load_corpus(args.stdlib)
            if data["corpus"].missing:
                print(f"corpus: {len(data['corpus'].missing)} listed files missing here and "
                      f"skipped: {', '.join(data['corpus'].missing)}", file=sys.stderr)
        trained, record = train_llama.train_llama(seed, recipe, data["corpus"],
                                                  progress=not args.silent)
    else:
        if "mnist" not in data:
            data["mnist"] = load_mnist_images(args.data)
        trained, record = train_cnn.train_cnn(model, seed, recipe, data["mnist"],
                                              progress=not args.silent)
    record["machine"] = machine_description() | {"torch_threads": recipe.threads}
    record["command"] = build_command(model, seed, args)
    path = zoo_cache.save_entry(trained, key, seed, record, cache=args.cache, force=args.force)
    return f"{key} seed {seed}: trained in {record['seconds']['train']:.0f} s " \
           f"({_headline(record)}) -> {path}"


def build_command(model: str, seed: int, args: argparse.Namespace) -> str:
    """The command that builds this (model, seed) again: every option that changes what is
    trained or read (the data or corpus folder as an absolute path, threads, the quick recipe),
    not where it is cached. A folder left to its default ($NEUROPLAST_DATA or the cache for
    MNIST, this Python's standard library for the corpus) is left out: the record's ``data``
    says what was read (the MNIST folder, the corpus's fingerprint)."""
    words = ["python -m benchmarks.architectures.build", model, "--seed", str(seed)]
    for flag, value in (("--data", args.data if model != "llama" else None),
                        ("--stdlib", args.stdlib if model == "llama" else None),
                        ("--threads", args.threads)):
        if value is not None:
            shown = value.resolve() if isinstance(value, Path) else value
            words += [flag, shlex.quote(str(shown))]
    return " ".join(words + (["--quick"] if args.quick else []))


def _headline(meta: dict[str, Any]) -> str:
    metrics = meta.get("metrics", {})
    if "test" in metrics:
        return (f"validation accuracy {metrics['validation']['accuracy']:.4f}, "
                f"test accuracy {metrics['test']['accuracy']:.4f}")
    val = metrics.get("validation", {})
    return f"validation {val.get('loss', float('nan')):.4f} nats/byte, " \
           f"{val.get('bits_per_byte', float('nan')):.4f} bits/byte"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.architectures.build",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", choices=MODELS, help="the models to build")
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="training seeds (0)")
    p.add_argument("--force", action="store_true", help="retrain and replace cached entries")
    p.add_argument("--cache", type=Path, default=None,
                   help="cache folder (default $NEUROPLAST_CACHE or ~/.cache/neuroplast/zoo)")
    p.add_argument("--data", type=Path, default=None,
                   help="folder with the MNIST IDX files (default $NEUROPLAST_DATA, cache)")
    p.add_argument("--stdlib", type=Path, default=None,
                   help="the standard-library folder to read the corpus from (this Python's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (recipe: 1)")
    p.add_argument("--quick", action="store_true", help="tiny models, a few steps (smoke test)")
    p.add_argument("--silent", action="store_true", help="no progress lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    data: dict[str, Any] = {}
    try:
        for model in dict.fromkeys(args.models):
            for seed in dict.fromkeys(args.seed):
                print(build_one(model, seed, args, data), flush=True)
    except NeuroplastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
