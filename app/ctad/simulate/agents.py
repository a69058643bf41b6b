# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""User-agent strings of the tools people and machines use, with versions that move with the calendar.

Benign actors and attackers draw from the same families and the same version schedule, so the model cannot
learn "this user agent = attack"; what differs is whether a tool is *new for that identity*. Versions advance
with the date (a new aws-cli or boto3 release every few days) and each actor upgrades on its own cadence.
"""

from __future__ import annotations

import random
import re
from typing import Dict, Optional, Tuple

_EPOCH = 1704067200  # 2024-01-01T00:00:00Z; versions below are plausible for dates around then
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_KEBAB: Dict[str, str] = {}

# Weighted mix people use from a terminal; attackers draw from the same list.
HUMAN_TOOL_WEIGHTS = (
    ("aws-cli", 0.62),
    ("boto3", 0.22),
    ("go-v2", 0.04),
    ("js", 0.04),
    ("powershell", 0.03),
    ("terraform", 0.05),
)
OS_PROFILES = (
    ("linux", "os/linux#6.5.0-1018-aws", "Linux/6.5.0-1018-aws", "x86_64", "ubuntu.22"),
    ("linux", "os/linux#5.15.0-105-generic", "Linux/5.15.0-105-generic", "x86_64", "ubuntu.22"),
    ("macos", "os/macos#23.4.0", "Darwin/23.4.0", "arm64", ""),
    ("macos", "os/macos#22.6.0", "Darwin/22.6.0", "x86_64", ""),
    ("windows", "os/windows#10", "Windows/10", "AMD64", ""),
    (
        "linux",
        "os/linux#5.15.153.1-microsoft-standard-WSL2",
        "Linux/5.15.153.1-microsoft-standard-WSL2",
        "x86_64",
        "ubuntu.24",
    ),
)
BROWSERS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36 Edg/{chrome}.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{safari} Safari/605.1.15",
)


def kebab(name: str) -> str:
    """`DescribeInstances` -> `describe-instances` (aws-cli command names in the md/command# suffix)."""
    got = _KEBAB.get(name)
    if got is None:
        got = _CAMEL.sub("-", re.sub(r"\d{8}v?\d*$", "", name)).lower()
        _KEBAB[name] = got
    return got


def _day(ts: float) -> int:
    return max(0, int(ts - _EPOCH) // 86400)


def versions(ts: float) -> Dict[str, str]:
    """Tool versions current on the date of `ts` (deterministic release schedule)."""
    d = _day(ts)
    return {
        "cli": "2.%d.%d" % (15 + d // 60, (d % 60) // 3),
        "crt": "0.%d.%d" % (19 + d // 90, (d % 90) // 20),
        "boto": "1.%d.%d" % (34 + d // 180, (d % 180) // 2),
        "py": "3.%d.%d" % (11 + d // 365, 7 + (d % 365) // 60),
        "go": "1.%d.%d" % (21 + d // 180, (d % 180) // 30),
        "gosdk": "1.%d.%d" % (24 + d // 60, (d % 60) // 10),
        "java": "2.%d.%d" % (25 + d // 45, (d % 45) // 2),
        "js": "3.%d.0" % (490 + d // 2),
        "node": "20.%d.0" % (10 + d // 40),
        "tf": "1.%d.%d" % (7 + d // 120, (d % 120) // 25),
        "tfaws": "5.%d.0" % (31 + d // 7),
        "pwsh": "4.1.%d" % (500 + d // 2),
        "chrome": str(120 + d // 32),
        "firefox": str(121 + d // 30),
        "safari": str(2 + (d // 60) % 5),
    }


class ToolAgent:
    """The user agent one caller (a person's laptop, a CI job, a function) sends, per API call.

    `pinned_ts` is when the caller last upgraded: the version stays until the caller's next upgrade.
    """

    __slots__ = ("family", "os", "_prefix", "_cache")

    def __init__(
        self, family: str, ts: float, os_profile: Tuple[str, str, str, str, str], exec_env: str = ""
    ) -> None:
        self.family = family
        self.os = os_profile
        v = versions(ts)
        _name, ua_os, legacy_os, arch, distrib = os_profile
        if family == "aws-cli":
            extra = f" md/distrib#{distrib}" if distrib else ""
            env = f" exec-env/{exec_env}" if exec_env else ""
            self._prefix = (
                f"aws-cli/{v['cli']} md/awscrt#{v['crt']} ua/2.0 {ua_os} md/arch#{arch} lang/python#{v['py']} "
                f"md/pyimpl#CPython{env} cfg/retry-mode#standard md/installer#exe{extra} md/prompt#off md/command#"
            )
        elif family == "boto3":
            env = f" exec-env/{exec_env}" if exec_env else ""
            self._prefix = (
                f"Boto3/{v['boto']} md/Botocore#{v['boto']} ua/2.0 {ua_os} md/arch#{arch} lang/python#{v['py']} "
                f"md/pyimpl#CPython{env} cfg/retry-mode#legacy Botocore/{v['boto']}"
            )
        elif family == "go-v2":
            self._prefix = (
                f"aws-sdk-go-v2/{v['gosdk']} ua/2.0 os/{'macos' if _name == 'macos' else _name} lang/go#{v['go']} "
                f"md/GOOS#{'darwin' if _name == 'macos' else _name} md/GOARCH#{'arm64' if arch == 'arm64' else 'amd64'} api/"
            )
        elif family == "java":
            env = f" exec-env/{exec_env}" if exec_env else ""
            self._prefix = (
                f"aws-sdk-java/{v['java']} {legacy_os} OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11 "
                f"vendor/Amazon.com_Inc.{env} io/sync http/Apache cfg/retry-mode/legacy"
            )
        elif family == "js":
            env = f" exec-env/{exec_env}" if exec_env else ""
            self._prefix = f"aws-sdk-js/{v['js']} ua/2.0 {ua_os} lang/js md/nodejs#{v['node']}{env} api/"
        elif family == "terraform":
            self._prefix = (
                f"APN/1.0 HashiCorp/1.0 Terraform/{v['tf']} (+https://www.terraform.io) terraform-provider-aws/"
                f"{v['tfaws']} (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/{v['gosdk']} "
                f"ua/2.0 os/linux lang/go#{v['go']} md/GOOS#linux md/GOARCH#amd64 api/"
            )
        elif family == "powershell":
            self._prefix = (
                f"AWSPowerShell.Common/{v['pwsh']}.0 .NET_Core/8.0.4 OS/Microsoft_Windows_10.0.22631 "
                f"PowerShellCore/7.4 ClientAsync"
            )
        else:
            raise ValueError(f"unknown tool family {family!r}")
        self._cache: Dict[Tuple[str, str], str] = {}

    def ua(self, service: str, event_name: str) -> str:
        key = (service, event_name)
        got = self._cache.get(key)
        if got is None:
            svc = service.split(".", 1)[0]
            fam = self.family
            if fam == "aws-cli":
                got = self._prefix + svc + "." + kebab(event_name)
            elif fam in ("go-v2", "terraform", "js"):
                got = (
                    self._prefix + svc + "#" + ("1.%d.0" % (40 + len(svc) * 7) if fam != "js" else "3.500.0")
                )
            else:
                got = self._prefix
            if len(self._cache) < 512:
                self._cache[key] = got
        return got

    def command_ua(self, command: str) -> str:
        """aws-cli names the high-level command it runs (`s3.sync`, `s3.cp`) instead of each API call."""
        if self.family != "aws-cli":
            raise ValueError("only aws-cli user agents name a command")
        return self._prefix + command


def browser(rng: random.Random, ts: float, template: Optional[str] = None) -> str:
    """A desktop browser user agent (console sign-in and console-originated API calls)."""
    v = versions(ts)
    t = template if template is not None else rng.choice(BROWSERS)
    return t.format(chrome=v["chrome"], firefox=v["firefox"], safari=v["safari"])


def pick_family(rng: random.Random, weights=HUMAN_TOOL_WEIGHTS) -> str:
    r, acc = rng.random(), 0.0
    for fam, w in weights:
        acc += w
        if r < acc:
            return fam
    return weights[0][0]


# Console-originated calls: CloudTrail records either the browser string, "AWS Internal", or a console
# front-end name depending on the service.
CONSOLE_FRONTENDS = {
    "ec2.amazonaws.com": "console.ec2.amazonaws.com",
    "s3.amazonaws.com": "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.219-186.866.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.412-b09 java/1.8.0_412 vendor/Oracle_Corporation cfg/retry-mode/standard]",
    "iam.amazonaws.com": "AWS Internal",
    "cloudtrail.amazonaws.com": "AWS Internal",
    "organizations.amazonaws.com": "AWS Internal",
    "health.amazonaws.com": "AWS Internal",
    "ce.amazonaws.com": "AWS Internal",
}
