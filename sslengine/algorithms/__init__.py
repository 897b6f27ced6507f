"""One file per method; this table maps the names used by the config, the CLI and the pages."""
from .adamatch import AdaMatch
from .byol import BYOL
from .comatch import CoMatch
from .dash import Dash
from .distill import Distill
from .enaet import EnAET
from .entmin import EntMin
from .finetune import FineTune
from .fixmatch import FixMatch
from .fixmatch_simclr import FixMatchSimCLR
from .flexmatch import FlexMatch
from .freematch import FreeMatch
from .mean_teacher import MeanTeacher
from .meta_pseudo_labels import MetaPseudoLabels
from .mixmatch import MixMatch
from .mocov3 import MoCoV3
from .noisy_student import NoisyStudent
from .pi_model import PiModel
from .pseudo_label import PseudoLabel
from .remixmatch import ReMixMatch
from .s4l_rotation import S4LRotation
from .simclr import SimCLR
from .simmatch import SimMatch
from .softmatch import SoftMatch
from .supervised import Supervised
from .uda import UDA
from .vat import VAT

ALGORITHMS = {
    "supervised": Supervised,
    "pseudo_label": PseudoLabel,
    "entmin": EntMin,
    "fixmatch": FixMatch,
    "pi_model": PiModel,
    "mean_teacher": MeanTeacher,
    "flexmatch": FlexMatch,
    "freematch": FreeMatch,
    "softmatch": SoftMatch,
    "adamatch": AdaMatch,
    "dash": Dash,
    "uda": UDA,
    "simmatch": SimMatch,
    "vat": VAT,
    "mixmatch": MixMatch,
    "remixmatch": ReMixMatch,
    "comatch": CoMatch,
    "s4l_rotation": S4LRotation,
    "noisy_student": NoisyStudent,
    "meta_pseudo_labels": MetaPseudoLabels,
    "enaet": EnAET,
    "simclr": SimCLR,
    "byol": BYOL,
    "mocov3": MoCoV3,
    "finetune": FineTune,
    "distill": Distill,
    "fixmatch_simclr": FixMatchSimCLR,
}
