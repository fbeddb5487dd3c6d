"""Shared fixtures: the real MNIST files from ../shared/data/mnist and small trained models.

The MNIST directory is found beside the repository (``../shared/data/mnist``) or through
``$NEUROPLAST_TEST_MNIST``; tests that need it are skipped with a reason when it is absent.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from neuroplast.cli.main import main
from neuroplast.data import Dataset, Split, load_mnist
from neuroplast.experiments.options import REPRODUCTION_DEFAULTS
from neuroplast.models import MLP, build_mlp, initialize
from neuroplast.train import Protocol, get_protocol, make_optimizer, train
from neuroplast.train.l2 import with_l2_form

REPRODUCTION_INIT = REPRODUCTION_DEFAULTS["init"]
"""The initialisation ``neuroplast reproduce --setting fast`` runs under (its independent
recomputations in the tests use the same)."""
REPRODUCTION_L2 = REPRODUCTION_DEFAULTS["l2"]
"""The L2 form ``neuroplast reproduce --setting fast`` trains under."""


def reproduction_protocol(name: str) -> Protocol:
    """Protocol ``name`` as ``neuroplast reproduce`` trains with it (under
    :data:`REPRODUCTION_L2`), for the tests' independent recomputations."""
    return with_l2_form(get_protocol(name), REPRODUCTION_L2)

pytest_plugins = ("sweep_fixtures",)  # the toy experiments' fixture `extras`

torch.set_num_threads(1)
"""One thread: the suite is dominated by small operations, and results do not depend on the
machine's core count or load (a thread count change alters float32 summation order)."""


def mnist_dir() -> Path | None:
    candidates = [os.environ.get("NEUROPLAST_TEST_MNIST"),
                  Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    """The real MNIST (60,000 / 10,000), loaded once per session."""
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    return load_mnist(directory, download=False)


@pytest.fixture
def data_dir() -> str:
    """The MNIST directory as the CLI's ``--data`` argument; skips the test when absent."""
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    return str(directory)


def reproduce_quick(name: str, out: Path, data_dir: str, seeds: int = 1,
                    options: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run ``neuroplast reproduce NAME --setting fast --protocol quick --seeds SEEDS --out OUT
    [OPTIONS]`` (asserting exit status 0) and read back its run records, sorted by seed (ties in
    file-name order). The ``fast`` setting's options (:data:`REPRODUCTION_INIT`,
    :data:`REPRODUCTION_L2`, standard MNIST) whatever the experiment's default setting, so the
    tests' independent recomputations use them."""
    assert main(["reproduce", name, "--setting", "fast", "--protocol", "quick", "--seeds",
                 str(seeds), "--out", str(out), "--data", data_dir, "--no-progress",
                 *options]) == 0
    paths = sorted((out / name / "runs").glob("*.json"))
    return sorted((json.loads(p.read_text()) for p in paths), key=lambda r: r["spec"]["seed"])


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one torch thread, as the experiment runs do, then restore the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def quick_trained_n4(split: Split, activation: str | None = None, seed: int = 0,
                     init: str = REPRODUCTION_INIT) -> MLP:
    """N4 (``activation`` overriding tanh) as the quick reproductions train it: initialised
    with ``seed`` (the ``fast`` setting's initialisation), 5000 paper epochs on ``split`` under
    the quick protocol under that setting's L2 form, one torch thread."""
    protocol = reproduction_protocol("quick")
    model = initialize(build_mlp("N4", activation=activation), seed, init)
    with one_thread():
        train(model, split, protocol, epochs=protocol.epochs(5000), seed=seed, progress=False)
    return model


@pytest.fixture(scope="session")
def mnist_small(mnist: Dataset) -> Dataset:
    """10,000 training and 2,000 test images of MNIST, for faster tests."""
    return Dataset("mnist-small", Split(mnist.train.x[:10_000], mnist.train.y[:10_000]),
                   Split(mnist.test.x[:2_000], mnist.test.y[:2_000]), mnist.source)


@pytest.fixture(scope="session")
def trained_n4(mnist_small: Dataset) -> MLP:
    """N4 trained briefly (fast protocol, 1000 paper epochs on 10,000 images; ~90 % accuracy).

    Session-scoped: tests must copy it (``copy.deepcopy``) before modifying it.
    """
    protocol = get_protocol("fast")
    model = initialize(build_mlp("N4"), seed=0)
    train(model, mnist_small.train, protocol, epochs=protocol.epochs(1000), seed=0,
          progress=False)
    return model


def random_mlp(widths, activation: str = "tanh", seed: int = 0) -> MLP:
    """A small MLP with Xavier weights and random (non-zero) biases, in float64."""
    model = initialize(MLP(widths, activation), seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.copy_(0.3 * torch.randn(layer.bias.shape, generator=generator))
    return model.double()


def autograd_optimizer(model: MLP, protocol: Protocol) -> torch.optim.Optimizer:
    """The protocol's optimizer with a no-op step hook: ``train()`` then steps by autograd and
    ``optimizer.step()`` instead of its plain-SGD step (neuroplast.train.plain_step)."""
    optimizer = make_optimizer(model, protocol)
    optimizer.register_step_post_hook(lambda *_: None)
    return optimizer


def run_cli(args, capsys) -> tuple[int, str, str]:
    """Run ``neuroplast *args`` in-process; returns (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *patterns: str) -> str:
    """Exit status 2 and one line on stderr matching every pattern; returns the line."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for pattern in patterns:
        assert re.search(pattern, lines[0]), (pattern, lines[0])
    return lines[0]


def register_tiny_cnn(patch: pytest.MonkeyPatch, log: Path | None = None) -> None:
    """Register ``architecture_fixtures:TINY`` (this folder on PYTHONPATH, for workers too);
    with ``log``, every ``train_or_load`` appends its seed there."""
    tests_dir = Path(__file__).resolve().parent
    patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tests_dir),
                                                              os.environ.get("PYTHONPATH")])))
    patch.setenv("NEUROPLAST_EXTRA_ARCHITECTURES", "architecture_fixtures:TINY")
    if log is not None:
        patch.setenv("NEUROPLAST_TINY_LOG", str(log))
