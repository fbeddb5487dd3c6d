"""neuroplast: neuron-level programmed death and replication for PyTorch networks.

Implements Grabovsky & Vanchurin, "Bio-inspired machine learning: programmed death and
replication" (Neural Computing and Applications, 2023), on any PyTorch model: the public
entry points are :func:`find_sites` (:func:`explain_sites` says why other layers are not
sites), :func:`prune`, :func:`replicate`, and :func:`save` / :func:`load` for pruned and grown
models (a plan plus safetensors weights), with :class:`Site` the place where neurons live.
"""

from neuroplast.api import find_sites, prune, replicate
from neuroplast.models import MLP, build_mlp, load_model, save_model
from neuroplast.replication.schedule import DeathReplication, DeathReplicationSchedule
from neuroplast.saving import load, save
from neuroplast.sites import Site, explain_sites

__version__ = "0.1.0"

__all__ = [
    "MLP", "DeathReplication", "DeathReplicationSchedule", "Site", "__version__", "build_mlp",
    "explain_sites", "find_sites", "load", "load_model", "prune", "replicate", "save",
    "save_model",
]
