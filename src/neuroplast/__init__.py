"""neuroplast: neuron-level programmed death and replication for PyTorch networks.

Implements Grabovsky & Vanchurin, "Bio-inspired machine learning: programmed death and
replication" (Neural Computing and Applications, 2023).
"""

from neuroplast.models import MLP, Site, build_mlp, load_model, save_model

__version__ = "0.1.0"

__all__ = ["MLP", "Site", "build_mlp", "load_model", "save_model", "__version__"]
