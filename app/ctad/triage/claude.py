"""The Anthropic backend: the agent chain as forced tool calls to Claude, every answer schema-validated.

Stage by stage over all groups (analyst for every group, then intel, ...), so the same code runs direct calls
with bounded concurrency or one Message Batch per stage (`--batch`, half price, for backlogs). Each request
carries the defences: a cached static system prompt with the spotlighting rules, untrusted fields JSON-encoded
inside nonce-tagged delimiters, a forced tool whose input schema is the agent's output schema (this SDK
version has no temperature parameter on messages.create, so none is sent unless configured).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional

import fastjsonschema

from ctad.triage.agents import AgentSet
from ctad.triage.evidence import Group, prompt_trusted, prompt_untrusted
from ctad.triage.injection import new_nonce, spotlight
from ctad.triage.llm import FATAL_FOR_RUN, LLMError, RetryPolicy, tool_input


class Usage:
    """Token and call counters shared by worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_write_tokens = 0
        self.cache_read_tokens = 0
        self.batch_calls = 0
        self.errors: Dict[str, int] = {}

    def add(self, message: Dict[str, Any], batch: bool = False) -> None:
        u = message.get("usage") or {}
        with self._lock:
            self.calls += 1
            self.batch_calls += 1 if batch else 0
            self.input_tokens += int(u.get("input_tokens") or 0)
            self.output_tokens += int(u.get("output_tokens") or 0)
            self.cache_write_tokens += int(u.get("cache_creation_input_tokens") or 0)
            self.cache_read_tokens += int(u.get("cache_read_input_tokens") or 0)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def retry(self, _exc: Any = None) -> None:
        with self._lock:
            self.retries += 1

    def cost(self, prices: Dict[str, float]) -> float:
        """Dollars for the tokens counted (prices per million tokens; batch calls at the batch discount)."""
        total = (
            self.input_tokens * prices.get("input", 0)
            + self.output_tokens * prices.get("output", 0)
            + self.cache_write_tokens * prices.get("cache_write", 0)
            + self.cache_read_tokens * prices.get("cache_read", 0)
        ) / 1e6
        if self.calls and self.batch_calls:
            share = self.batch_calls / self.calls
            total *= 1 - share * (1 - prices.get("batch_discount", 0.5))
        return total

    def as_dict(self) -> Dict[str, Any]:
        return {
            "calls": self.calls,
            "retries": self.retries,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "batch_calls": self.batch_calls,
            "errors": dict(self.errors),
        }


class ClaudeBackend:
    """Runs the LLM agents for many groups; a failure leaves `group_error[gid]` set (caller falls back)."""

    def __init__(
        self,
        client: Any,
        agents: AgentSet,
        model: str,
        retry: Optional[RetryPolicy] = None,
        concurrency: int = 4,
        strict_tools: bool = True,
        repair_retries: int = 1,
        batch: bool = False,
        batch_poll_s: float = 30.0,
        batch_max_wait_s: float = 86400.0,
        temperature: Optional[float] = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.agents = agents
        self.model = model
        self.retry = retry or RetryPolicy()
        self.concurrency = max(1, int(concurrency))
        self.strict_tools = strict_tools
        self.repair_retries = repair_retries
        self.batch = batch
        self.batch_poll_s = batch_poll_s
        self.batch_max_wait_s = batch_max_wait_s
        self.temperature = temperature
        self.sleep = sleep
        self.usage = Usage()
        self.stopped: Optional[LLMError] = None  # spend limit or auth failure: no more calls this run
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"anthropic:{self.model}"

    # ------------------------------------------------------------------------------------------- requests
    def request(self, agent_name: str, group: Group, previous: Dict[str, Any]) -> Dict[str, Any]:
        """The Messages API request body for one agent and one group (what tests assert the defences on)."""
        agent = self.agents[agent_name]
        earlier = {k: previous[k] for k in agent.inputs if k in previous and k != "context"}
        prompt = agent.user_prompt(
            group={"group_id": group.group_id, "size": group.size},
            trusted=prompt_trusted(group.context),
            untrusted_block=spotlight(prompt_untrusted(group.context, group.untrusted, earlier), new_nonce()),
        )
        params: Dict[str, Any] = {
            "model": self.model,
            "max_tokens": agent.max_tokens,
            "system": [
                {"type": "text", "text": agent.system_prompt(), "cache_control": {"type": "ephemeral"}}
            ],
            "tools": [agent.tool(self.strict_tools)],
            "tool_choice": {"type": "tool", "name": agent.tool_name},
            "messages": [{"role": "user", "content": prompt}],
        }
        if self.temperature is not None:
            params["temperature"] = self.temperature
        return params

    def _answer(self, agent_name: str, message: Dict[str, Any]) -> Dict[str, Any]:
        agent = self.agents[agent_name]
        args = tool_input(message, agent.tool_name)
        try:
            return agent.validate(args)
        except fastjsonschema.JsonSchemaException as exc:
            raise LLMError(
                "schema", f"{agent_name} answer violates its schema: {exc.message[:200]}"
            ) from None

    def _call(self, agent_name: str, group: Group, previous: Dict[str, Any]) -> Dict[str, Any]:
        attempts = 0
        while True:
            if self.stopped is not None:
                raise LLMError(self.stopped.kind, f"not called: {self.stopped}", self.stopped.status)
            params = self.request(agent_name, group, previous)
            try:
                message = self.retry.call(lambda p=params: self.client.create(p), on_retry=self.usage.retry)
                self.usage.add(message)
                return self._answer(agent_name, message)
            except LLMError as exc:
                self.usage.error(exc.kind)
                if exc.kind in FATAL_FOR_RUN:
                    with self._lock:
                        self.stopped = self.stopped or exc
                    raise
                if exc.kind in ("schema", "malformed") and attempts < self.repair_retries:
                    attempts += 1
                    continue
                raise

    # -------------------------------------------------------------------------------------------- running
    def run(self, groups: List[Group]) -> Dict[str, Any]:
        """{group_id: {agent: answer} or LLMError} for every group."""
        state: Dict[str, Dict[str, Any]] = {g.group_id: {"context": g.context} for g in groups}
        failed: Dict[str, LLMError] = {}
        by_id = {g.group_id: g for g in groups}
        for agent in self.agents.llm_agents():
            alive = [g for g in groups if g.group_id not in failed]
            if not alive:
                break
            if self.batch:
                results = self._run_batch(agent.name, alive, state)
            else:
                results = self._run_direct(agent.name, alive, state)
            for gid, value in results.items():
                if isinstance(value, LLMError):
                    failed[gid] = LLMError(value.kind, f"{agent.name}: {value}", value.status)
                else:
                    state[gid][agent.name] = value
        out: Dict[str, Any] = {}
        for gid in by_id:
            out[gid] = (
                failed[gid] if gid in failed else {k: v for k, v in state[gid].items() if k != "context"}
            )
        return out

    def _run_direct(
        self, agent_name: str, groups: List[Group], state: Dict[str, Dict[str, Any]]
    ) -> Dict[str, Any]:
        def one(g: Group) -> Any:
            try:
                return self._call(agent_name, g, state[g.group_id])
            except LLMError as exc:
                return exc
            except Exception as exc:  # a bug or an unexpected transport failure must not fail the run
                return LLMError("internal", f"{type(exc).__name__}: {str(exc)[:200]}")

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(groups))) as pool:
            return dict(zip([g.group_id for g in groups], pool.map(one, groups)))

    def _run_batch(
        self, agent_name: str, groups: List[Group], state: Dict[str, Dict[str, Any]]
    ) -> Dict[str, Any]:
        """One Message Batch for this stage; results matched by custom_id; failures per group."""
        if self.stopped is not None:
            return {g.group_id: LLMError(self.stopped.kind, f"not called: {self.stopped}") for g in groups}
        requests = [
            {
                "custom_id": f"{g.group_id}-{agent_name}"[:64],
                "params": self.request(agent_name, g, state[g.group_id]),
            }
            for g in groups
        ]
        try:
            batch = self.retry.call(lambda: self.client.batch_create(requests), on_retry=self.usage.retry)
            bid = batch["id"]
            waited = 0.0
            while batch.get("processing_status") != "ended":
                if waited >= self.batch_max_wait_s:
                    raise LLMError("timeout", f"batch {bid} not finished after {waited:.0f}s")
                self.sleep(self.batch_poll_s)
                waited += self.batch_poll_s
                batch = self.retry.call(lambda: self.client.batch_get(bid), on_retry=self.usage.retry)
            results = self.retry.call(lambda: self.client.batch_results(bid), on_retry=self.usage.retry)
        except LLMError as exc:
            self.usage.error(exc.kind)
            if exc.kind in FATAL_FOR_RUN:
                self.stopped = exc
            return {g.group_id: exc for g in groups}
        by_custom = {r.get("custom_id"): r for r in results if isinstance(r, dict)}
        out: Dict[str, Any] = {}
        for g, req in zip(groups, requests):
            r = by_custom.get(req["custom_id"])
            result = (r or {}).get("result") or {}
            if result.get("type") != "succeeded":
                err = result.get("error") or {}
                kind = "batch_" + str(result.get("type") or "missing")
                out[g.group_id] = LLMError(kind, str((err.get("error") or err).get("message") or kind)[:200])
                self.usage.error(kind)
                continue
            message = result.get("message") or {}
            self.usage.add(message, batch=True)
            try:
                out[g.group_id] = self._answer(agent_name, message)
            except LLMError as exc:  # no repair round in batch mode: the group falls back to offline
                self.usage.error(exc.kind)
                out[g.group_id] = exc
        return out
