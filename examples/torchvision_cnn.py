"""Death and replication on a torchvision CNN (random weights here; use your trained ones).

    python examples/torchvision_cnn.py [OUT_DIR]

Finds the sites of ResNet-18 (the inner channel of each basic block), prunes 30 % of each
with least-squares compensation and the greedy conditional selection, lets the optimizer take
a step, splits 4 neurons of the first site (the function is unchanged), saves the pruned model
as a plan + safetensors and loads it back through the constructor.
"""

from __future__ import annotations

import sys
import tempfile

import torch
from torchvision.models import resnet18

import neuroplast


def main(out_dir: str) -> None:
    torch.manual_seed(0)
    model = resnet18(num_classes=10)
    calibration = [torch.randn(16, 3, 32, 32) for _ in range(4)]  # your training images

    found = neuroplast.explain_sites(model, calibration[0])
    for site in found.sites:
        print(f"site {site.name:18s} {site.kind:6s} width {site.width:4d} -> "
              f"{type(site.consumer).__name__}")
    for module, reason in found.skipped[:3]:
        print(f"not offered: {module}: {reason}")

    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for site in found.sites:
        result = neuroplast.prune(model, site, calibration, rule="lstsq",
                                  measure="conditional:greedy", amount=0.3, optimizer=optimizer)
        print(f"pruned {site.name}: {result.width_before} -> {result.width_after}")

    model.train()  # the optimizer keeps working after surgery
    loss = model(calibration[0]).logsumexp(dim=1).mean()
    loss.backward()
    optimizer.step()

    model.eval()
    with torch.no_grad():
        before = model(calibration[0])
    neuroplast.replicate(model, found.sites[0], calibration, n=4, method="B1", seed=0)
    with torch.no_grad():
        print("max output change after B1:", float((model(calibration[0]) - before).abs().max()))

    neuroplast.save(model, f"{out_dir}/resnet18-pruned")
    loaded = neuroplast.load(f"{out_dir}/resnet18-pruned", lambda: resnet18(num_classes=10))
    loaded.eval()
    with torch.no_grad():
        print("loaded model equal:", torch.equal(loaded(calibration[0]), model(calibration[0])))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
