"""The offline expert backend: deterministic answers to the same agent schemas, no network, no key.

It is the default when no Anthropic key is configured (the product works out of the box), and the fallback for
every row an LLM call fails on. Its rules are what a SOC analyst applies first: positive evidence of benign
automation (allowlist, AWS service acting for a principal, analyst-confirmed patterns) makes a false positive;
disabled logging, public or cross-account exposure, credential theft, enumeration errors, threat-intel hits and
analyst-confirmed attacks make a true positive; anything mixed goes to a human. An injection attempt in the
event's text is evidence of hostility: it can only raise concern.
"""

from __future__ import annotations

import shlex
from typing import Any, Callable, Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Set, Tuple

from ctad.core.risk_flags import FLAGS
from ctad.triage.evidence import Group, safe_token
from ctad.triage.fields import SEVERITIES, max_severity

NAME = "offline"

# Expert knowledge for APIs the catalogue may not list yet: eventSource:eventName -> (technique, tactic).
# Official ATT&CK ids; validated against lookups/attack_techniques.csv like any other answer.
EXPERT_APIS: Dict[str, Tuple[str, str]] = {
    "cloudtrail.amazonaws.com:StopLogging": ("T1562.008", "TA0005"),
    "cloudtrail.amazonaws.com:DeleteTrail": ("T1562.008", "TA0005"),
    "cloudtrail.amazonaws.com:UpdateTrail": ("T1562.008", "TA0005"),
    "cloudtrail.amazonaws.com:PutEventSelectors": ("T1562.008", "TA0005"),
    "guardduty.amazonaws.com:DeleteDetector": ("T1562.001", "TA0005"),
    "guardduty.amazonaws.com:CreateIPSet": ("T1562.001", "TA0005"),
    "ec2.amazonaws.com:DeleteFlowLogs": ("T1562.008", "TA0005"),
    "config.amazonaws.com:StopConfigurationRecorder": ("T1562.008", "TA0005"),
    "iam.amazonaws.com:CreateAccessKey": ("T1098.001", "TA0003"),
    "iam.amazonaws.com:CreateLoginProfile": ("T1098", "TA0003"),
    "iam.amazonaws.com:UpdateLoginProfile": ("T1098", "TA0003"),
    "iam.amazonaws.com:CreateUser": ("T1136.003", "TA0003"),
    "iam.amazonaws.com:AttachUserPolicy": ("T1098.003", "TA0004"),
    "iam.amazonaws.com:AttachRolePolicy": ("T1098.003", "TA0004"),
    "iam.amazonaws.com:PutUserPolicy": ("T1098.003", "TA0004"),
    "iam.amazonaws.com:PutRolePolicy": ("T1098.003", "TA0004"),
    "iam.amazonaws.com:UpdateAssumeRolePolicy": ("T1098.003", "TA0003"),
    "iam.amazonaws.com:ListUsers": ("T1087.004", "TA0007"),
    "iam.amazonaws.com:ListRoles": ("T1087.004", "TA0007"),
    "sts.amazonaws.com:GetCallerIdentity": ("T1087.004", "TA0007"),
    "sts.amazonaws.com:AssumeRole": ("T1078.004", "TA0004"),
    "sts.amazonaws.com:GetFederationToken": ("T1078.004", "TA0003"),
    "signin.amazonaws.com:ConsoleLogin": ("T1078.004", "TA0001"),
    "secretsmanager.amazonaws.com:GetSecretValue": ("T1555.006", "TA0006"),
    "secretsmanager.amazonaws.com:BatchGetSecretValue": ("T1555.006", "TA0006"),
    "secretsmanager.amazonaws.com:ListSecrets": ("T1555.006", "TA0006"),
    "ssm.amazonaws.com:GetParameters": ("T1552", "TA0006"),
    "ssm.amazonaws.com:GetParameter": ("T1552", "TA0006"),
    "ssm.amazonaws.com:SendCommand": ("T1651", "TA0002"),
    "ssm.amazonaws.com:StartSession": ("T1651", "TA0002"),
    "ec2.amazonaws.com:GetPasswordData": ("T1552", "TA0006"),
    "ec2.amazonaws.com:ModifySnapshotAttribute": ("T1537", "TA0010"),
    "ec2.amazonaws.com:ModifyImageAttribute": ("T1537", "TA0010"),
    "ec2.amazonaws.com:SharedSnapshotCopyInitiated": ("T1537", "TA0010"),
    "ec2.amazonaws.com:AuthorizeSecurityGroupIngress": ("T1562.007", "TA0005"),
    "ec2.amazonaws.com:CreateKeyPair": ("T1098", "TA0003"),
    "ec2.amazonaws.com:ModifyInstanceAttribute": ("T1059", "TA0002"),
    "ec2.amazonaws.com:RunInstances": ("T1578.002", "TA0005"),
    "ec2.amazonaws.com:DescribeInstances": ("T1580", "TA0007"),
    "ec2.amazonaws.com:CreateTrafficMirrorSession": ("T1040", "TA0006"),
    "s3.amazonaws.com:PutBucketPolicy": ("T1530", "TA0009"),
    "s3.amazonaws.com:PutBucketAcl": ("T1530", "TA0009"),
    "s3.amazonaws.com:DeleteBucketPolicy": ("T1530", "TA0009"),
    "s3.amazonaws.com:PutBucketReplication": ("T1537", "TA0010"),
    "s3.amazonaws.com:PutBucketLifecycle": ("T1485", "TA0040"),
    "s3.amazonaws.com:DeleteObject": ("T1485", "TA0040"),
    "s3.amazonaws.com:PutBucketVersioning": ("T1490", "TA0040"),
    "s3.amazonaws.com:GetObject": ("T1530", "TA0009"),
    "s3.amazonaws.com:ListBuckets": ("T1619", "TA0007"),
    "kms.amazonaws.com:ScheduleKeyDeletion": ("T1485", "TA0040"),
    "kms.amazonaws.com:PutKeyPolicy": ("T1486", "TA0040"),
    "lambda.amazonaws.com:AddPermission20150331v2": ("T1546", "TA0003"),
    "lambda.amazonaws.com:UpdateFunctionConfiguration20150331v2": ("T1546", "TA0003"),
    "lambda.amazonaws.com:UpdateFunctionCode20150331v2": ("T1546", "TA0003"),
    "organizations.amazonaws.com:LeaveOrganization": ("T1666", "TA0005"),
    "rds.amazonaws.com:ModifyDBSnapshotAttribute": ("T1537", "TA0010"),
    "route53.amazonaws.com:ChangeResourceRecordSets": ("T1584.002", "TA0042"),
    "ses.amazonaws.com:GetSendQuota": ("T1526", "TA0007"),
    "bedrock.amazonaws.com:InvokeModel": ("T1496", "TA0040"),
}
HIGH_IMPACT_TACTICS = {
    "TA0005": 1.5,
    "TA0006": 1.5,
    "TA0010": 1.5,
    "TA0040": 1.5,
    "TA0003": 1.0,
    "TA0004": 1.0,
}
FLAG_WEIGHT = {flag.name: flag.triage_weight for flag in FLAGS}
DENIED = (
    "AccessDenied",
    "UnauthorizedOperation",
    "Client.UnauthorizedOperation",
    "AccessDeniedException",
    "UnauthorizedAccess",
    "AuthorizationError",
)
AWS_KINDS = ("aws_service", "aws_internal")
# Allowlist fields that name who acted (a role or identity the estate owns); the others only say AWS was involved.
STRONG_ALLOW_FIELDS = ("identity", "role_name", "account_id")


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] if "/" in arn else arn


def _sample_param(group: Group, *names: str) -> str:
    """A request parameter from the raw samples, reduced to a safe token (it goes into a command draft)."""
    for s in group.untrusted:
        params = s.get("requestParameters")
        for n in names:
            v = (
                params.get(n) if isinstance(params, dict) else s.get(f"requestParameters.{n}")
            )  # nested or flat
            if isinstance(v, list) and v:
                v = v[0]
            if isinstance(v, str) and v:
                return safe_token(v, 200)
    return ""


# ------------------------------------------------------------------------------------------ recovery playbooks
Action = Dict[str, str]
Build = Callable[[Group, Set[str]], Optional[Action]]


class Recovery(NamedTuple):
    """What the responder proposes to undo after some APIs (or risk flags): one registered playbook.

    `build(group, matched)` gets the group and which of `apis` it called, and returns the action (None: nothing
    to propose, e.g. no bucket name in the samples). `example` is a test event that must trigger it: (eventSource,
    eventName, requestParameters, text one of the actions contains); tests/triage/test_offline_playbooks.py runs
    them."""

    apis: FrozenSet[str]
    flags: FrozenSet[str]
    build: Build
    example: Tuple[str, str, Dict[str, Any], str]


# In the order the actions are proposed. To add one: a function below, decorated with the eventSource:eventName
# keys (or risk flags) that call for it and an example event; nothing else changes.
RECOVERIES: List[Recovery] = []


def recovery(
    *apis: str, flags: Sequence[str] = (), example: Tuple[str, str, Dict[str, Any], str]
) -> Callable[[Build], Build]:
    """Register the decorated function as the recovery playbook for `apis` (eventSource:eventName) or `flags`."""

    def register(build: Build) -> Build:
        RECOVERIES.append(Recovery(frozenset(apis), frozenset(flags), build, example))
        return build

    return register


@recovery("cloudtrail.amazonaws.com:StopLogging", "cloudtrail.amazonaws.com:DeleteTrail",
          "cloudtrail.amazonaws.com:UpdateTrail", "cloudtrail.amazonaws.com:PutEventSelectors",
          example=("cloudtrail.amazonaws.com", "StopLogging", {"name": "org-trail"},
                   "start-logging --name org-trail"))  # fmt: skip
def _restore_trail(group: Group, matched: Set[str]) -> Optional[Action]:
    trail = _sample_param(group, "name", "trailName")
    return {
        "phase": "recover",
        "action": f"Restore CloudTrail logging on {trail or 'the trail'}",
        "target": trail,
        "command": f"aws cloudtrail start-logging --name {shlex.quote(trail or '<trail>')}",
    }


@recovery("guardduty.amazonaws.com:DeleteDetector",
          example=("guardduty.amazonaws.com", "DeleteDetector", {"detectorId": "12ab"}, "create-detector"))  # fmt: skip
def _reenable_guardduty(group: Group, matched: Set[str]) -> Optional[Action]:
    return {
        "phase": "recover",
        "action": "Re-enable GuardDuty in the region",
        "target": "",
        "command": "aws guardduty create-detector --enable",
    }


@recovery("s3.amazonaws.com:PutBucketPolicy", "s3.amazonaws.com:PutBucketAcl", flags=("public",),
          example=("s3.amazonaws.com", "PutBucketAcl", {"bucketName": "data", "x-amz-acl": ["public-read"]},
                   "put-public-access-block --bucket data"))  # fmt: skip
def _block_public_bucket(group: Group, matched: Set[str]) -> Optional[Action]:
    bucket = _sample_param(group, "bucketName")
    if not bucket:
        return None
    return {
        "phase": "recover",
        "action": f"Block public access on bucket {bucket} and review its policy",
        "target": bucket,
        "command": "aws s3api put-public-access-block "
        f"--bucket {shlex.quote(bucket)} --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
    }


@recovery("ec2.amazonaws.com:ModifySnapshotAttribute",
          example=("ec2.amazonaws.com", "ModifySnapshotAttribute", {"snapshotId": "snap-1"},
                   "--snapshot-id snap-1"))  # fmt: skip
def _unshare_snapshot(group: Group, matched: Set[str]) -> Optional[Action]:
    snap = _sample_param(group, "snapshotId")
    return {
        "phase": "recover",
        "action": f"Undo the share of snapshot {snap or '?'}",
        "target": snap,
        "command": "aws ec2 modify-snapshot-attribute --attribute createVolumePermission "
        f"--operation-type remove --snapshot-id {shlex.quote(snap or '<snapshot>')} "
        "--user-ids <account-added>",
    }


@recovery("ec2.amazonaws.com:ModifyImageAttribute",
          example=("ec2.amazonaws.com", "ModifyImageAttribute", {"imageId": "ami-1"}, "--image-id ami-1"))  # fmt: skip
def _unshare_image(group: Group, matched: Set[str]) -> Optional[Action]:
    image = _sample_param(group, "imageId")
    return {
        "phase": "recover",
        "action": f"Undo the share of AMI {image or '?'}",
        "target": image,
        "command": f"aws ec2 modify-image-attribute --image-id {shlex.quote(image or '<ami>')} "
        "--launch-permission 'Remove=[{UserId=<account-added>}]'",
    }


@recovery("ec2.amazonaws.com:AuthorizeSecurityGroupIngress",
          example=("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", {"groupId": "sg-1"},
                   "revoke-security-group-ingress --group-id sg-1"))  # fmt: skip
def _revoke_ingress(group: Group, matched: Set[str]) -> Optional[Action]:
    sg = _sample_param(group, "groupId")
    return {
        "phase": "recover",
        "action": f"Revoke the new ingress rule on {sg or 'the group'}",
        "target": sg,
        "command": "aws ec2 revoke-security-group-ingress --group-id "
        f"{shlex.quote(sg or '<sg>')} --ip-permissions <rule-added>",
    }


@recovery("iam.amazonaws.com:CreateAccessKey", "iam.amazonaws.com:CreateUser",
          "iam.amazonaws.com:CreateLoginProfile", "iam.amazonaws.com:AttachUserPolicy",
          "iam.amazonaws.com:AttachRolePolicy", "iam.amazonaws.com:PutUserPolicy",
          "iam.amazonaws.com:UpdateAssumeRolePolicy", "ec2.amazonaws.com:CreateKeyPair",
          example=("iam.amazonaws.com", "CreateLoginProfile", {"userName": "bob"},
                   "Delete or detach what the actor created: CreateLoginProfile"))  # fmt: skip
def _remove_created(group: Group, matched: Set[str]) -> Optional[Action]:
    created = ", ".join(sorted(a.split(":", 1)[1] for a in matched))
    return {
        "phase": "recover",
        "action": "Delete or detach what the actor created: " + created,
        "target": _sample_param(group, "userName", "roleName", "keyName"),
        "command": "",
    }


class OfflineExpert:
    """Answers analyst, intel, validator and responder for one group from its context (no model)."""

    name = NAME

    def __init__(self, reference: Any):
        self.reference = reference

    # ----------------------------------------------------------------------------------------------- intel
    def intel(self, group: Group) -> Dict[str, Any]:
        ctx = group.context
        det = ctx["detector"]
        ref = self.reference
        technique, tactic, why = "", "", ""
        if det["technique"] and ref.valid_technique(det["technique"]):
            technique, why = det["technique"], "detector mapping"
        else:
            for api in ctx["apis"]:
                info = ref.api(*api.split(":", 1)) if ":" in api else None
                if info and info.get("technique_id") and ref.valid_technique(str(info["technique_id"])):
                    technique, tactic, why = (
                        str(info["technique_id"]),
                        str(info.get("tactic_id") or ""),
                        "catalogue",
                    )
                    break
                if api in EXPERT_APIS and ref.valid_technique(EXPERT_APIS[api][0]):
                    technique, tactic = EXPERT_APIS[api]
                    why = "expert API map"
                    break
        if technique:
            tactic = ref.tactic_for(technique, det["tactic"] or tactic)
        elif ref.valid_tactic(det["tactic"]):
            tactic = det["tactic"]
        iocs: List[Dict[str, str]] = []
        for ip in ctx["source_ips"]:
            if ip["kind"] not in ("private", "aws_service", "aws_internal", "missing", "") and ip["ip"]:
                iocs.append({"type": "ip", "value": ip["ip"]})
        iocs += [{"type": "access_key", "value": k} for k in ctx["access_keys"] if k]
        if ctx["identity"].startswith("arn:"):
            iocs.append({"type": "arn", "value": ctx["identity"]})
        for s in group.untrusted[:3]:
            ua = s.get("userAgent")
            if (
                isinstance(ua, str)
                and ua
                and ctx["user_agents"]
                and ctx["user_agents"][0]["kind"] in ("script", "scanner", "unknown")
            ):
                item = {"type": "user_agent", "value": ua[:512]}
                if item not in iocs:
                    iocs.append(item)
        name = ref.technique_name(technique) if technique else ""
        rationale = (
            f"{technique} ({name}) from {why}" if technique else "no ATT&CK technique fits the evidence"
        )
        return {
            "tactic_id": tactic,
            "technique_id": technique,
            "technique_name": name[:200],
            "iocs": iocs[:25],
            "rationale": rationale[:1500],
        }

    # --------------------------------------------------------------------------------------------- analyst
    def analyst(self, group: Group, intel: Dict[str, Any]) -> Dict[str, Any]:
        ctx = group.context
        det = ctx["detector"]
        apis = ", ".join(a.split(":", 1)[-1] for a in ctx["apis"][:5])
        ip = ctx["source_ips"][0] if ctx["source_ips"] else {"ip": "?", "kind": "?"}
        ua = ctx["user_agents"][0] if ctx["user_agents"] else {"family": "unknown", "kind": "unknown"}
        who = f"{_short(ctx['identity'])} ({ctx['identity_type'] or 'unknown type'})"
        what = (
            f"{who} called {apis} {ctx['events']} time(s) between {ctx['window']['first'] or '?'} and "
            f"{ctx['window']['last'] or '?'} from {ip['ip']} ({ip['kind'] or 'unknown network'}) using "
            f"{ua['family']} ({ua['kind']})."
        )
        if ctx["error_codes"]:
            what += " Errors: " + ", ".join(f"{k} x{n}" for k, n in ctx["error_codes"].items()) + "."
        why = list(det["reasons"][:6])
        why += [f"risk flag: {f}" for f in ctx["risk_flags"]]
        if ctx["cti_matches"]:
            why.append(f"threat intel: {len(ctx['cti_matches'])} indicator match(es)")
        if ctx["injection_findings"]:
            why.append(
                "attacker-written fields contain text aimed at an AI triage system ("
                + ", ".join(sorted({f["kind"] for f in ctx["injection_findings"]}))
                + ")"
            )
        base = ctx["baseline"]
        if base.get("known_identity") and base.get("apis_new"):
            why.append("APIs new for this identity: " + ", ".join(base["apis_new"][:4]))
        if not why:
            why.append(f"detector score {det['max_score']}")
        sequence = []
        if intel["technique_id"]:
            sequence.append(
                f"{intel['tactic_id'] or '?'} / {intel['technique_id']} {intel['technique_name']}".strip()
            )
        if ctx["error_codes"] and any(k in DENIED for k in ctx["error_codes"]):
            sequence.insert(
                0, "permission probing: calls denied while the actor maps what the credentials allow"
            )
        if ctx["identity_activity"]["events"] > ctx["events"]:
            sequence.append(
                f"same identity made {ctx['identity_activity']['events']} call(s) in the window: "
                + ", ".join(ctx["identity_activity"]["top_apis"][:5])
            )
        severity = self._severity(ctx, intel)
        summary = f"{who}: {apis}" + (f" [{intel['technique_id']}]" if intel["technique_id"] else "")
        return {
            "summary": summary[:400],
            "what_happened": what[:2000],
            "why_suspicious": [w[:400] for w in why[:12]],
            "attack_sequence": [s[:300] for s in sequence[:10]],
            "severity": severity,
        }

    @staticmethod
    def _severity(ctx: Dict[str, Any], intel: Dict[str, Any]) -> str:
        flags = set(ctx["risk_flags"])
        if flags & {"logging_off", "public"}:
            sev = "critical"
        elif flags or ctx["cti_matches"] or intel["tactic_id"] in ("TA0006", "TA0010", "TA0040"):
            sev = "high"
        elif intel["tactic_id"] in HIGH_IMPACT_TACTICS:
            sev = "medium"
        else:
            sev = "low"
        det = ctx["detector"]["severity"]
        return max_severity(sev, det) if det in SEVERITIES else sev

    # ------------------------------------------------------------------------------------------- validator
    def validator(self, group: Group, intel: Dict[str, Any]) -> Dict[str, Any]:
        ctx = group.context
        good: List[Tuple[float, str]] = []
        bad: List[Tuple[float, str]] = []
        weak = 0.0
        for m in ctx["allowlist_matches"]:
            if m["field"] in STRONG_ALLOW_FIELDS:
                good.append((3.0, f"allowlist {m['field']}: {m['reason']}"))
            elif weak < 1.5:  # "an AWS service was involved" says little about who drove it
                weak += 1.0
                good.append((1.0, f"allowlist {m['field']}: {m['reason']}"))
        # ctx["unverified_claims"] (an AWS-service user agent that no AWS-written field confirms) weighs nothing
        # either way: an attacker can send it, and so does a real console session (`AWS Internal` from the
        # user's own IP, sessionCredentialFromConsole=true: 226 events in the real account in ../shared).
        for k in ctx["knowledge_matches"]:
            if k.get("verdict") in ("false_positive", "benign_true_positive"):
                good.append(
                    (3.0, f"analyst-confirmed {k['verdict']} for {k.get('api') or k.get('event_id')}")
                )
            elif k.get("verdict") == "true_positive":
                bad.append((3.0, f"analyst-confirmed true_positive for {k.get('api') or k.get('event_id')}"))
        det = ctx["detector"]
        kinds = {ip["kind"] for ip in ctx["source_ips"]} | {u["kind"] for u in ctx["user_agents"]}
        aws_actor = ctx["identity_type"] == "AWSService" or ctx["identity"].startswith("svc:")
        if aws_actor and not ctx["risk_flags"] and kinds <= set(AWS_KINDS) | {"missing", ""}:
            good.append(
                (
                    2.0,
                    "an AWS service made the call on a principal's behalf"
                    + (f" (invokedBy {det['invoked_by']})" if det["invoked_by"] else ""),
                )
            )
        for f in ctx["risk_flags"]:
            bad.append((FLAG_WEIGHT.get(f, 1.0), f"risk flag {f}"))
        if ctx["cti_matches"]:
            bad.append((3.0, f"threat-intel match: {ctx['cti_matches'][0].get('indicator', '')}"))
        denied = sum(n for k, n in ctx["error_codes"].items() if k in DENIED)
        if denied >= 3 or (denied and denied * 2 >= ctx["events"]):
            bad.append((2.0, f"{denied} denied call(s): permission probing"))
        weight = HIGH_IMPACT_TACTICS.get(intel["tactic_id"], 0.0)
        if weight:
            bad.append((weight, f"tactic {intel['tactic_id']} ({intel['technique_id'] or 'no technique'})"))
        if float(det["max_score"]) >= 0.9:
            bad.append((1.0, f"detector score {det['max_score']}"))
        base = ctx["baseline"]
        if base.get("known_identity") and base.get("ips_new"):
            bad.append((0.5, "source IP new for this identity"))
        injected = bool(ctx["injection_findings"])
        if injected:
            bad.append(
                (
                    3.0,
                    "prompt-injection text in attacker-written fields: "
                    + ", ".join(sorted({f["kind"] for f in ctx["injection_findings"]})),
                )
            )
        b = sum(w for w, _ in good)
        m = sum(w for w, _ in bad)
        if b >= 2.0 and m < 2.0:
            verdict, conf = "false_positive", min(0.95, 0.6 + 0.1 * (b - m))
        elif m >= 2.5 and b < 2.0:
            verdict, conf = "true_positive", min(0.97, 0.5 + 0.08 * m)
        else:
            verdict, conf = "needs_review", 0.5
        if injected and verdict == "false_positive":
            verdict, conf = "needs_review", 0.5
        evidence = [t for _, t in sorted(bad + good, key=lambda x: -x[0])][:12] or [
            "no positive evidence of benign automation and no strong sign of abuse"
        ]
        benign = "; ".join(t for _, t in good)[:600]
        return {
            "verdict": verdict,
            "confidence": round(conf, 3),
            "evidence": [e[:400] for e in evidence],
            "benign_explanation": benign,
            "injection_suspected": injected,
        }

    # ------------------------------------------------------------------------------------------- responder
    def responder(self, group: Group, validator: Dict[str, Any]) -> Dict[str, Any]:
        ctx = group.context
        actions: List[Dict[str, str]] = []
        if validator["verdict"] == "false_positive":
            actions.append(
                {
                    "phase": "tune",
                    "action": "Record the analyst verdict so the pattern is reused",
                    "target": ctx["identity"],
                    "command": "ctad feedback add --event-id <id> --verdict false_positive",
                }
            )
            return {"actions": actions, "requires_approval": True, "notes": "benign: no containment proposed"}
        identity = ctx["identity"]
        for key in ctx["access_keys"][:2]:
            if key.startswith("AKIA"):
                user = _short(identity)
                actions.append(
                    {
                        "phase": "contain",
                        "action": f"Deactivate long-term access key {key}",
                        "target": key,
                        "command": "aws iam update-access-key --status Inactive "
                        f"--access-key-id {shlex.quote(key)} --user-name {shlex.quote(user)}",
                    }
                )
        if ":role/" in identity:
            role = _short(identity)
            actions.append(
                {
                    "phase": "contain",
                    "action": f"Revoke active sessions of role {role} (deny tokens "
                    "issued before now, as the console's 'Revoke active sessions' does)",
                    "target": identity,
                    "command": f"aws iam put-role-policy --role-name {shlex.quote(role)} --policy-name "
                    "AWSRevokeOlderSessions --policy-document file://revoke-older-sessions.json",
                }
            )
        elif ":user/" in identity:
            user = _short(identity)
            actions.append(
                {
                    "phase": "contain",
                    "action": f"Quarantine user {user} (deny-all inline policy) "
                    "and remove its console password",
                    "target": identity,
                    "command": f"aws iam put-user-policy --user-name {shlex.quote(user)} --policy-name "
                    "ctad-quarantine --policy-document file://deny-all.json",
                }
            )
        elif identity.endswith(":root"):
            actions.append(
                {
                    "phase": "contain",
                    "action": "Rotate root credentials, check root MFA and access keys",
                    "target": identity,
                    "command": "",
                }
            )
        apis, flags = set(ctx["apis"]), set(ctx["risk_flags"])
        for playbook in RECOVERIES:
            matched = apis & playbook.apis
            if matched or flags & playbook.flags:
                action = playbook.build(group, matched)
                if action:
                    actions.append(action)
        actions.append(
            {
                "phase": "investigate",
                "action": "Review all activity of this identity and access key "
                "in the last 7 days (CloudTrail Lake or the SIEM)",
                "target": identity,
                "command": "",
            }
        )
        note = "draft for human approval; nothing is executed"
        if validator["verdict"] == "needs_review":
            note = "needs review: confirm before containment; " + note
        return {"actions": actions[:10], "requires_approval": True, "notes": note}

    def run(self, group: Group) -> Dict[str, Dict[str, Any]]:
        intel = self.intel(group)
        analyst = self.analyst(group, intel)
        validator = self.validator(group, intel)
        responder = self.responder(group, validator)
        return {"analyst": analyst, "intel": intel, "validator": validator, "responder": responder}
