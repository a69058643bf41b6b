"""Splunk app tests: helpers live in splunkapp_helpers.py (imported by name, like the other test folders)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
