"""ctad.cti: match CloudTrail events against threat intelligence (local CSV, STIX 2.1, TAXII 2.1, MISP).

from ctad.cti import CTIIndex
index = CTIIndex.load(["lookups/cti_indicators.csv", "feeds.json"])
index.match(event)  # -> [{"indicator", "type", "source", "threat", "confidence", "matched_field", ...}]
"""

from __future__ import annotations

from ctad.cti.index import CTIIndex
from ctad.cti.indicators import Indicator, IndicatorError, make_indicator

__all__ = ["CTIIndex", "Indicator", "IndicatorError", "make_indicator"]
