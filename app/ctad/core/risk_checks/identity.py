"""credential_other / self_grant: IAM persistence and privilege escalation.

Credentials or a console login made for another principal than the caller is how attackers persist (Stratus
iam-backdoor-user, iam-create-user-login-profile); for oneself it is routine key rotation. A policy attached to
the caller itself widens its own permissions. Who the caller is comes from userIdentity (what AWS wrote), never
from a request parameter.
"""

from __future__ import annotations

from typing import Tuple

from ctad.core.risk_checks.registry import REGISTRY, Case, Request

check = REGISTRY.check
OTHER, SELF = ("credential_other",), ("self_grant",)
IAM = "iam.amazonaws.com"


@check(IAM, "CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile", "CreateServiceSpecificCredential",
       "UploadSSHPublicKey", "UploadSigningCertificate", flags=OTHER, cases=[
    Case("key for another user", OTHER, {"userName": "bob"}),
    Case("login for another user", OTHER, {"userName": "bob"}, "CreateLoginProfile"),
    Case("role makes a user's key", OTHER, {"userName": "bob"}, caller="role"),
    Case("own key", (), {}),
    Case("own key, named", (), {"userName": "alice"}),
])  # fmt: skip
def credential_for_other(req: Request) -> Tuple[str, ...]:
    target = req.params.get("userName")
    return OTHER if isinstance(target, str) and target and target != req.caller_user else ()


@check(IAM, "AttachUserPolicy", "PutUserPolicy", "AddUserToGroup", flags=SELF, cases=[
    Case("user grants itself", SELF, {"userName": "alice",
                                      "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    Case("user joins a group", SELF, {"userName": "alice", "groupName": "admins"}, "AddUserToGroup"),
    Case("user grants another", (), {"userName": "bob"}),
    Case("role grants a user", (), {"userName": "ci"}, caller="role"),
])  # fmt: skip
def user_grants_itself(req: Request) -> Tuple[str, ...]:
    return SELF if req.caller_user and req.params.get("userName") == req.caller_user else ()


@check(IAM, "AttachRolePolicy", "PutRolePolicy", "UpdateAssumeRolePolicy", flags=SELF, cases=[
    Case("role grants itself", SELF, {"roleName": "ci", "policyName": "x"}, "PutRolePolicy", caller="role"),
    Case("role opens its own trust to everyone", ("self_grant", "public"),
         {"roleName": "ci", "policyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}}]}},
         "UpdateAssumeRolePolicy", caller="role"),
    Case("role grants another role", (), {"roleName": "app"}, "PutRolePolicy", caller="role"),
    Case("user attaches a role policy", (), {"roleName": "ci"}),
])  # fmt: skip
def role_grants_itself(req: Request) -> Tuple[str, ...]:
    return SELF if req.caller_role and req.params.get("roleName") == req.caller_role else ()
