"""userAgent families: the shared corpora's real user agents, well-known strings, and hostile input."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from ctad.core.catalog import UA_KINDS, Catalog

CORPORA = (
    "panther_rule_tests.jsonl",
    "stratus_detonations.jsonl",
    "otrf_scenarios.jsonl",
    "traildiscover.jsonl",
)


def _shared_user_agents(shared_data: Path) -> Counter:
    uas: Counter = Counter()
    for name in CORPORA:
        with (shared_data / "cloudtrail" / name).open(encoding="utf-8") as f:
            for line in f:
                ua = json.loads(line).get("userAgent")
                if isinstance(ua, str):
                    uas[ua] += 1
    return uas


# What a user agent's own text says it is: (regex over the raw string, expected family set, expected kind).
# Checked against every user agent of the corpora, so a reordering of the rules that shadows one family
# with another fails here.
EXPECTATIONS = [
    (r"stratus-red-team_", {"stratus"}, "attack_tool"),
    (r"exec-env/grimoire_", {"grimoire"}, "attack_tool"),
    (r"(?i)trufflehog", {"trufflehog"}, "attack_tool"),
    (r"^\[?aws-cli/(?!.*(?:grimoire|stratus|CloudShell))", {"aws-cli"}, "cli"),
    (r"^aws-cli/.*exec-env/CloudShell", {"aws-cloudshell"}, "cli"),
    (r"^\[?Boto3/", {"boto3"}, "sdk"),
    (r"^aws-sdk-go(?:-v2)?/(?!.*(?:Terraform|grimoire|stratus))", {"aws-sdk-go"}, "sdk"),
    (r"Terraform/(?!.*stratus)", {"terraform"}, "iac"),
    (r"^\[?Mozilla/", {"browser"}, "browser"),
    (r"^AWS Internal$", {"aws-internal"}, "aws_internal"),
    (r"^aws-internal/", {"aws-internal"}, "aws_internal"),
    (r"^\[?(?:S3Console|EC2ConsoleFrontend)", {"console"}, "aws_console"),
    (r"^console(?:\.ec2)?\.amazonaws\.com$", {"console"}, "aws_console"),
    (r"^(?!console|signin|cloudformation)[a-z0-9-]+\.amazonaws\.com$", None, "aws_service"),
    (r"^cloudformation\.amazonaws\.com$", {"cloudformation"}, "iac"),
    (r"^python-requests/", {"python-requests"}, "script"),
    (r"^Go-http-client/", {"go-http-client"}, "script"),
    (r"^Java/", {"java-http"}, "script"),
    (r"^Datadog$", {"datadog"}, "scanner"),
]


def test_shared_user_agents_classified_as_they_say(shared_data: Path, catalog: Catalog) -> None:
    uas = _shared_user_agents(shared_data)
    assert len(uas) > 300
    checked = Counter()
    for ua in uas:
        family, kind = catalog.ua_family(ua)
        assert kind in UA_KINDS
        for pattern, families, want_kind in EXPECTATIONS:
            if re.search(pattern, ua):
                checked[pattern] += 1
                assert kind == want_kind, (ua, family, kind)
                if families is not None:
                    assert family in families, (ua, family)
                else:
                    assert family == ua.lower(), (ua, family)
    # Every expectation met real data (otherwise the corpus changed and this test needs a look).
    assert set(checked) == {p for p, _, _ in EXPECTATIONS}


def test_shared_user_agents_mostly_known(shared_data: Path, catalog: Catalog) -> None:
    uas = _shared_user_agents(shared_data)
    unknown = [ua for ua in uas if catalog.ua_family(ua)[1] == "unknown"]
    # The corpora contain placeholders ("example-user-agent", "<Victim browser user agent>"): few, never real.
    assert len(unknown) / len(uas) < 0.05, unknown
    for ua in unknown:
        assert not re.match(r"(?i)\[?(aws-cli|boto3|botocore|aws-sdk|mozilla)/", ua), ua


@pytest.mark.parametrize(
    "ua,family,kind",
    [
        (
            "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2024 prompt/off",
            "pentest-os",
            "attack_tool",
        ),
        (
            "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.6.9-amd64 md/distrib#parrot.6 lang/python#3.11",
            "pentest-os",
            "attack_tool",
        ),
        ("Boto3/1.26.0 Python/3.10.0 Linux/5.15 Botocore/1.29.0 Pacu/1.5.1", "pacu", "attack_tool"),
        ("Scout Suite/5.13.0 Python/3.11", "scoutsuite", "scanner"),
        ("Boto3/1.28.0 Python/3.11.4 Linux/5.10 Botocore/1.31.0 APN_1826889", "prowler", "scanner"),
        ("aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21 md/GOOS#linux api/iam#1.22.0 Wiz/1.0", "wiz", "scanner"),
        ("Boto3/1.9.0 Python/2.7 Linux/4 Botocore/1.12 CloudMapper", "cloudmapper", "scanner"),
        (
            "aws-sdk-dotnet-coreclr/3.7.300 aws-sdk-dotnet-core/3.7.300 .NET_Core/6.0 OS/Microsoft_Windows ClientAsync AWSPowerShell/4.1.500",
            "powershell",
            "cli",
        ),
        (
            "aws-sdk-java/2.20.162 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.8 Java/17.0.8 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
            "aws-sdk-java",
            "sdk",
        ),
        (
            "aws-sdk-js/3.450.0 ua/2.0 os/linux#5.10 lang/js md/nodejs#18.18.2 api/s3#3.450.0",
            "aws-sdk-js",
            "sdk",
        ),
        ("aws-sdk-nodejs/2.1502.0 linux/v18.18.2 exec-env/AWS_Lambda_nodejs18.x", "aws-sdk-js", "sdk"),
        ("aws-sdk-php/3.283.0 OS/Linux/5.15 lang/php/8.2.12 GuzzleHttp/7", "aws-sdk-php", "sdk"),
        ("aws-sdk-ruby3/3.185.0 ruby/3.2.2 x86_64-linux aws-sdk-s3/1.136.0", "aws-sdk-ruby", "sdk"),
        ("Botocore/1.31.0 Python/3.11", "botocore", "sdk"),
        (
            "APN/1.0 HashiCorp/1.0 Terraform/1.6.3 (+https://www.terraform.io) terraform-provider-aws/5.26.0 aws-sdk-go-v2/1.23.0",
            "terraform",
            "iac",
        ),
        ("pulumi-aws/6.9.0 aws-sdk-go/1.48.0 (go1.21.3; linux; amd64)", "pulumi", "iac"),
        ("aws-cdk/2.110.0 Boto3/1.28.0", "aws-cdk", "iac"),
        ("curl/8.4.0", "curl", "script"),
        ("S3 Browser/11.5.7 https://s3browser.com", "s3browser", "cli"),
        ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10]", "console", "aws_console"),
        ("elasticmapreduce.amazonaws.com", "elasticmapreduce.amazonaws.com", "aws_service"),
        ("Wizard/1.0 (internal tool)", "unknown", "unknown"),  # "wiz" inside a word is not Wiz
        ("", "unknown", "unknown"),
        ("   ", "unknown", "unknown"),
    ],
)
def test_known_user_agents(catalog: Catalog, ua: str, family: str, kind: str) -> None:
    assert catalog.ua_family(ua) == (family, kind)


def test_none_and_non_strings(catalog: Catalog) -> None:
    assert catalog.ua_family(None) == ("unknown", "unknown")
    assert catalog.ua_family(12345) == ("unknown", "unknown")
    assert catalog.ua_family(b"aws-cli/2.0".decode()) == ("aws-cli", "cli")


def test_hostile_user_agents_are_bounded(catalog: Catalog) -> None:
    """Huge and backtracking-bait inputs cost about as much as a normal user agent."""
    hostile = [
        "x" * 10_000_000,
        "aws-cli/" + "a" * 5_000_000,
        "a" * 1000 + "!" * 1000,
        ("wiz" * 50_000),
        "-" * 100_000 + "kali",
        ".amazonaws.com" * 100_000,
        "[" * 100_000,
        "\x00\n\r" * 10_000 + "stratus-red-team_x",
        "aws-sdk-" + "a" * 1_000_000,
    ]
    start = time.perf_counter()
    for i, ua in enumerate(hostile):
        family, kind = catalog.ua_family(ua + str(i))
        assert kind in UA_KINDS
        assert len(family) <= 80
    assert time.perf_counter() - start < 2.0  # generous: ~1 ms of real work each
    # Beyond the truncation point text is ignored: a marker hidden after 1024 characters does not count.
    assert catalog.ua_family("x" * 2000 + "stratus-red-team_1") == ("unknown", "unknown")


def test_service_family_is_bounded_text(catalog: Catalog) -> None:
    family, kind = catalog.ua_family("a" * 41 + ".amazonaws.com")
    assert (family, kind) == ("unknown", "unknown")
    family, kind = catalog.ua_family("my-evil<script>.amazonaws.com")
    assert kind != "aws_service"


def test_100k_calls_fast(shared_data: Path, catalog: Catalog) -> None:
    """100k lookups over the corpora's real mix (≈460 distinct strings, mostly cached): a regression guard.

    Figures are measured by bench/bench_ua_family.py, not here; the bound is loose on purpose
    (2 shared cores, other jobs running).
    """
    uas = list(_shared_user_agents(shared_data))
    calls = [uas[i % len(uas)] for i in range(100_000)]
    fresh = Catalog.load(catalog.directory)
    start = time.perf_counter()
    for ua in calls:
        fresh.ua_family(ua)
    assert time.perf_counter() - start < 5.0
