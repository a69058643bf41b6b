"""ctad: detect abuse of legitimate AWS APIs in CloudTrail and explain it."""

__version__ = "0.1.0"
