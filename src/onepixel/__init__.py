"""onepixel: few-pixel black-box adversarial attacks (Su, Vargas & Sakurai's one-pixel attack and successors)."""

from importlib.metadata import PackageNotFoundError, version

from . import zoo
from .api import as_classifier, attack
from .candidates import PixelSpace, decode
from .errors import DataError, InputError, ModelError, OnepixelError
from .models import CallableClassifier, Classifier, Preprocess, TorchClassifier
from .objectives import Targeted, Untargeted
from .oracle import one_pixel_oracle
from .results import AttackResult, AttackResults
from .runner import Runner
from .search import DifferentialEvolution
from .sweep import PixelSweep, fewest_pixels

try:
    __version__ = version("onepixel")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+src"

__all__ = [
    "AttackResult", "AttackResults", "CallableClassifier", "Classifier", "DataError", "DifferentialEvolution",
    "InputError", "ModelError", "OnepixelError", "PixelSpace", "PixelSweep", "Preprocess", "Runner", "Targeted",
    "TorchClassifier", "Untargeted", "__version__", "as_classifier", "attack", "decode", "fewest_pixels", "one_pixel_oracle",
    "zoo",
]
