"""Many-client aggregation: Prio3, the CFRG's verifiable distributed aggregation function.

Implements draft-irtf-cfrg-vdaf-20 (wire version 18): the fields (:mod:`.field`), the XOF
(:mod:`.xof`), the FLP proof system (:mod:`.flp`), the validity circuits (:mod:`.circuits`) and
Prio3 with its five variants (:mod:`.prio3`). This is the pure-Python reference, checked against
every published test vector of the draft; :class:`BatchPrio3` (:mod:`.batch`) runs the same
algorithms on many reports at once with numpy and is tested equal to it.
"""

from .batch import BatchPrio3
from .circuits import Count, Histogram, MultihotCountVec, Sum, SumVec
from .field import Field64, Field128, FieldDecodeError, NttField
from .flp import Flp
from .prio3 import (
    HelperShare,
    LeaderShare,
    Prio3,
    ReportRejected,
    VdafDecodeError,
    VerifierShare,
    VerifyState,
    prio3_count,
    prio3_histogram,
    prio3_multihot_countvec,
    prio3_sum,
    prio3_sumvec,
)
from .xof import XofTurboShake128

__all__ = [
    "Prio3", "BatchPrio3", "prio3_count", "prio3_sum", "prio3_sumvec", "prio3_histogram", "prio3_multihot_countvec",
    "LeaderShare", "HelperShare", "VerifyState", "VerifierShare",
    "ReportRejected", "VdafDecodeError", "FieldDecodeError",
    "Field64", "Field128", "NttField", "XofTurboShake128", "Flp",
    "Count", "Sum", "SumVec", "Histogram", "MultihotCountVec",
]
