"""Feed configuration: a small TOML (Python 3.11+, or with `tomli`) or INI file, overridable by CLI flags.

Secrets are named by environment variable (`password_env`, `key_env`) so they stay out of files and `ps`;
an inline `password` / `key` is accepted for lab use. TOML::

    [cache]
    path = "/var/lib/ctad/cti-feeds.json"
    ttl_hours = 6

    [files]
    paths = ["lookups/cti_indicators.csv", "feeds/partner-bundle.json"]

    [[taxii]]
    url = "https://taxii.example.org/api1/"
    collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    user = "ctad"
    password_env = "CTAD_TAXII_PASSWORD"

    [[misp]]
    url = "https://misp.example.org"
    key_env = "CTAD_MISP_KEY"
    last = "30d"

INI uses the same keys with sections `[cache]`, `[files]` (paths comma-separated), `[taxii:NAME]`, `[misp:NAME]`.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ctad.cti.feeds import DEFAULT_TTL, FeedError, MispSource, TaxiiSource, default_cache_path


@dataclass
class CTIConfig:
    cache_path: Path = field(default_factory=default_cache_path)
    ttl: float = DEFAULT_TTL
    files: List[str] = field(default_factory=list)
    remote: List[Any] = field(default_factory=list)  # TaxiiSource / MispSource


def _truthy(value: Any, default: bool = True) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def _secret(section: Dict[str, Any], name: str, env_default: str) -> Optional[str]:
    env_name = section.get(f"{name}_env") or env_default
    return section.get(name) or os.environ.get(str(env_name)) or None


def taxii_from(section: Dict[str, Any]) -> TaxiiSource:
    if not section.get("url"):
        raise FeedError("a [taxii] entry needs url")
    return TaxiiSource(
        url=str(section["url"]),
        collection=section.get("collection") or None,
        user=section.get("user") or None,
        password=_secret(section, "password", "CTAD_TAXII_PASSWORD"),
        verify=_truthy(section.get("verify")),
        name=section.get("name") or None,
    )


def misp_from(section: Dict[str, Any]) -> MispSource:
    if not section.get("url"):
        raise FeedError("a [misp] entry needs url")
    types = section.get("types")
    if isinstance(types, str):
        types = [t.strip() for t in types.split(",") if t.strip()]
    return MispSource(
        url=str(section["url"]),
        key=_secret(section, "key", "CTAD_MISP_KEY") or "",
        verify=_truthy(section.get("verify")),
        types=types or None,
        last=section.get("last") or None,
        default_confidence=int(section.get("confidence", 75)),
        name=section.get("name") or None,
    )


def _read_toml(path: Path) -> Dict[str, Any]:
    try:
        import tomllib  # type: ignore[import-not-found]
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as exc:
            raise FeedError(
                f"{path}: reading TOML needs Python 3.11+ or `pip install tomli`; or use INI"
            ) from exc
    with open(path, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise FeedError(f"{path}: invalid TOML: {exc}") from exc


def _read_ini(path: Path) -> Dict[str, Any]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise FeedError(f"{path}: invalid INI: {exc}") from exc
    data: Dict[str, Any] = {"taxii": [], "misp": []}
    for name in parser.sections():
        section = dict(parser[name])
        kind, _, label = name.partition(":")
        if kind in ("taxii", "misp"):
            section.setdefault("name", label or None)
            data[kind].append(section)
        elif kind == "files":
            data["files"] = {"paths": [p.strip() for p in section.get("paths", "").split(",") if p.strip()]}
        else:
            data[kind] = section
    return data


def load_config(path: Any) -> CTIConfig:
    """Parse a config file (TOML by .toml suffix, otherwise INI). Raises FeedError with the reason."""
    path = Path(path)
    if not path.is_file():
        raise FeedError(f"{path}: config file not found")
    data = _read_toml(path) if path.suffix.lower() == ".toml" else _read_ini(path)
    cfg = CTIConfig()
    cache = data.get("cache", {}) or {}
    if cache.get("path"):
        cfg.cache_path = Path(os.path.expanduser(str(cache["path"])))
    if cache.get("ttl_hours") not in (None, ""):
        cfg.ttl = float(cache["ttl_hours"]) * 3600
    cfg.files = [str(p) for p in (data.get("files", {}) or {}).get("paths", [])]
    for section in data.get("taxii", []) or []:
        cfg.remote.append(taxii_from(section))
    for section in data.get("misp", []) or []:
        cfg.remote.append(misp_from(section))
    return cfg
