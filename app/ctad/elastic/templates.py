"""The results-index template shipped as JSON next to this module, and installing it.

JSON rather than Python so the same file can be pasted into Kibana Dev Tools or managed by Terraform.
"""

from __future__ import annotations

import json
import re
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


ALERTS_TEMPLATE_FILE = Path(__file__).with_name("alerts_template.json")
ALERTS_TEMPLATE_NAME = "logs-ctad.alerts"
DEFAULT_RETENTION = "90d"
# Built-in component templates the alerts template is composed of (Elasticsearch 8.13+ ships ecs@mappings: the
# dynamic templates that map any further ECS field by its ECS type).
ALERTS_COMPONENTS = ("ecs@mappings",)
_RETENTION = re.compile(r"^[1-9][0-9]{0,5}(d|h|m|s)$")


def alerts_template(retention: str = DEFAULT_RETENTION) -> Dict[str, Any]:
    """The data stream index template for ``logs-ctad.alerts-*`` with its data stream lifecycle.

    A data stream lifecycle (``template.lifecycle.data_retention``), not an ILM policy: it needs no second object
    to install, works the same on Elastic Cloud Serverless (where ILM is unavailable), and Elasticsearch rolls the
    backing indices over by itself. Priority 250: above the built-in ``logs`` template (100) and Elastic's
    advice of "higher than 200" for one's own templates.
    """
    if not _RETENTION.match(retention or ""):
        raise ValueError(
            f"retention must look like 90d, 720h (a positive number and d/h/m/s), not {retention!r}"
        )
    with ALERTS_TEMPLATE_FILE.open(encoding="utf-8") as fh:
        body = json.load(fh)
    body["template"]["lifecycle"] = {"data_retention": retention}
    return body


def install_alerts_template(
    client: Any, name: str = ALERTS_TEMPLATE_NAME, retention: str = DEFAULT_RETENTION
) -> Dict[str, Any]:
    """PUT the data stream template (idempotent). New backing indices pick it up; an existing data stream gets
    the new mappings and lifecycle at its next rollover (or ``PUT _data_stream/<name>/_lifecycle`` at once)."""
    resp = client.indices.put_index_template(name=name, body=alerts_template(retention))
    return dict(resp)
