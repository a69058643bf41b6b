"""A small splunkd REST client (stdlib only): KV store collections and storage/passwords.

Custom search commands get `splunkd_uri` and a session key in getinfo; this is all the triage command needs to
read the Anthropic key and to use the KV store for the triage cache and the analyst knowledge base, without
vendoring splunk-sdk's client into code that also runs from the CLI.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional

from ctad.core.errors import CtadError


class SplunkRestError(CtadError, RuntimeError):
    """splunkd refused or could not be reached; the message is safe to show (no session key in it)."""


class SplunkRest:
    def __init__(
        self,
        splunkd_uri: str,
        session_key: str,
        app: str = "ctad_cloudtrail",
        owner: str = "nobody",
        verify_tls: bool = False,
        timeout: float = 10.0,
    ):
        self.base = splunkd_uri.rstrip("/")
        self.session_key = session_key
        self.app = app
        self.owner = owner
        self.timeout = timeout
        # splunkd's management port uses a self-signed certificate by default; traffic stays on the search head.
        self._ctx = ssl.create_default_context()
        if not verify_tls:
            self._ctx.check_hostname = False
            self._ctx.verify_mode = ssl.CERT_NONE

    def request(
        self, method: str, path: str, body: Any = None, query: Optional[Dict[str, str]] = None
    ) -> Any:
        url = f"{self.base}/servicesNS/{urllib.parse.quote(self.owner)}/{urllib.parse.quote(self.app)}/{path}"
        q = {"output_mode": "json"}
        q.update(query or {})
        url += "?" + urllib.parse.urlencode(q)
        data = None
        headers = {"Authorization": f"Splunk {self.session_key}"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ctx) as resp:
                text = resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise SplunkRestError(f"splunkd {method} {path.split('?')[0]}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SplunkRestError(f"splunkd unreachable: {exc}") from None
        return json.loads(text) if text.strip() else None

    # KV store
    def kv_query(self, collection: str, query: Dict[str, Any], limit: int = 100) -> List[Dict[str, Any]]:
        path = f"storage/collections/data/{urllib.parse.quote(collection)}"
        out = self.request("GET", path, query={"query": json.dumps(query), "limit": str(limit)})
        return out if isinstance(out, list) else []

    def kv_upsert(self, collection: str, key: str, record: Dict[str, Any]) -> None:
        path = f"storage/collections/data/{urllib.parse.quote(collection)}"
        body = dict(record, _key=key)
        if self.request("POST", f"{path}/{urllib.parse.quote(key, safe='')}", body=body) is None:
            self.request("POST", path, body=body)

    def kv_all(self, collection: str, limit: int = 50000) -> List[Dict[str, Any]]:
        return self.kv_query(collection, {}, limit)

    # configuration files
    def conf_stanza(self, conf: str, stanza: str) -> Optional[Dict[str, str]]:
        """One stanza of an app .conf file as splunkd merges it (local over default), or None when absent."""
        path = f"configs/conf-{urllib.parse.quote(conf, safe='')}/{urllib.parse.quote(stanza, safe='')}"
        out = self.request("GET", path)
        entries = out.get("entry") if isinstance(out, dict) else None
        content = entries[0].get("content") if isinstance(entries, list) and entries else None
        if not isinstance(content, dict):
            return None
        return {str(k): str(v) for k, v in content.items() if not str(k).startswith("eai:")}

    # storage/passwords
    def password(self, realm: str, name: str) -> Optional[str]:
        """The clear password stored for realm:name, or None (the secret never leaves the search head)."""
        ident = urllib.parse.quote(f"{realm}:{name}:", safe="")
        out = self.request("GET", f"storage/passwords/{ident}")
        for entry in (out or {}).get("entry", []) if isinstance(out, dict) else []:
            content = entry.get("content", {})
            if content.get("realm") == realm and content.get("username") == name:
                return content.get("clear_password")
        return None
