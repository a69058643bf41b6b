"""The results-index template shipped as JSON next to this module, and installing it.

JSON rather than Python so the same file can be pasted into Kibana Dev Tools or managed by Terraform.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

TEMPLATE_FILE = Path(__file__).with_name("results_index_template.json")
DEFAULT_TEMPLATE_NAME = "ctad-anomalies"


def results_template() -> Dict[str, Any]:
    """The composable index template body for ``ctad-anomalies-*``."""
    with TEMPLATE_FILE.open(encoding="utf-8") as fh:
        return json.load(fh)


def ct_field_mappings() -> Dict[str, Any]:
    """Just the ``ct_*`` mappings: what to put in ``logs-aws.cloudtrail@custom`` before ``--write update``."""
    props = results_template()["template"]["mappings"]["properties"]
    return {"properties": {k: v for k, v in props.items() if k.startswith("ct_")}}


def install_results_template(client: Any, name: str = DEFAULT_TEMPLATE_NAME) -> Dict[str, Any]:
    """PUT the template (idempotent: same name, same body)."""
    resp = client.indices.put_index_template(name=name, body=results_template())
    return dict(resp)
