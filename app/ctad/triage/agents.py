"""Agent definitions loaded from data (`agents/`): role file, Jinja2 templates, output JSON Schema.

Prompts live outside the code so analysts can read and tune them, and so their version (a hash of the directory)
can be part of the cache fingerprint. Schemas are compiled once with fastjsonschema: every answer, from Claude or
from the offline expert, is validated against the same schema before it reaches a row.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import fastjsonschema
import jinja2

from ctad.core.errors import CtadError
from ctad.core.resources import find_dir

CHAIN = ("context", "analyst", "intel", "validator", "responder")

# JSON Schema keywords the Messages API's strict tool mode does not accept; they stay in the local schema and are
# enforced by fastjsonschema after the answer arrives.
_STRICT_UNSUPPORTED = (
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "$schema",
    "title",
)


class AgentError(CtadError, ValueError):
    """The agents directory is missing or inconsistent."""


def default_agents_dir() -> Path:
    """Where the agent definitions are: $CTAD_AGENTS_DIR, else $CTAD_HOME/agents, else `agents/` at the repo or
    app root (`ctad.core.resources.find_dir`)."""
    return find_dir("agents")


class Agent:
    """One agent: its role, its compiled schema, and its two templates."""

    def __init__(self, role: Dict[str, Any], schema: Dict[str, Any], env: jinja2.Environment, folder: str):
        self.role = role
        self.name: str = role["name"]
        self.kind: str = role.get("kind", "llm")
        self.tool_name: str = role.get("tool_name", "record_" + self.name)
        self.max_tokens: int = int(role.get("max_tokens", 1000))
        self.inputs: List[str] = list(role.get("inputs", []))
        self.schema = schema
        self._validate: Callable[[Any], Any] = fastjsonschema.compile(schema)
        self._system = (
            env.get_template(f"{folder}/{role['system_template']}") if role.get("system_template") else None
        )
        self._prompt = (
            env.get_template(f"{folder}/{role['prompt_template']}") if role.get("prompt_template") else None
        )

    def validate(self, answer: Any) -> Dict[str, Any]:
        """The answer if it satisfies the schema, else `fastjsonschema.JsonSchemaException` with the reason."""
        self._validate(answer)
        return answer

    def system_prompt(self) -> str:
        """The static part (cacheable): same text for every group."""
        if self._system is None:
            raise AgentError(f"agent {self.name} has no system template")
        return self._system.render(role=self.role).strip() + "\n"

    def user_prompt(self, **values: Any) -> str:
        if self._prompt is None:
            raise AgentError(f"agent {self.name} has no prompt template")
        return self._prompt.render(role=self.role, task=self.role.get("task", ""), **values).strip() + "\n"

    def tool(self, strict: bool = True) -> Dict[str, Any]:
        """The tool definition sent to the Messages API: its input schema is this agent's output schema."""
        tool: Dict[str, Any] = {
            "name": self.tool_name,
            "description": self.role.get("tool_description", self.role.get("description", "")),
            "input_schema": strict_schema(self.schema) if strict else self.schema,
        }
        if strict:
            tool["strict"] = True
        return tool


def strict_schema(schema: Any) -> Any:
    """A copy of the schema without the keywords strict tool mode rejects (validated locally instead)."""
    out = copy.deepcopy(schema)

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            for key in _STRICT_UNSUPPORTED:
                node.pop(key, None)
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(out)
    return out


class AgentSet:
    """The whole chain, in order, with a version string that changes when any definition changes."""

    def __init__(self, agents: Dict[str, Agent], version: str, folder: Path):
        self.agents = agents
        self.version = version
        self.folder = folder

    def __getitem__(self, name: str) -> Agent:
        return self.agents[name]

    def llm_agents(self) -> List[Agent]:
        return [a for a in self.ordered() if a.kind == "llm"]

    def ordered(self) -> List[Agent]:
        return sorted(self.agents.values(), key=lambda a: int(a.role.get("order", 99)))

    @classmethod
    def load(cls, folder: Optional[Path] = None) -> AgentSet:
        folder = Path(folder) if folder else default_agents_dir()
        if not folder.is_dir():
            raise AgentError(f"agents directory not found: {folder} (set CTAD_AGENTS_DIR or --agents-dir)")
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # prompts are not HTML; untrusted text is JSON-encoded by injection.spotlight
            keep_trailing_newline=True,
        )
        digest = hashlib.sha256()
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".j2", ".yaml", ".yml"):
                digest.update(str(path.relative_to(folder)).encode())
                digest.update(path.read_bytes())
        agents: Dict[str, Agent] = {}
        for name in CHAIN:
            role_path = folder / name / "role.json"
            try:
                role = json.loads(role_path.read_text(encoding="utf-8"))
                schema = json.loads(
                    (folder / name / role.get("schema", "schema.json")).read_text(encoding="utf-8")
                )
                agents[name] = Agent(role, schema, env, name)
            except (
                OSError,
                ValueError,
                KeyError,
                jinja2.TemplateError,
                fastjsonschema.JsonSchemaDefinitionException,
            ) as exc:
                raise AgentError(f"agent {name} in {folder}: {exc}") from exc
        return cls(agents, digest.hexdigest()[:12], folder)
