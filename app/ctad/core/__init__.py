"""The detection core: event schema, normalisation, catalogue, features, baselines, reasons, scoring.

Standard library only, Python 3.9+: it runs inside Splunk's own Python at search time. Nothing here imports
from the folders above it (forest, engine, adapters, CLI)."""
