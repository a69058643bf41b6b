"""The request flags public attack events raise: Stratus Red Team's detonations technique by technique, Panther's
rule tests rule by rule (its benign test events must raise none).

Risk checks are written from the API reference; attackers' tools write CloudTrail as they do. Three checks never
fired on these very events (Lambda's `AddPermission20150331v2`, a `203.0.113.7/0` ingress rule, DNS query-log
deletion) until the events were read against the checks. This table holds every technique of the bundled
detonation file to the flags its events raise, so a check that stops matching real attack traffic, or starts to,
shows up here; a new check updates the table.
"""

from __future__ import annotations

import gzip
import json
from typing import Dict, FrozenSet, List, Tuple

from ctad.core.catalog import Catalog
from ctad.core.normalize import NormalizeError, Normalizer
from ctad.simulate.attacks import DATA_DIR

EXPECTED: Dict[str, FrozenSet[str]] = {
    "aws.defense-evasion.cloudtrail-delete": frozenset({"logging_off"}),
    "aws.defense-evasion.cloudtrail-event-selectors": frozenset({"logging_off"}),
    "aws.defense-evasion.cloudtrail-stop": frozenset({"logging_off"}),
    "aws.defense-evasion.dns-delete-logs": frozenset({"logging_off"}),
    "aws.defense-evasion.vpc-remove-flow-logs": frozenset({"logging_off"}),
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": frozenset({"open_ingress"}),
    "aws.exfiltration.ec2-share-ami": frozenset({"cross_account"}),
    "aws.exfiltration.ec2-share-ebs-snapshot": frozenset({"cross_account"}),
    "aws.exfiltration.rds-share-snapshot": frozenset({"cross_account"}),
    "aws.persistence.iam-backdoor-role": frozenset({"cross_account"}),
    "aws.persistence.iam-backdoor-user": frozenset({"credential_other"}),
    "aws.persistence.iam-create-admin-user": frozenset({"credential_other"}),
    "aws.persistence.iam-create-backdoor-role": frozenset({"cross_account"}),
    "aws.persistence.iam-create-user-login-profile": frozenset({"credential_other"}),
    "aws.persistence.lambda-backdoor-function": frozenset({"public"}),
    "aws.privilege-escalation.iam-update-user-login-profile": frozenset({"credential_other"}),
}


def flags_by_scenario(name: str) -> Tuple[Dict[str, FrozenSet[str]], List[Tuple[str, tuple]], int]:
    """For one bundled attack file: the flags raised by each scenario's attack events (a scenario present with none
    maps to an empty set), the benign events (`label` 0) that raised any, and how many events could not be
    normalised."""
    normalizer = Normalizer(Catalog.load())
    raised: Dict[str, set] = {}
    benign_flagged: List[Tuple[str, tuple]] = []
    unreadable = 0
    with gzip.open(DATA_DIR / name, "rt", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            try:
                flags = normalizer.normalize(record.get("event") or record).flags
            except NormalizeError:
                unreadable += 1
                continue
            if record.get("label", 1) == 1:
                raised.setdefault(record["scenario"], set()).update(flags)
            elif flags:
                benign_flagged.append((record["scenario"], flags))
    return {scenario: frozenset(flags) for scenario, flags in raised.items()}, benign_flagged, unreadable


def test_each_stratus_detonation_raises_the_flags_of_its_technique():
    raised, _, unreadable = flags_by_scenario("stratus_detonations.jsonl.gz")
    assert unreadable == 0  # real detonations are whole events
    assert len(raised) >= 30  # the file holds most of Stratus's AWS techniques
    assert {technique: flags for technique, flags in raised.items() if flags} == EXPECTED


PANTHER: Dict[str, FrozenSet[str]] = {
    "AWS.CloudTrail.AMIModifiedForPublicAccess": frozenset({"cross_account", "public"}),
    "AWS.CloudTrail.DNSLogsDeleted": frozenset({"logging_off"}),
    "AWS.CloudTrail.EventSelectorsDisabled": frozenset({"logging_off"}),
    "AWS.CloudTrail.LoginProfileCreatedOrModified": frozenset({"credential_other"}),
    "AWS.CloudTrail.ResourceMadePublic": frozenset({"public"}),
    "AWS.CloudTrail.SecurityConfigurationChange": frozenset({"logging_off"}),
    "AWS.CloudTrail.ShortLifecycle": frozenset({"short_expiry"}),
    "AWS.CloudTrail.SnapshotMadePublic": frozenset({"cross_account", "public"}),
    "AWS.CloudTrail.Stopped": frozenset({"logging_off"}),
    "AWS.ConfigService.DisabledDeleted": frozenset({"logging_off"}),
    "AWS.EC2.ManualSecurityGroupChange": frozenset({"open_ingress"}),
    "AWS.IAM.AccessKeyCompromised": frozenset({"self_grant"}),
    "AWS.IAM.Backdoor.User.Keys": frozenset({"credential_other"}),
    "AWS.IAM.BackdoorRole": frozenset({"public"}),
    "AWS.RDS.SnapshotShared": frozenset({"cross_account"}),
    "AWS.S3.CopyObjectWithClientSideEncryption": frozenset({"customer_key"}),
    "AWS.S3.DeletePublicAccessBlock": frozenset({"public"}),
    "AWS.S3.DisableBucketLogging": frozenset({"logging_off"}),
    "AWS.S3.SecurityControlDisabling": frozenset({"logging_off"}),
    "AWS.User.Login.Profile.Modified": frozenset({"credential_other"}),
    "AWS.VPCFlow.LogsDeleted": frozenset({"logging_off"}),
}


def test_panther_rule_tests_raise_the_flags_of_their_rule_and_benign_ones_none():
    # rule tests are often partial events (no eventTime): those are left out, there is nothing to judge
    raised, benign_flagged, _ = flags_by_scenario("panther_rule_tests.jsonl.gz")
    assert len(raised) >= 100
    assert {rule: flags for rule, flags in raised.items() if flags} == PANTHER
    assert benign_flagged == []
