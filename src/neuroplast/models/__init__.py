"""Models: MLPs with named sites, presets N1–N4 and LeNet-300-100, initialisation, save/load."""

from neuroplast.activations import ACTIVATIONS, Activation, get_activation
from neuroplast.models.init import (
    DEFAULT_INIT,
    INITIALIZATIONS,
    Initialization,
    get_initialization,
    initialize,
    xavier_std,
)
from neuroplast.models.io import load_model, save_model
from neuroplast.models.mlp import (
    MLP,
    PRESETS,
    FeatureSelector,
    Site,
    build_mlp,
    count_macs,
    count_parameters,
    preset_name,
)

__all__ = [
    "ACTIVATIONS", "DEFAULT_INIT", "INITIALIZATIONS", "Activation", "Initialization",
    "get_initialization", "FeatureSelector", "MLP", "PRESETS", "Site", "build_mlp",
    "count_macs", "count_parameters", "get_activation", "initialize", "load_model",
    "preset_name", "save_model", "xavier_std",
]
