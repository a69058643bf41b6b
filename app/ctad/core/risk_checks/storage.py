"""short_expiry: a lifecycle rule that deletes objects within days destroys logs and data (Stratus
cloudtrail-lifecycle-rule)."""

from __future__ import annotations

from typing import Any, Tuple

from ctad.core.risk_checks.registry import REGISTRY, Case, Request

check = REGISTRY.check
SHORT = ("short_expiry",)
SHORT_EXPIRY_DAYS = 7  # within a week: longer rules are ordinary retention


def short_expiry(params: Any) -> bool:
    """True when a lifecycle configuration expires current or old objects within SHORT_EXPIRY_DAYS days."""
    stack, seen = [params], 0
    while stack and seen < 2_000:  # attacker-written and arbitrarily nested: walk iteratively, bounded
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("Expiration", "NoncurrentVersionExpiration") and isinstance(value, dict):
                    days = value.get("Days", value.get("NoncurrentDays"))
                    try:
                        if days is not None and 0 <= float(days) <= SHORT_EXPIRY_DAYS:
                            return True
                    except (TypeError, ValueError):
                        pass
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return False


@check("s3.amazonaws.com", "PutBucketLifecycle", "PutBucketLifecycleConfiguration", flags=SHORT, cases=[
    Case("1-day expiry", SHORT, {"bucketName": "trail-logs", "LifecycleConfiguration": {
        "Rule": {"Expiration": {"Days": 1}, "Status": "Enabled"}}}),
    Case("old versions gone in 3 days", SHORT, {"bucketName": "trail-logs", "LifecycleConfiguration": {
        "Rule": [{"NoncurrentVersionExpiration": {"NoncurrentDays": "3"}}]}}, "PutBucketLifecycleConfiguration"),
    Case("1-year expiry", (), {"bucketName": "trail-logs", "LifecycleConfiguration": {
        "Rule": [{"Expiration": {"Days": 365}}]}}),
    Case("hostile days", (), {"LifecycleConfiguration": {"Rule": {"Expiration": {"Days": "1e999x"}}}}),
])  # fmt: skip
def objects_expire_soon(req: Request) -> Tuple[str, ...]:
    return SHORT if short_expiry(req.params) else ()
