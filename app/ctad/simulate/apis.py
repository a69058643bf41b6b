# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""The API vocabulary of simulated actors: which calls each kind of workload makes, with plausible parameters.

Benign workloads deliberately include the sensitive calls attackers make (CreateAccessKey, PutBucketPolicy,
GetSecretValue, ModifySnapshotAttribute, StopLogging, ...) at low rates, so that the API name alone never
separates attack from benign traffic.
"""

from __future__ import annotations

import random
import zlib
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ctad.core.risk_checks.storage import SSE_C

GLOBAL_SOURCES = {
    "iam.amazonaws.com",
    "organizations.amazonaws.com",
    "ce.amazonaws.com",
    "route53.amazonaws.com",
    "signin.amazonaws.com",
    "health.amazonaws.com",
    "cloudfront.amazonaws.com",
}
READ_PREFIXES = (
    "Describe",
    "Get",
    "List",
    "Head",
    "Lookup",
    "Search",
    "BatchGet",
    "Check",
    "Filter",
    "Scan",
    "Query",
    "Select",
    "Validate",
    "Test",
    "View",
    "Preview",
    "Estimate",
    "Discover",
)
# Calls that read but CloudTrail marks readOnly=false, or the other way round
READ_ONLY_OVERRIDES = {
    "AssumeRole": True,
    "GetSecretValue": True,
    "Decrypt": True,
    "GenerateDataKey": True,
    "ConsoleLogin": False,
    "GetFederationToken": True,
    "StartSession": False,
    "SendSSHPublicKey": False,
    "InvokeModel": True,
    "GetAuthorizationToken": True,
}

Op = Tuple[str, str]  # (eventSource, eventName)


def src(short: str) -> str:
    return short + ".amazonaws.com"


def read_only(name: str) -> bool:
    got = READ_ONLY_OVERRIDES.get(name)
    if got is not None:
        return got
    return name.startswith(READ_PREFIXES)


def ops(spec: str) -> List[Op]:
    """'ec2:DescribeInstances,DescribeVpcs s3:ListBuckets' -> [(source, name), ...]."""
    out: List[Op] = []
    for part in spec.split():
        svc, names = part.split(":", 1)
        for n in names.split(","):
            out.append((src(svc), n))
    return out


# --- workload vocabularies -------------------------------------------------------------------------------
BROWSE = ops(
    "ec2:DescribeInstances,DescribeSecurityGroups,DescribeVpcs,DescribeSubnets,DescribeVolumes,DescribeImages,"
    "DescribeInstanceStatus,DescribeRegions,DescribeAvailabilityZones,DescribeKeyPairs,DescribeSnapshots,"
    "DescribeLaunchTemplates,DescribeNetworkInterfaces,DescribeAddresses,DescribeRouteTables,DescribeInstanceTypes "
    "s3:ListBuckets,GetBucketLocation,GetBucketPolicy,GetBucketAcl,GetBucketVersioning,GetBucketEncryption,"
    "GetBucketTagging,GetBucketPublicAccessBlock "
    "iam:ListUsers,ListRoles,GetRole,GetUser,ListPolicies,GetPolicy,GetPolicyVersion,ListAttachedRolePolicies,"
    "ListAccessKeys,GetAccountSummary,ListGroups,ListMFADevices,ListRolePolicies "
    "lambda:ListFunctions20150331,GetFunction20150331v2,GetFunctionConfiguration20150331v2,"
    "ListEventSourceMappings20150331 "
    "monitoring:DescribeAlarms,GetMetricData logs:DescribeLogGroups,DescribeLogStreams,FilterLogEvents,GetLogEvents "
    "rds:DescribeDBInstances,DescribeDBClusters,DescribeDBSnapshots dynamodb:ListTables,DescribeTable "
    "ecs:ListClusters,DescribeClusters,ListServices,DescribeServices,DescribeTaskDefinition,ListTasks,DescribeTasks "
    "eks:ListClusters,DescribeCluster cloudformation:DescribeStacks,ListStacks,DescribeStackEvents,GetTemplate "
    "kms:ListKeys,DescribeKey,ListAliases secretsmanager:ListSecrets,DescribeSecret "
    "ssm:DescribeInstanceInformation,GetParameter,DescribeParameters,GetParametersByPath "
    "cloudtrail:DescribeTrails,LookupEvents,GetTrailStatus route53:ListHostedZones,ListResourceRecordSets "
    "elasticloadbalancing:DescribeLoadBalancers,DescribeTargetGroups,DescribeTargetHealth "
    "autoscaling:DescribeAutoScalingGroups sqs:ListQueues,GetQueueAttributes sns:ListTopics "
    "ecr:DescribeRepositories,DescribeImages config:DescribeConfigRules guardduty:ListDetectors,ListFindings,"
    "GetFindings securityhub:GetFindings health:DescribeEvents ce:GetCostAndUsage bedrock:ListFoundationModels"
)
CONSOLE_HOME = ops(
    "health:DescribeEventAggregates ce:GetCostAndUsage ec2:DescribeRegions "
    "servicecatalog-appregistry:ListApplications notifications:ListNotificationHubs"
)
ENGINEER_WRITES = ops(
    "ec2:StartInstances,StopInstances,RebootInstances,CreateTags,CreateSecurityGroup,AuthorizeSecurityGroupIngress,"
    "RevokeSecurityGroupIngress,RunInstances,ModifyInstanceAttribute,DescribeInstanceAttribute,GetConsoleOutput "
    "ssm:StartSession,TerminateSession,SendCommand,GetCommandInvocation,GetParameters "
    "secretsmanager:GetSecretValue,PutSecretValue lambda:UpdateFunctionCode20150331v2,"
    "UpdateFunctionConfiguration20150331v2,Invoke "
    "ecs:UpdateService,RegisterTaskDefinition cloudformation:CreateChangeSet,ExecuteChangeSet,UpdateStack "
    "ec2-instance-connect:SendSSHPublicKey sts:AssumeRole,GetSessionToken s3:PutBucketTagging "
    "logs:CreateLogGroup,PutRetentionPolicy kms:Decrypt"
)
ADMIN_WRITES = ops(
    "iam:CreateUser,CreateLoginProfile,AddUserToGroup,AttachUserPolicy,CreateAccessKey,DeleteAccessKey,"
    "UpdateAccessKey,UpdateLoginProfile,PutUserPolicy,CreateRole,AttachRolePolicy,UpdateAssumeRolePolicy,"
    "DetachUserPolicy,CreatePolicyVersion,TagRole,GetAccountAuthorizationDetails,GenerateCredentialReport,"
    "GetCredentialReport,ListEntitiesForPolicy,DeleteLoginProfile,RemoveUserFromGroup "
    "s3:PutBucketPolicy,PutBucketPublicAccessBlock,PutBucketVersioning,PutBucketLifecycle,PutBucketEncryption "
    "ec2:AuthorizeSecurityGroupIngress,RevokeSecurityGroupIngress,ModifySnapshotAttribute,ModifyImageAttribute,"
    "GetPasswordData,EnableSerialConsoleAccess,DeleteFlowLogs,CreateFlowLogs "
    "cloudtrail:PutEventSelectors,UpdateTrail,GetEventSelectors guardduty:UpdateDetector "
    "sts:GetFederationToken organizations:ListAccounts,DescribeOrganization,ListPoliciesForTarget "
    "secretsmanager:GetSecretValue,BatchGetSecretValue,CreateSecret rds:ModifyDBSnapshotAttribute "
    "kms:CreateGrant,PutKeyPolicy"
)
TERRAFORM_READS = ops(
    "sts:GetCallerIdentity iam:GetRole,GetPolicy,GetPolicyVersion,ListAttachedRolePolicies,ListRolePolicies,"
    "GetRolePolicy,GetInstanceProfile,GetOpenIDConnectProvider "
    "ec2:DescribeVpcs,DescribeSubnets,DescribeSecurityGroups,DescribeSecurityGroupRules,DescribeRouteTables,"
    "DescribeInternetGateways,DescribeNatGateways,DescribeVpcAttribute,DescribeInstances,DescribeLaunchTemplates,"
    "DescribeLaunchTemplateVersions,DescribeImages,DescribeNetworkAcls,DescribeFlowLogs,DescribeVpcEndpoints,"
    "DescribeTags,DescribeInstanceAttribute,DescribeVolumes "
    "s3:GetBucketPolicy,GetBucketAcl,GetBucketVersioning,GetBucketEncryption,GetBucketLogging,GetBucketTagging,"
    "GetBucketPublicAccessBlock,GetBucketLifecycle,GetBucketCors,GetBucketWebsite,GetBucketReplication,"
    "GetBucketObjectLockConfiguration,GetBucketOwnershipControls,GetAccelerateConfiguration,GetBucketRequestPayment "
    "lambda:GetFunction20150331v2,GetPolicy20150331v2,ListVersionsByFunction20150331,GetFunctionCodeSigningConfig "
    "logs:DescribeLogGroups,ListTagsForResource kms:DescribeKey,GetKeyPolicy,GetKeyRotationStatus,ListResourceTags "
    "secretsmanager:DescribeSecret,GetResourcePolicy,GetSecretValue dynamodb:DescribeTable,DescribeContinuousBackups,"
    "DescribeTimeToLive rds:DescribeDBInstances,DescribeDBSubnetGroups ecs:DescribeClusters,DescribeServices,"
    "DescribeTaskDefinition sqs:GetQueueAttributes,ListQueueTags sns:GetTopicAttributes,ListTagsForResource "
    "route53:GetHostedZone,ListResourceRecordSets cloudtrail:DescribeTrails,GetTrailStatus,GetEventSelectors "
    "elasticloadbalancing:DescribeLoadBalancers,DescribeTargetGroups,DescribeListeners,DescribeLoadBalancerAttributes "
    "route53resolver:ListResolverQueryLogConfigs"
)
TERRAFORM_WRITES = ops(
    "iam:CreateRole,AttachRolePolicy,PutRolePolicy,UpdateAssumeRolePolicy,TagRole,CreatePolicy,CreatePolicyVersion,"
    "DeletePolicyVersion,CreateInstanceProfile,AddRoleToInstanceProfile,DetachRolePolicy "
    "ec2:CreateSecurityGroup,AuthorizeSecurityGroupIngress,AuthorizeSecurityGroupEgress,RevokeSecurityGroupIngress,"
    "CreateTags,RunInstances,CreateLaunchTemplateVersion,ModifyInstanceAttribute,CreateFlowLogs,DeleteFlowLogs,"
    "ModifyImageAttribute,CreateVpcEndpoint "
    "s3:PutBucketPolicy,PutBucketLifecycle,PutBucketEncryption,PutBucketVersioning,PutBucketTagging,"
    "PutBucketPublicAccessBlock,CreateBucket,PutBucketLogging "
    "lambda:CreateFunction20150331,AddPermission20150331v2,UpdateFunctionConfiguration20150331v2,"
    "UpdateFunctionCode20150331v2,PublishLayerVersion20181031,TagResource "
    "logs:CreateLogGroup,PutRetentionPolicy,TagResource kms:CreateKey,CreateAlias,PutKeyPolicy "
    "secretsmanager:CreateSecret,PutSecretValue,TagResource rds:ModifyDBInstance,CreateDBSnapshot "
    "route53resolver:DeleteResolverQueryLogConfig,CreateResolverQueryLogConfig sqs:CreateQueue,SetQueueAttributes "
    "ecs:RegisterTaskDefinition,UpdateService cloudtrail:PutEventSelectors"
)
DEPLOY = ops(
    "ecr:GetAuthorizationToken,BatchGetImage,DescribeImages ecs:RegisterTaskDefinition,UpdateService,"
    "DescribeServices secretsmanager:GetSecretValue lambda:UpdateFunctionCode20150331v2,"
    "GetFunction20150331v2,PublishVersion20150331,UpdateAlias20150331 sts:GetCallerIdentity"
)
ALL_REGIONS = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
]
SVC_USER_OPS = ops(
    "s3:ListBuckets,GetObject,PutObject,ListObjects,GetBucketLocation sts:GetCallerIdentity "
    "ec2:DescribeInstances,DescribeRegions,DescribeSnapshots ecr:GetAuthorizationToken,BatchGetImage "
    "cloudwatch:GetMetricData,ListMetrics logs:FilterLogEvents iam:ListUsers,ListAccessKeys "
    "secretsmanager:GetSecretValue ssm:GetParameter route53:ListHostedZones,ChangeResourceRecordSets"
)
LAMBDA_OPS = ops(
    "kms:Decrypt,GenerateDataKey ssm:GetParameter,GetParameters secretsmanager:GetSecretValue events:PutEvents "
    "s3:GetObject,PutObject,ListObjects sts:AssumeRole,GetCallerIdentity ec2:DescribeInstances,DescribeSnapshots "
    "logs:CreateLogStream athena:StartQueryExecution,GetQueryExecution glue:GetTable"
)
INSTANCE_AGENT = ops(
    "ssm:UpdateInstanceInformation,ListInstanceAssociations logs:CreateLogStream "
    "kms:GenerateDataKey ec2:DescribeTags"
)
SCANNER = ops(
    "iam:GetAccountAuthorizationDetails,ListUsers,ListRoles,ListAccessKeys,GetAccessKeyLastUsed,ListMFADevices,"
    "GetAccountPasswordPolicy,GetCredentialReport,GenerateCredentialReport,ListPolicies,ListVirtualMFADevices "
    "ec2:DescribeInstances,DescribeSecurityGroups,DescribeSnapshots,DescribeImages,DescribeVolumes,DescribeVpcs,"
    "DescribeSnapshotAttribute,DescribeImageAttribute,DescribeFlowLogs,DescribeNetworkAcls,GetEbsEncryptionByDefault "
    "s3:ListBuckets,GetBucketPolicy,GetBucketAcl,GetBucketPublicAccessBlock,GetBucketEncryption,GetBucketLogging,"
    "GetBucketVersioning,GetBucketPolicyStatus "
    "lambda:ListFunctions20150331,GetPolicy20150331v2 rds:DescribeDBInstances,DescribeDBSnapshots,"
    "DescribeDBSnapshotAttributes cloudtrail:DescribeTrails,GetTrailStatus,GetEventSelectors "
    "kms:ListKeys,GetKeyPolicy,GetKeyRotationStatus secretsmanager:ListSecrets,DescribeSecret "
    "ssm:DescribeParameters guardduty:ListDetectors,GetDetector config:DescribeConfigurationRecorders "
    "ecr:DescribeRepositories,GetRepositoryPolicy eks:ListClusters,DescribeCluster sns:ListTopics,GetTopicAttributes "
    "sqs:ListQueues,GetQueueAttributes organizations:DescribeOrganization,ListAccounts "
    "route53resolver:ListResolverQueryLogConfigs ses:ListIdentities,GetSendQuota"
)
CONFIG_RECORDER = ops(
    "ec2:DescribeInstances,DescribeSecurityGroups,DescribeVolumes,DescribeNetworkInterfaces,"
    "DescribeSubnets,DescribeVpcs iam:GetRole,GetPolicy,GetUser,ListAttachedRolePolicies "
    "s3:GetBucketAcl,GetBucketPolicy,GetBucketVersioning lambda:GetFunction20150331v2 "
    "rds:DescribeDBInstances config:PutEvaluations"
)
BACKUP = ops(
    "ec2:CreateSnapshot,DescribeSnapshots,CopySnapshot,DeleteSnapshot,CreateTags "
    "rds:CreateDBSnapshot,DescribeDBSnapshots,DeleteDBSnapshot"
)
DATA_OPS = ops(
    "s3:GetObject,PutObject,HeadObject,ListObjects,DeleteObject,DeleteObjects,CopyObject,ListObjectVersions"
)
DATA_EVENT_NAMES = {
    "GetObject",
    "PutObject",
    "HeadObject",
    "ListObjects",
    "DeleteObject",
    "DeleteObjects",
    "CopyObject",
    "ListObjectVersions",
    "Invoke",
    "HeadBucket",
}


# --- parameters --------------------------------------------------------------------------------------------
class Resources:
    """Named resources of one account; parameters pick from these so they repeat like real ones do."""

    __slots__ = (
        "account",
        "buckets",
        "instances",
        "functions",
        "secrets",
        "params",
        "roles",
        "users",
        "sgs",
        "snapshots",
        "amis",
        "clusters",
        "tables",
        "keys",
        "db",
        "log_groups",
        "org_accounts",
    )

    def __init__(self, **kw: Any) -> None:
        for k in self.__slots__:
            setattr(self, k, kw.get(k, []))


ParamFn = Callable[[Resources, random.Random, str], Optional[Dict[str, Any]]]


def _b(r: Resources, g: random.Random) -> str:
    return g.choice(r.buckets)


# Some workloads encrypt with their own keys by design (SSE-C: a backup vault whose key lives in an HSM). One bucket
# in 16, chosen by name so no random draw moves: every write to it carries the SSE-C header, so a customer key is
# routine for whoever writes there, and the first write of a new writer is a first-time high-impact action. The
# header is the one the customer_key check reads (`SSE_C`).


def _put_object(r: Resources, g: random.Random, reg: str) -> Dict[str, Any]:
    bucket = _b(r, g)
    params: Dict[str, Any] = {
        "bucketName": bucket,
        "Host": bucket + f".s3.{reg}.amazonaws.com",
        "key": f"exports/{g.getrandbits(32):08x}.json.gz",
    }
    if zlib.crc32(bucket.encode()) % 16 == 0:
        params[SSE_C] = "AES256"
        params["x-amz-server-side-encryption-customer-key-MD5"] = "cGxhY2Vob2xkZXIta2V5LW1kNS12YWx1ZT09"
    return params


def _policy(r: Resources, principal: str) -> str:
    return (
        f'{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},'
        '"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::BUCKET/*","arn:aws:s3:::BUCKET"]}]}'
    )


PARAMS: Dict[str, ParamFn] = {
    "DescribeInstances": lambda r, g, reg: (
        {"instancesSet": {}, "filterSet": {}}
        if g.random() < 0.7
        else {"instancesSet": {"items": [{"instanceId": g.choice(r.instances)}]}, "filterSet": {}}
    ),
    "StartInstances": lambda r, g, reg: {"instancesSet": {"items": [{"instanceId": g.choice(r.instances)}]}},
    "StopInstances": lambda r, g, reg: {
        "instancesSet": {"items": [{"instanceId": g.choice(r.instances)}]},
        "force": False,
    },
    "RebootInstances": lambda r, g, reg: {"instancesSet": {"items": [{"instanceId": g.choice(r.instances)}]}},
    "DescribeInstanceAttribute": lambda r, g, reg: {
        "instanceId": g.choice(r.instances),
        "attribute": g.choice(["userData", "instanceType", "disableApiTermination"]),
    },
    "ModifyInstanceAttribute": lambda r, g, reg: {
        "instanceId": g.choice(r.instances),
        "instanceType": {"value": g.choice(["m6i.large", "t3.large"])},
    },
    "GetConsoleOutput": lambda r, g, reg: {"instanceId": g.choice(r.instances)},
    "GetPasswordData": lambda r, g, reg: {"instanceId": g.choice(r.instances)},
    "AuthorizeSecurityGroupIngress": lambda r, g, reg: (
        {
            "groupId": g.choice(r.sgs),
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": p,
                        "toPort": p,
                        "groups": {},
                        "ipRanges": {
                            "items": [
                                {
                                    "cidrIp": g.choice(
                                        [
                                            "10.0.0.0/8",
                                            "172.16.0.0/12",
                                            "10.20.0.0/16",
                                            "0.0.0.0/0" if p == 443 else "10.0.0.0/8",
                                        ]
                                    )
                                }
                            ]
                        },
                        "ipv6Ranges": {},
                        "prefixListIds": {},
                    }
                ]
            },
        }
        if (p := g.choice([443, 5432, 22, 8080, 3306]))
        else None
    ),
    "RevokeSecurityGroupIngress": lambda r, g, reg: {"groupId": g.choice(r.sgs)},
    "CreateSecurityGroup": lambda r, g, reg: {
        "groupName": "sg-%s-%d" % (g.choice(["web", "db", "batch", "lb"]), g.randint(1, 99)),
        "groupDescription": "Managed by Terraform",
        "vpcId": "vpc-" + f"{g.getrandbits(68):017x}",
    },
    "RunInstances": lambda r, g, reg: {
        "instancesSet": {"items": [{"imageId": g.choice(r.amis), "minCount": 1, "maxCount": 1}]},
        "instanceType": g.choice(["t3.medium", "m6i.large", "c6i.xlarge", "t3.small"]),
        "blockDeviceMapping": {},
        "monitoring": {"enabled": False},
        "disableApiTermination": False,
        "disableApiStop": False,
        "clientToken": "terraform-%020d" % g.getrandbits(64),
    },
    "CreateTags": lambda r, g, reg: {
        "resourcesSet": {"items": [{"resourceId": g.choice(r.instances)}]},
        "tagSet": {
            "items": [{"key": g.choice(["Owner", "Team", "CostCenter", "Name"]), "value": "platform"}]
        },
    },
    "CreateSnapshot": lambda r, g, reg: {
        "volumeId": "vol-" + f"{g.getrandbits(68):017x}",
        "description": "Created by AWS Backup",
    },
    "CopySnapshot": lambda r, g, reg: {
        "sourceSnapshotId": g.choice(r.snapshots),
        "sourceRegion": reg,
        "encrypted": True,
    },
    "DeleteSnapshot": lambda r, g, reg: {"snapshotId": g.choice(r.snapshots)},
    "ModifySnapshotAttribute": lambda r, g, reg: {
        "snapshotId": g.choice(r.snapshots),
        "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"add": {"items": [{"userId": g.choice(r.org_accounts)}]}},
    },
    "DescribeSnapshotAttribute": lambda r, g, reg: {
        "snapshotId": g.choice(r.snapshots),
        "attributeType": "CREATE_VOLUME_PERMISSION",
    },
    "ModifyImageAttribute": lambda r, g, reg: {
        "imageId": g.choice(r.amis),
        "launchPermission": {"add": {"items": [{"userId": g.choice(r.org_accounts)}]}},
        "attributeType": "launchPermission",
    },
    "ModifyDBSnapshotAttribute": lambda r, g, reg: {
        "dBSnapshotIdentifier": "%s-%d" % (g.choice(r.db), g.randint(1, 30)),
        "attributeName": "restore",
        "valuesToAdd": [g.choice(r.org_accounts)],
    },
    "CreateDBSnapshot": lambda r, g, reg: {
        "dBSnapshotIdentifier": "%s-manual-%d" % (g.choice(r.db), g.randint(1, 999)),
        "dBInstanceIdentifier": g.choice(r.db),
    },
    "GetSecretValue": lambda r, g, reg: {"secretId": g.choice(r.secrets)},
    "DescribeSecret": lambda r, g, reg: {"secretId": g.choice(r.secrets)},
    "PutSecretValue": lambda r, g, reg: {
        "secretId": g.choice(r.secrets),
        "clientRequestToken": f"{g.getrandbits(128):032x}",
    },
    "BatchGetSecretValue": lambda r, g, reg: {"secretIdList": g.sample(r.secrets, min(3, len(r.secrets)))},
    "GetParameter": lambda r, g, reg: {"name": g.choice(r.params), "withDecryption": g.random() < 0.5},
    "GetParameters": lambda r, g, reg: {
        "names": g.sample(r.params, min(2, len(r.params))),
        "withDecryption": True,
    },
    "GetParametersByPath": lambda r, g, reg: {
        "path": "/" + g.choice(r.params).split("/")[1],
        "recursive": True,
    },
    "ListBuckets": lambda r, g, reg: None,
    "CreateUser": lambda r, g, reg: {"userName": g.choice(r.users)},
    "CreateLoginProfile": lambda r, g, reg: {"userName": g.choice(r.users), "passwordResetRequired": True},
    "UpdateLoginProfile": lambda r, g, reg: {"userName": g.choice(r.users), "passwordResetRequired": True},
    "DeleteLoginProfile": lambda r, g, reg: {"userName": g.choice(r.users)},
    "AddUserToGroup": lambda r, g, reg: {
        "groupName": g.choice(["developers", "readonly", "data", "oncall"]),
        "userName": g.choice(r.users),
    },
    "RemoveUserFromGroup": lambda r, g, reg: {"groupName": "oncall", "userName": g.choice(r.users)},
    "AttachUserPolicy": lambda r, g, reg: {
        "userName": g.choice(r.users),
        "policyArn": g.choice(
            [
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "arn:aws:iam::aws:policy/PowerUserAccess",
                f"arn:aws:iam::{r.account}:policy/developer-boundary",
            ]
        ),
    },
    "DetachUserPolicy": lambda r, g, reg: {
        "userName": g.choice(r.users),
        "policyArn": "arn:aws:iam::aws:policy/PowerUserAccess",
    },
    "PutUserPolicy": lambda r, g, reg: {
        "userName": g.choice(r.users),
        "policyName": "inline-s3-access",
        "policyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Action":"s3:GetObject","Resource":"*"}]}',
    },
    "CreateAccessKey": lambda r, g, reg: {"userName": g.choice(r.users)},
    "DeleteAccessKey": lambda r, g, reg: {
        "userName": g.choice(r.users),
        "accessKeyId": "AKIA" + f"{g.getrandbits(64):016X}",
    },
    "UpdateAccessKey": lambda r, g, reg: {
        "userName": g.choice(r.users),
        "status": "Inactive",
        "accessKeyId": "AKIA" + f"{g.getrandbits(64):016X}",
    },
    "CreateRole": lambda r, g, reg: {
        "roleName": g.choice(r.roles),
        "path": "/",
        "assumeRolePolicyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":'
        '"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
        '"Action":"sts:AssumeRole"}]}',
    },
    "AttachRolePolicy": lambda r, g, reg: {
        "roleName": g.choice(r.roles),
        "policyArn": g.choice(
            [
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                f"arn:aws:iam::{r.account}:policy/app-runtime",
            ]
        ),
    },
    "UpdateAssumeRolePolicy": lambda r, g, reg: {
        "roleName": g.choice(r.roles),
        "policyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        f'"Principal":{{"AWS":"arn:aws:iam::{g.choice(r.org_accounts)}:root"}},'
        '"Action":"sts:AssumeRole"}]}',
    },
    "GetRole": lambda r, g, reg: {"roleName": g.choice(r.roles)},
    "GetUser": lambda r, g, reg: {"userName": g.choice(r.users)},
    "ListAccessKeys": lambda r, g, reg: {"userName": g.choice(r.users)},
    "ListAttachedRolePolicies": lambda r, g, reg: {"roleName": g.choice(r.roles)},
    "PutBucketPolicy": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "bucketPolicy": _policy(r, f"arn:aws:iam::{g.choice(r.org_accounts)}:root").replace("BUCKET", b),
        "policy": [""],
    },
    "PutBucketLifecycle": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "lifecycle": [""],
        "LifecycleConfiguration": {
            "Rule": {
                "ID": "expire-old-logs",
                "Status": "Enabled",
                "Filter": {"Prefix": "logs/"},
                "Expiration": {"Days": g.choice([30, 90, 365])},
            }
        },
    },
    "UpdateFunctionCode20150331v2": lambda r, g, reg: {
        "functionName": g.choice(r.functions),
        "publish": True,
        "dryRun": False,
    },
    "UpdateFunctionConfiguration20150331v2": lambda r, g, reg: {
        "functionName": g.choice(r.functions),
        "timeout": g.choice([30, 60, 300]),
    },
    "AddPermission20150331v2": lambda r, g, reg: {
        "functionName": g.choice(r.functions),
        "statementId": "AllowExecutionFromAPIGateway",
        "action": "lambda:InvokeFunction",
        "principal": "apigateway.amazonaws.com",
    },
    "GetFunction20150331v2": lambda r, g, reg: {"functionName": g.choice(r.functions)},
    "Invoke": lambda r, g, reg: {"functionName": g.choice(r.functions)},
    "StartSession": lambda r, g, reg: {"target": g.choice(r.instances)},
    "TerminateSession": lambda r, g, reg: {
        "sessionId": "{}-{:017x}".format(g.choice(["jdoe", "ops"]), g.getrandbits(68))
    },
    "SendCommand": lambda r, g, reg: {
        "instanceIds": [g.choice(r.instances)],
        "documentName": g.choice(["AWS-RunShellScript", "AWS-RunPatchBaseline", "AWS-UpdateSSMAgent"]),
        "interactive": False,
    },
    "SendSSHPublicKey": lambda r, g, reg: {
        "instanceId": g.choice(r.instances),
        "instanceOSUser": "ec2-user",
        "sSHPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + f"{g.getrandbits(160):040x}",
    },
    "StopLogging": lambda r, g, reg: {"name": f"arn:aws:cloudtrail:{reg}:{r.account}:trail/org-trail"},
    "StartLogging": lambda r, g, reg: {"name": f"arn:aws:cloudtrail:{reg}:{r.account}:trail/org-trail"},
    "PutEventSelectors": lambda r, g, reg: {
        "trailName": "org-trail",
        "eventSelectors": [
            {
                "readWriteType": "All",
                "includeManagementEvents": True,
                "dataResources": [{"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{_b(r, g)}/"]}],
            }
        ],
    },
    "DeleteFlowLogs": lambda r, g, reg: {
        "DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": f"fl-{g.getrandbits(68):017x}"}}
    },
    "DeleteResolverQueryLogConfig": lambda r, g, reg: {
        "resolverQueryLogConfigId": f"rqlc-{g.getrandbits(64):016x}"
    },
    "InvokeModel": lambda r, g, reg: {
        "modelId": g.choice(["anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-embed-text-v2:0"])
    },
    "AssumeRole": lambda r, g, reg: {
        "roleArn": f"arn:aws:iam::{g.choice(r.org_accounts)}:role/{g.choice(r.roles)}",
        "roleSessionName": "botocore-session-%d" % g.randint(1700000000, 1799999999),
        "durationSeconds": 3600,
    },
    "GetObject": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + f".s3.{reg}.amazonaws.com",
        "key": "%s/%04d/%02d/part-%05d.parquet"
        % (g.choice(["data", "exports", "reports"]), 2024, g.randint(1, 12), g.randint(0, 999)),
    },
    "PutObject": _put_object,
    "ListObjects": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + f".s3.{reg}.amazonaws.com",
        "prefix": g.choice(["", "data/", "logs/"]),
        "list-type": "2",
    },
    "DeleteObjects": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + f".s3.{reg}.amazonaws.com",
        "delete": "",
    },
    "LookupEvents": lambda r, g, reg: {"maxResults": 50},
    "GetLogEvents": lambda r, g, reg: {
        "logGroupName": g.choice(r.log_groups),
        "logStreamName": "%04d/%02d/%02d/[$LATEST]%032x"
        % (2024, g.randint(1, 12), g.randint(1, 28), g.getrandbits(128)),
    },
    "FilterLogEvents": lambda r, g, reg: {
        "logGroupName": g.choice(r.log_groups),
        "filterPattern": g.choice(["ERROR", "Exception", "timeout", ""]),
    },
    "DescribeLogStreams": lambda r, g, reg: {"logGroupName": g.choice(r.log_groups), "descending": True},
    "CreateLogStream": lambda r, g, reg: {
        "logGroupName": g.choice(r.log_groups),
        "logStreamName": "{}/{:032x}".format(g.choice(["app", "ecs"]), g.getrandbits(128)),
    },
    "DescribeTable": lambda r, g, reg: {"tableName": g.choice(r.tables)},
    "Decrypt": lambda r, g, reg: {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
    "GenerateDataKey": lambda r, g, reg: {
        "keyId": f"arn:aws:kms:{reg}:{r.account}:key/{g.choice(r.keys)}",
        "keySpec": "AES_256",
    },
    "DescribeKey": lambda r, g, reg: {"keyId": f"arn:aws:kms:{reg}:{r.account}:key/{g.choice(r.keys)}"},
    "UpdateService": lambda r, g, reg: {
        "cluster": g.choice(r.clusters),
        "service": "api",
        "forceNewDeployment": True,
    },
    "DescribeServices": lambda r, g, reg: {"cluster": g.choice(r.clusters), "services": ["api", "worker"]},
    "UpdateInstanceInformation": lambda r, g, reg: {
        "instanceId": g.choice(r.instances),
        "agentVersion": "3.3.484.0",
        "platformType": "Linux",
        "platformName": "Amazon Linux",
        "platformVersion": "2023",
        "agentName": "amazon-ssm-agent",
    },
    "ListInstanceAssociations": lambda r, g, reg: {"instanceId": g.choice(r.instances), "maxResults": 20},
    "DescribeTags": lambda r, g, reg: {
        "filterSet": {
            "items": [{"name": "resource-id", "valueSet": {"items": [{"value": g.choice(r.instances)}]}}]
        }
    },
    "GetBucketPolicy": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "policy": "",
    },
    "GetBucketAcl": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "acl": "",
    },
    "GetBucketVersioning": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "versioning": "",
    },
    "GetBucketEncryption": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "encryption": "",
    },
    "GetBucketPublicAccessBlock": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "publicAccessBlock": "",
    },
    "GetBucketLocation": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "location": "",
    },
    "GetBucketTagging": lambda r, g, reg: {
        "bucketName": (b := _b(r, g)),
        "Host": b + ".s3.amazonaws.com",
        "tagging": "",
    },
}


def params_for(name: str, res: Resources, rng: random.Random, region: str) -> Optional[Dict[str, Any]]:
    fn = PARAMS.get(name)
    if fn is None:
        return None
    return fn(res, rng, region)


# --- errors ------------------------------------------------------------------------------------------------
def access_denied(
    source: str, name: str, arn: str, account: str, region: str, rng: random.Random
) -> Tuple[str, str]:
    svc = source.split(".", 1)[0]
    if svc == "ec2":
        return (
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. User: {} is not authorized to perform: ec2:{} "
            "on resource: arn:aws:ec2:{}:{}:instance/* because no identity-based policy allows the ec2:{} "
            "action. Encoded authorization failure message: {}".format(
                arn, name, region, account, name, f"{rng.getrandbits(256):064x}"
            ),
        )
    if svc == "s3":
        return "AccessDenied", "Access Denied"
    return (
        "AccessDenied",
        f"User: {arn} is not authorized to perform: {svc}:{name} because no identity-based policy allows the {svc}:{name} "
        "action",
    )


TYPO_ERRORS: Dict[str, Tuple[str, str]] = {
    "s3": ("NoSuchBucket", "The specified bucket does not exist"),
    "ec2": ("Client.InvalidInstanceID.NotFound", "The instance ID 'i-0%s' does not exist"),
    "iam": ("NoSuchEntityException", "The role with name %s cannot be found."),
    "lambda": ("ResourceNotFoundException", "Function not found: %s"),
    "secretsmanager": ("ResourceNotFoundException", "Secrets Manager can't find the specified secret."),
    "ssm": ("ParameterNotFound", ""),
    "logs": ("ResourceNotFoundException", "The specified log group does not exist."),
}
THROTTLE: Dict[str, Tuple[str, str]] = {
    "ec2": ("Client.RequestLimitExceeded", "Request limit exceeded."),
    "iam": ("ThrottlingException", "Rate exceeded"),
    "s3": ("SlowDown", "Please reduce your request rate."),
}


def typo_error(source: str, rng: random.Random) -> Tuple[str, str]:
    svc = source.split(".", 1)[0]
    code, msg = TYPO_ERRORS.get(svc, ("ValidationException", "1 validation error detected"))
    if "%s" in msg:
        msg = msg % (f"{rng.getrandbits(64):016x}")
    return code, msg


def throttle_error(source: str) -> Tuple[str, str]:
    return THROTTLE.get(source.split(".", 1)[0], ("ThrottlingException", "Rate exceeded"))


def pick(rng: random.Random, seq: Sequence[Op]) -> Op:
    return seq[int(rng.random() * len(seq))]
