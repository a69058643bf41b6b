"""ctad.train"""

# Evaluation splits `ctad train` reports by default (kept here, numpy-free, so the CLI can name them cheaply).
DEFAULT_SPLITS = ("technique", "established", "time", "account", "random")
