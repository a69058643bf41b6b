#!/usr/bin/env python
"""`| agenttriage`: stage-two triage of ctad detections on the search head (where the Anthropic key lives).

Written against splunklib's StreamingCommand with distributed=False (type=stateful: runs on the search head,
never on indexers), because `ctad.splunk.protocol` had not landed when this was written; switching to it only
changes this file. Each chunk is triaged as one run (rows of a burst usually arrive in the same chunk); every row
is yielded back with every triage_* field (empty when not triaged): splunklib fixes the header from the first
record, so no row may lack one.

    ... | ctaddetect | agenttriage [backend=auto|offline|anthropic] [model=...] [max_rows=200] [concurrency=4]
                                   [timeout=60] [cache_ttl=86400]

Key: storage/passwords realm `ctad_cloudtrail`, name `anthropic` (read with the session key from getinfo).
Cache: KV store `ctad_triage_cache`; analyst knowledge: KV store `ctad_feedback`. Without a key: offline expert.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (os.path.join(HERE, "lib"), HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from ctad.knowledge import KVKnowledgeBase  # noqa: E402
from ctad.knowledge.splunk_rest import SplunkRest, SplunkRestError  # noqa: E402
from ctad.triage.cache import KVCache  # noqa: E402
from ctad.triage.engine import DEFAULT_MODEL, Triage, TriageConfig  # noqa: E402
from ctad.triage.fields import empty_triage  # noqa: E402
from splunklib.searchcommands import Configuration, Option, StreamingCommand, dispatch, validators  # noqa: E402

APP = "ctad_cloudtrail"


@Configuration(distributed=False)
class AgentTriageCommand(StreamingCommand):
    backend = Option(require=False, default="auto", validate=validators.Set("auto", "offline", "anthropic"))
    model = Option(require=False, default=DEFAULT_MODEL)
    base_url = Option(require=False, default="")
    max_rows = Option(require=False, default=200, validate=validators.Integer(0, 10000))
    concurrency = Option(require=False, default=4, validate=validators.Integer(1, 16))
    timeout = Option(require=False, default=60, validate=validators.Integer(1, 600))
    cache_ttl = Option(require=False, default=86400, validate=validators.Integer(0))

    def prepare(self):
        self._engine = None
        self._setup_error = ""
        info = self._metadata.searchinfo
        rest = None
        key = ""
        try:
            rest = SplunkRest(info.splunkd_uri, info.session_key, app=APP)
            if self.backend != "offline":
                key = rest.password(APP, "anthropic") or ""
        except (SplunkRestError, AttributeError, ValueError) as exc:
            self._setup_error = f"splunkd: {exc}"
        backend = self.backend
        if backend == "anthropic" and not key:
            self._setup_error = (
                "no Anthropic key in storage/passwords (realm ctad_cloudtrail, name anthropic)"
            )
            backend = "offline"
        config = TriageConfig(
            backend=backend if key else "offline",
            model=self.model,
            api_key=key,
            base_url=self.base_url,
            timeout=float(self.timeout),
            max_rows=int(self.max_rows),
            concurrency=int(self.concurrency),
            cache_ttl_s=float(self.cache_ttl),
        )
        try:
            self._engine = Triage(
                config,
                cache=KVCache(rest, float(self.cache_ttl)) if (rest and key) else None,
                knowledge=KVKnowledgeBase(rest) if rest else None,
            )
        except Exception as exc:  # bad agents/lookups: every row still comes back, with the reason
            self._setup_error = f"triage unavailable: {type(exc).__name__}: {exc}"

    def stream(self, records):
        rows = list(records)
        if self._engine is None:
            for row in rows:
                row.update(empty_triage(self._setup_error))
                yield row
            return
        try:
            out = self._engine.run(rows)
        except Exception as exc:  # never lose the chunk
            out = [dict(r, **empty_triage(f"triage failed: {type(exc).__name__}: {exc}")) for r in rows]
        for row in out:
            for k in ("triage_actions",):
                if isinstance(row.get(k), list) and not row[k]:
                    row[k] = ""
            if self._setup_error and not row.get("triage_error") and row.get("triage_verdict"):
                row["triage_error"] = self._setup_error
            yield row


if __name__ == "__main__":
    dispatch(AgentTriageCommand, sys.argv, sys.stdin, sys.stdout, __name__)
