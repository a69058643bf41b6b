"""`| agenttriage`: stage-two triage of ctad detections on the search head (where the Anthropic key lives).

    ... | cloudtraildetect | agenttriage [backend=auto|offline|anthropic] [model=...] [max_rows=200]
                                         [concurrency=4] [timeout=60] [cache_ttl=86400]

Type stateful (search head, never on indexers: the key, the KV store cache and the agents live there). Each
execute chunk is triaged as one run (rows of a burst usually arrive in the same chunk) and answered at once with
every row: all its input fields plus every triage_* field (empty when not triaged).

Key: storage/passwords realm `ctad_cloudtrail`, name `anthropic` (read with the session key from getinfo).
Endpoint: `ctad.conf` `[triage] api_base_url` (an admin setting, https only; default https://api.anthropic.com),
never a search option: whoever can type a search must not be able to send the stored key to a host of theirs.
Cache: KV store `ctad_triage_cache`; analyst knowledge: KV store `ctad_feedback`. Without a key: offline expert.
"""

from __future__ import annotations

from typing import Any, Dict, List

from ctad.knowledge import KVKnowledgeBase
from ctad.knowledge.splunk_rest import SplunkRest, SplunkRestError
from ctad.splunk import protocol as P
from ctad.triage.cache import KVCache
from ctad.triage.engine import DEFAULT_MODEL, Triage, TriageConfig
from ctad.triage.fields import empty_triage
from ctad.triage.llm import DEFAULT_BASE_URL, check_base_url, redact

APP = "ctad_cloudtrail"
CONF = "ctad"  # default/ctad.conf, local/ctad.conf
STANZA = "triage"


class AgentTriageCommand(P.Command):
    name = "agenttriage"
    type = "stateful"
    options = {
        "backend": P.Option(P.choice("auto", "offline", "anthropic"), "auto"),
        "model": P.Option(str, DEFAULT_MODEL),
        "max_rows": P.Option(P.number(0, 10000, integer=True), 200),
        "concurrency": P.Option(P.number(1, 16, integer=True), 4),
        "timeout": P.Option(P.number(1, 600, integer=True), 60),
        "cache_ttl": P.Option(P.number(0, None, integer=True), 86400),
    }

    def configure(self) -> None:
        self._engine = None
        self._setup_error = ""
        info = self.info
        opts = self.opts
        rest = None
        key = ""
        base_url = DEFAULT_BASE_URL
        try:
            rest = SplunkRest(info["splunkd_uri"], info["session_key"], app=APP)
            if opts["backend"] != "offline":
                key = rest.password(APP, "anthropic") or ""
                if key:
                    base_url = (rest.conf_stanza(CONF, STANZA) or {}).get("api_base_url") or DEFAULT_BASE_URL
                    base_url = check_base_url(str(base_url))
        except (SplunkRestError, KeyError, TypeError, AttributeError, ValueError) as exc:
            self._setup_error = f"splunkd: {exc}" if not key else f"{CONF}.conf [{STANZA}]: {exc}"
            key = ""  # no endpoint the key may go to: offline expert
        backend = opts["backend"]
        if backend == "anthropic" and not key:
            self._setup_error = self._setup_error or (
                "no Anthropic key in storage/passwords (realm ctad_cloudtrail, name anthropic)"
            )
            backend = "offline"
        config = TriageConfig(
            backend=backend if key else "offline",
            model=opts["model"],
            api_key=key,
            base_url=base_url,
            timeout=float(opts["timeout"]),
            max_rows=int(opts["max_rows"]),
            concurrency=int(opts["concurrency"]),
            cache_ttl_s=float(opts["cache_ttl"]),
        )
        try:
            self._engine = Triage(
                config,
                cache=KVCache(rest, float(opts["cache_ttl"])) if (rest and key) else None,
                knowledge=KVKnowledgeBase(rest) if rest else None,
            )
        except Exception as exc:  # bad agents/lookups: every row still comes back, with the reason
            self._setup_error = f"triage unavailable: {type(exc).__name__}: {exc}"
        if self._setup_error:
            self._setup_error = redact(self._setup_error, [key])
            self.messages.warn(f"{self.name}: {self._setup_error}")

    def execute(self, body: bytes, finished: bool) -> bytes:
        header, reader = P.parse_csv(body)
        if not header:  # rows under an empty header line: their fields are unknown, but every row comes back
            n = sum(1 for _ in reader)
            error = "the chunk's CSV header line is empty: the row's fields are unknown"
            return P.rows_to_csv([empty_triage(error) for _ in range(n)], list(empty_triage())) if n else b""
        to_row = P.RowReader(header)
        rows: List[Dict[str, Any]] = [to_row(cells) for cells in reader]
        out = self._triage(rows)
        columns = [h for h in header if not h.startswith(P.MV)]
        extra = list(empty_triage())
        columns += [c for c in extra if c not in columns]
        return P.rows_to_csv(out, columns)

    def _triage(self, rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        if self._engine is None:
            return [dict(r, **empty_triage(self._setup_error)) for r in rows]
        try:
            out = self._engine.run(rows)
        except Exception as exc:  # never lose the chunk
            why = redact(f"triage failed: {type(exc).__name__}: {exc}")
            out = [dict(r, **empty_triage(why)) for r in rows]
        for row in out:
            if isinstance(row.get("triage_actions"), list) and not row["triage_actions"]:
                row["triage_actions"] = ""
            if self._setup_error and not row.get("triage_error") and row.get("triage_verdict"):
                row["triage_error"] = self._setup_error
        return out


def main() -> None:
    P.dispatch(AgentTriageCommand())
