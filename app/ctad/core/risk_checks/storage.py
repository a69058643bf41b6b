"""short_expiry: a lifecycle rule that deletes objects within days destroys logs and data (Stratus
cloudtrail-lifecycle-rule). customer_key: objects written with a key AWS does not keep (SSE-C) are held hostage
(the Codefinger ransomware, January 2025; Stratus s3-ransomware-client-side-encryption)."""

from __future__ import annotations

from typing import Any, Tuple

from ctad.core.risk_checks.registry import REGISTRY, Case, Request

check = REGISTRY.check
SHORT = ("short_expiry",)
CUSTOMER_KEY = ("customer_key",)
# The header CloudTrail records for a write encrypted with a customer-provided key. Its copy-source twin
# (x-amz-copy-source-server-side-encryption-customer-algorithm) only says how the source was read.
SSE_C = "x-amz-server-side-encryption-customer-algorithm"
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


def _written(bucket: str = "prod-orders", algorithm: str = "AES256") -> dict:
    return {
        "bucketName": bucket,
        "key": "data/00001.csv",
        SSE_C: algorithm,
        "x-amz-server-side-encryption-customer-key-MD5": "ZjVmYTQ3NmUtYzI3Mi00YmY4LWI2OTQtZTk3YmFmZjUxN2I=",
    }


@check("s3.amazonaws.com", "PutObject", "CopyObject", "CreateMultipartUpload", flags=CUSTOMER_KEY, cases=[
    Case("object overwritten with a customer key", CUSTOMER_KEY, _written(), "CopyObject"),
    Case("object uploaded with a customer key", CUSTOMER_KEY, _written()),
    Case("object copied from an SSE-C source to an ordinary one", (), {"bucketName": "b", "key": "k",
         "x-amz-copy-source-server-side-encryption-customer-algorithm": "AES256"}, "CopyObject"),
    Case("object uploaded with KMS", (), {"bucketName": "b", "key": "k", "x-amz-server-side-encryption": "aws:kms"}),
    Case("hostile header value", (), {"bucketName": "b", SSE_C: {"x": [1]}}),
])  # fmt: skip
def customer_provided_key(req: Request) -> Tuple[str, ...]:
    algorithm = req.params.get(SSE_C)
    return CUSTOMER_KEY if isinstance(algorithm, str) and algorithm.strip() else ()
