"""Sample design (抽样设计): sample size, allocation, selection, draws.

The web application calls these; the ``size``, ``allocate``, ``draw`` and
``verify`` commands of ``python -m sampling`` are thin wrappers around them.
"""

from sampling.design.allocation import (
    Allocation,
    AllocationMethod,
    StratumSpec,
    allocate,
    largest_remainder,
)
from sampling.design.draw import (
    ALGORITHM_VERSION,
    DrawDesign,
    DrawResult,
    Protocol,
    allocate_for_frame,
    draw,
    draw_stratified,
    index_strata,
    sample_table,
    verify_sample,
)
from sampling.design.frame import Frame, digest_columns, frame_from_rows, read_frame_csv
from sampling.design.random_digits import (
    DoNotCallList,
    NumberPrefix,
    RandomDigitSample,
    generate_numbers,
    keyed_number_hash,
    parse_prefixes,
    read_prefix_table,
)
from sampling.design.selection import (
    SelectionMethod,
    pps_inclusion_probabilities,
    select_stratum,
)
from sampling.design.size import (
    PerUnitRequirement,
    SampleSizeResult,
    per_unit_requirement,
    required_sample_size,
)

__all__ = [
    "ALGORITHM_VERSION",
    "Allocation",
    "AllocationMethod",
    "DoNotCallList",
    "DrawDesign",
    "DrawResult",
    "Frame",
    "NumberPrefix",
    "PerUnitRequirement",
    "Protocol",
    "RandomDigitSample",
    "SampleSizeResult",
    "SelectionMethod",
    "StratumSpec",
    "allocate",
    "allocate_for_frame",
    "digest_columns",
    "draw",
    "draw_stratified",
    "frame_from_rows",
    "generate_numbers",
    "index_strata",
    "keyed_number_hash",
    "largest_remainder",
    "parse_prefixes",
    "per_unit_requirement",
    "pps_inclusion_probabilities",
    "read_frame_csv",
    "read_prefix_table",
    "required_sample_size",
    "sample_table",
    "select_stratum",
    "verify_sample",
]
