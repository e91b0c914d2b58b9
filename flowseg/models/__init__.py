"""Model weights registry and loaders.

torch and torchvision are imported inside the functions that need them, so
``import flowseg`` stays cheap.
"""

from .person import PersonModel
from .weights import (
    WEIGHTS,
    WeightsSpec,
    build_model,
    find_weights_file,
    load_state_dict,
    weights_search_dirs,
)

__all__ = [
    "WEIGHTS",
    "WeightsSpec",
    "PersonModel",
    "build_model",
    "find_weights_file",
    "load_state_dict",
    "weights_search_dirs",
]
