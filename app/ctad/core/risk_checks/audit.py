"""logging_off: the calls that blind the defenders (trails stopped, detectors deleted, audit logs cut)."""

from __future__ import annotations

from typing import Tuple

from ctad.core.risk_checks.registry import ANY_SOURCE, REGISTRY, Case, Request

always, check = REGISTRY.always, REGISTRY.check
OFF = ("logging_off",)

# Calls that turn an audit or detection service off whatever their parameters say.
always("cloudtrail.amazonaws.com", "StopLogging", "DeleteTrail", "DeleteEventDataStore",
       "StopEventDataStoreIngestion", flag="logging_off", cases=[
    Case("trail stopped", OFF, {"name": "trail"}),
    Case("trail deleted", OFF, {"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"}, "DeleteTrail"),
    Case("trail started again", (), {"name": "trail"}, "StartLogging"),
])  # fmt: skip
always("guardduty.amazonaws.com", "DeleteDetector", "DisassociateFromMasterAccount",
       "DisassociateFromAdministratorAccount", flag="logging_off", cases=[
    Case("detector deleted", OFF, {"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}),
    Case("member leaves its administrator", OFF, {"detectorId": "12abc"}, "DisassociateFromAdministratorAccount"),
    Case("detector listed", (), None, "ListDetectors"),
])  # fmt: skip
always("ec2.amazonaws.com", "DeleteFlowLogs", flag="logging_off", cases=[
    Case("flow logs deleted", OFF, {"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-1", "tag": 1}}}),
    Case("flow logs created", (), {"CreateFlowLogsRequest": {"ResourceId": {"content": "vpc-1"}}}, "CreateFlowLogs"),
])  # fmt: skip
always("config.amazonaws.com", "StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel",
       flag="logging_off", cases=[
    Case("recorder stopped", OFF, {"configurationRecorderName": "default"}),
    Case("delivery channel deleted", OFF, {"deliveryChannelName": "default"}, "DeleteDeliveryChannel"),
    Case("recorder started", (), {"configurationRecorderName": "default"}, "StartConfigurationRecorder"),
])  # fmt: skip
always("route53resolver.amazonaws.com", "DeleteResolverQueryLogConfig", "DisassociateResolverQueryLogConfig",
       flag="logging_off", cases=[
    Case("DNS query logging deleted", OFF, {"resolverQueryLogConfigId": "rqlc-1"}),
    Case("DNS query logging detached from a VPC", OFF, {"resolverQueryLogConfigId": "rqlc-1", "resourceId": "vpc-1"},
         "DisassociateResolverQueryLogConfig"),
    Case("DNS query logging created", (), {"name": "q", "destinationArn": "arn:aws:s3:::logs"},
         "CreateResolverQueryLogConfig"),
])  # fmt: skip
always("securityhub.amazonaws.com", "DisableSecurityHub", flag="logging_off", cases=[
    Case("Security Hub disabled", OFF, None),
    Case("Security Hub enabled", (), {"EnableDefaultStandards": True}, "EnableSecurityHub"),
])  # fmt: skip
always("access-analyzer.amazonaws.com", "DeleteAnalyzer", flag="logging_off", cases=[
    Case("analyzer deleted", OFF, {"analyzerName": "org-analyzer"}),
    Case("analyzers listed", (), None, "ListAnalyzers"),
])  # fmt: skip
always("logs.amazonaws.com", "DeleteLogGroup", flag="logging_off", cases=[
    Case("log group deleted", OFF, {"logGroupName": "/aws/route53/example.com"}),
    Case("log group created", (), {"logGroupName": "/app/web"}, "CreateLogGroup"),
])  # fmt: skip
always("macie2.amazonaws.com", "DisableMacie", flag="logging_off", cases=[
    Case("Macie disabled", OFF, None),
    Case("Macie findings read", (), {"findingIds": ["1"]}, "GetFindings"),
])  # fmt: skip


@check(ANY_SOURCE, "UpdateDetector", flags=OFF, request_decides=False, cases=[
    Case("detector disabled", OFF, {"detectorId": "12abc", "enable": False}, source="guardduty.amazonaws.com"),
    Case("detector disabled (text)", OFF, {"detectorId": "12abc", "enable": "false"},
         source="guardduty.amazonaws.com"),
    Case("finding frequency changed", (), {"detectorId": "12abc", "enable": True,
                                           "findingPublishingFrequency": "FIFTEEN_MINUTES"},
         source="guardduty.amazonaws.com"),
])  # fmt: skip
def detector_disabled(req: Request) -> Tuple[str, ...]:
    return OFF if req.params.get("enable") in (False, "false") else ()


@check("cloudtrail.amazonaws.com", "PutEventSelectors", flags=OFF, request_decides=False, cases=[
    Case("management events excluded", OFF,
         {"trailName": "org", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": False}]}),
    Case("selectors emptied", OFF, {"trailName": "org", "eventSelectors": []}),
    Case("data events added", (), {"trailName": "org", "eventSelectors": [
        {"readWriteType": "All", "includeManagementEvents": True,
         "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}]}),
])  # fmt: skip
def management_events_off(req: Request) -> Tuple[str, ...]:
    params = req.params
    selectors = params.get("eventSelectors") or params.get("advancedEventSelectors")
    if not selectors:
        return OFF
    if not isinstance(
        selectors, list
    ):  # one selector or a scalar: not the shape CloudTrail writes, and no list
        return ()
    if all(isinstance(s, dict) and s.get("includeManagementEvents") in (False, "false") for s in selectors):
        return OFF
    return ()


# A status without LoggingEnabled (or with it empty) turns the bucket's access logging off: that is how CloudTrail
# writes it (Panther's AWS.S3.DisableBucketLogging test event carries only the XML namespace).
@check(ANY_SOURCE, "PutBucketLogging", flags=OFF, request_decides=False, cases=[
    Case("access logging emptied", OFF, {"bucketName": "data", "BucketLoggingStatus": {"LoggingEnabled": None}},
         source="s3.amazonaws.com"),
    Case("access logging turned off (Panther's event)", OFF, {"logging": "", "bucketName": "critical-data-bucket",
         "BucketLoggingStatus": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}}, source="s3.amazonaws.com"),
    Case("access logging set", (), {"bucketName": "data", "BucketLoggingStatus": {
        "LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "data/"}}}, source="s3.amazonaws.com"),
    Case("no status in the request", (), {"bucketName": "data"}, source="s3.amazonaws.com"),
])  # fmt: skip
def bucket_logging_off(req: Request) -> Tuple[str, ...]:
    status = req.params.get("BucketLoggingStatus")
    return OFF if isinstance(status, dict) and not status.get("LoggingEnabled") else ()
