"""The README's "your own model" examples run and do what they print (skipped without the
third-party package)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import thirdparty

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    argv = sys.argv
    sys.argv = [name, str(out)]
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    finally:
        sys.argv = argv
    return capsys.readouterr().out


def test_torchvision_example(tmp_path, capsys):
    if thirdparty.import_torchvision_models() is None:
        pytest.skip("torchvision is not installed")
    out = run_example("torchvision_cnn.py", tmp_path, capsys)
    assert out.count("pruned layer") == 8  # the inner channel of each basic block
    assert "pruned layer4.1.conv1: 512 -> 358" in out  # round(0.3 * 512) = 154 removed
    change = float(out.split("max output change after B1:")[1].split()[0])
    assert change < 1e-4  # float32 model: B1 keeps the function to rounding
    assert "loaded model equal: True" in out
    assert (tmp_path / "resnet18-pruned" / "plan.json").is_file()


def test_huggingface_example(tmp_path, capsys):
    if thirdparty.import_transformers() is None:
        pytest.skip("transformers is not installed")
    out = run_example("huggingface_llama.py", tmp_path, capsys)
    assert out.count("172 -> 129 (bias added: True)") == 2  # down_proj had no bias
    assert "loaded model equal: True" in out
