"""ANN→SNN conversion: the rule-driven engine, its report, and the seed's one-line API.

>>> from fastsnn.convert import convert
>>> snn, report = convert(ann, neuron="adaptive_threshold")   # doctest: +SKIP
>>> print(report)                                               # doctest: +SKIP
"""

from fastsnn.convert.engine import convert, resolve_rules
from fastsnn.convert.report import ConversionReport, KeptModule, NotConverted, Replacement
from fastsnn.convert.rule import CONVERTED_MARK, PREPARED, ConversionContext, ConversionRule

__all__ = [
    "CONVERTED_MARK",
    "PREPARED",
    "ConversionContext",
    "ConversionReport",
    "ConversionRule",
    "KeptModule",
    "NotConverted",
    "Replacement",
    "convert",
    "resolve_rules",
]
