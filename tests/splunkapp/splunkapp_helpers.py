"""Helpers for the Splunk app tests: a strict .conf parser and a small SPL reader (pipelines, commands, macros,
lookups, command options). Not a full SPL grammar: enough to catch undefined macros/commands/lookups, unknown
options, unbalanced quotes or brackets and empty pipeline stages."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "default"
VIEWS = DEFAULT / "data" / "ui" / "views"
APP = "ctad_cloudtrail"
APP_COMMANDS = ("cloudtraildetect", "ctadbaseline", "agenttriage")


class ConfError(ValueError):
    pass


def parse_conf(path: Path) -> Dict[str, Dict[str, str]]:
    """Splunk .conf: [stanza], key = value, `\\` line continuation (kept as a newline), # comments.
    Raises ConfError on a line that is none of these, a duplicate stanza or a duplicate key."""
    out: Dict[str, Dict[str, str]] = {"default": {}}
    stanza = "default"
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ConfError(f"{path.name}:{i}: bad stanza line {raw!r}")
            stanza = line[1:-1]
            if stanza in out and stanza != "default":
                raise ConfError(f"{path.name}:{i}: duplicate stanza [{stanza}]")
            out.setdefault(stanza, {})
            continue
        if "=" not in line:
            raise ConfError(f"{path.name}:{i}: not a key = value line: {raw!r}")
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        while value.endswith("\\"):
            if i >= len(lines):
                raise ConfError(f"{path.name}:{i}: continuation at end of file")
            value = value[:-1].rstrip() + "\n" + lines[i].strip()
            i += 1
        if not key:
            raise ConfError(f"{path.name}:{i}: empty key")
        if key in out[stanza]:
            raise ConfError(f"{path.name}:{i}: duplicate key {key} in [{stanza}]")
        out[stanza][key] = value
    return out


def conf(name: str) -> Dict[str, Dict[str, str]]:
    return parse_conf(DEFAULT / f"{name}.conf")


# Splunk built-in search commands (Search Reference), the ones an app may use without defining them.
BUILTIN_COMMANDS: Set[str] = set(
    [
        "abstract",
        "accum",
        "addcoltotals",
        "addinfo",
        "addtotals",
        "analyzefields",
        "anomalies",
        "anomalousvalue",
        "anomalydetection",
        "append",
        "appendcols",
        "appendpipe",
        "arules",
        "associate",
        "audit",
        "autoregress",
        "bin",
        "bucket",
        "bucketdir",
        "chart",
        "cluster",
        "cofilter",
        "collect",
        "concurrency",
        "contingency",
        "convert",
        "correlate",
        "datamodel",
        "dbinspect",
        "dedup",
        "delete",
        "delta",
        "diff",
        "erex",
        "eval",
        "eventcount",
        "eventstats",
        "extract",
        "kv",
        "fieldformat",
        "fields",
        "fieldsummary",
        "filldown",
        "fillnull",
        "findtypes",
        "folderize",
        "foreach",
        "format",
        "from",
        "gauge",
        "gentimes",
        "geom",
        "geomfilter",
        "geostats",
        "head",
        "highlight",
        "history",
        "iconify",
        "inputcsv",
        "inputlookup",
        "iplocation",
        "join",
        "kmeans",
        "kvform",
        "loadjob",
        "localize",
        "localop",
        "lookup",
        "makecontinuous",
        "makemv",
        "makeresults",
        "map",
        "mcollect",
        "metadata",
        "metasearch",
        "meventcollect",
        "mpreview",
        "msearch",
        "mstats",
        "multikv",
        "multisearch",
        "mvcombine",
        "mvexpand",
        "nomv",
        "outlier",
        "outputcsv",
        "outputlookup",
        "outputtext",
        "overlap",
        "pivot",
        "predict",
        "rangemap",
        "rare",
        "redistribute",
        "regex",
        "reltime",
        "rename",
        "replace",
        "require",
        "rest",
        "return",
        "reverse",
        "rex",
        "rtorder",
        "savedsearch",
        "script",
        "run",
        "scrub",
        "search",
        "searchtxn",
        "selfjoin",
        "sendemail",
        "set",
        "setfields",
        "sichart",
        "sirare",
        "sistats",
        "sitimechart",
        "sitop",
        "sort",
        "spath",
        "stats",
        "strcat",
        "streamstats",
        "table",
        "tags",
        "tail",
        "timechart",
        "timewrap",
        "tojson",
        "top",
        "transaction",
        "transpose",
        "trendline",
        "tscollect",
        "tstats",
        "typeahead",
        "typelearner",
        "typer",
        "union",
        "uniq",
        "untable",
        "walklex",
        "where",
        "x11",
        "xmlkv",
        "xmlunescape",
        "xpath",
        "xyseries",
    ]
)


def expand_macros(spl: str, macros: Dict[str, Dict[str, str]], depth: int = 0) -> str:
    """Replace `name` with its definition, recursively. KeyError for an undefined macro."""
    if depth > 10:
        raise RecursionError("macro expansion too deep")

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros or "definition" not in macros[name]:
            raise KeyError(f"undefined macro `{name}`")
        return " " + expand_macros(macros[name]["definition"], macros, depth + 1) + " "

    return re.sub(r"`([^`(]+)`", sub, spl)


def check_balanced(spl: str) -> None:
    """ValueError if quotes, brackets or parentheses do not balance (outside quoted strings)."""
    stack: List[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    quote = None
    i = 0
    while i < len(spl):
        c = spl[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "([{":
            stack.append(c)
        elif c in ")]}" and (not stack or stack.pop() != pairs[c]):
            raise ValueError(f"unbalanced {c!r} at {i}: {spl[max(0, i - 40) : i + 40]!r}")
        i += 1
    if quote:
        raise ValueError(f"unterminated {quote} quote")
    if stack:
        raise ValueError(f"unclosed {stack[-1]!r}")


def split_pipelines(spl: str) -> List[List[str]]:
    """Top-level pipeline and every [subsearch] pipeline, each as a list of stage texts (subsearches blanked)."""
    out: List[List[str]] = []

    def walk(text: str) -> None:
        stages: List[str] = []
        cur: List[str] = []
        depth = 0
        quote = None
        sub_start = 0
        i = 0
        while i < len(text):
            c = text[i]
            if quote:
                if c == "\\":
                    if depth == 0:
                        cur.append(text[i : i + 2])
                    i += 2
                    continue
                if c == quote:
                    quote = None
                if depth == 0:
                    cur.append(c)
            elif c in "\"'":
                quote = c
                if depth == 0:
                    cur.append(c)
            elif c == "[":
                if depth == 0:
                    sub_start = i + 1
                    cur.append("[]")
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0:
                    walk(text[sub_start:i])
            elif c == "|" and depth == 0:
                stages.append("".join(cur).strip())
                cur = []
            elif depth == 0:
                cur.append(c)
            i += 1
        stages.append("".join(cur).strip())
        out.append(stages)

    walk(spl)
    return out


def stage_command(stage: str, first: bool) -> Optional[str]:
    """The command a stage runs; the implicit `search` for a leading stage of search terms; None if empty."""
    words = stage.split()
    if not words:
        return None
    word = words[0].lower()
    if first and word not in BUILTIN_COMMANDS and word not in APP_COMMANDS:
        return "search"
    return word


def pipeline_commands(stages: List[str]) -> Iterator[Tuple[str, str]]:
    """(command, stage) for every stage; ValueError for an empty stage in the middle or at the end."""
    for n, stage in enumerate(stages):
        if not stage:
            if n == 0 and len(stages) > 1:
                continue  # leading pipe: `| inputlookup ...`
            raise ValueError(f"empty pipeline stage #{n} in {stages!r}")
        cmd = stage_command(stage, first=(n == 0) or (n == 1 and not stages[0]))
        if n == 1 and not stages[0] and cmd == "search" and stage.split()[0].lower() not in BUILTIN_COMMANDS:
            cmd = stage.split()[0].lower()  # after a leading pipe the first word is a command, known or not
        yield cmd, stage


_OPT = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)=")


def lookup_name(cmd: str, stage: str) -> Optional[str]:
    """Lookup table name used by lookup/inputlookup/outputlookup (first bare word after the options)."""
    words = stage.split()[1:]
    for w in words:
        if _OPT.match(w):
            continue
        if cmd == "lookup" and w.lower() in ("local", "update"):
            continue
        return w.strip('"')
    return None


def command_options(stage: str) -> Dict[str, str]:
    """name=value options of a custom command stage."""
    out = {}
    for w in stage.split()[1:]:
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", w)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def defined_lookups() -> Set[str]:
    names = {s for s in conf("transforms") if s != "default"}
    names |= {p.name for p in (REPO / "lookups").glob("*.csv")}
    return names


def defined_commands() -> Set[str]:
    return {s for s in conf("commands") if s != "default"}


def searchbnf_options() -> Dict[str, Set[str]]:
    bnf = conf("searchbnf")
    out = {}
    for stanza, kv in bnf.items():
        if stanza.endswith("-command"):
            out[stanza[: -len("-command")]] = set(re.findall(r"\b([a-z_]+)=", kv.get("syntax", "")))
    return out


def analyse(spl: str, macros: Dict[str, Dict[str, str]]) -> List[str]:
    """Problems in one search (empty list = fine): undefined macros/commands/lookups, unknown custom command
    options, unbalanced text, empty stages."""
    problems: List[str] = []
    try:
        text = expand_macros(spl, macros)
    except (KeyError, RecursionError) as exc:
        return [str(exc)]
    try:
        check_balanced(text)
    except ValueError as exc:
        problems.append(str(exc))
        return problems
    commands = defined_commands()
    lookups = defined_lookups()
    bnf = searchbnf_options()
    for stages in split_pipelines(text):
        try:
            for cmd, stage in pipeline_commands(stages):
                if cmd not in BUILTIN_COMMANDS and cmd not in commands:
                    problems.append(f"unknown command {cmd!r} in stage {stage[:80]!r}")
                if cmd in ("lookup", "inputlookup", "outputlookup"):
                    name = lookup_name(cmd, stage)
                    if name not in lookups:
                        problems.append(f"undefined lookup {name!r} in stage {stage[:80]!r}")
                if cmd in commands:
                    unknown = set(command_options(stage)) - bnf.get(cmd, set())
                    if unknown:
                        problems.append(f"{cmd}: options {sorted(unknown)} not in searchbnf.conf")
        except ValueError as exc:
            problems.append(str(exc))
    return problems


# ----------------------------------------------------------------------------------------------- dashboards
def studio_dashboards() -> Dict[str, dict]:
    """view name -> Dashboard Studio definition (JSON) for every version="2" view."""
    out = {}
    for path in sorted(VIEWS.glob("*.xml")):
        root = ET.parse(path).getroot()
        if root.get("version") == "2":
            out[path.stem] = json.loads(root.find("definition").text)
    return out


TOKEN = re.compile(r"\$([A-Za-z0-9_.:]+)(?:\|([a-z]+))?\$")


def substitute_tokens(query: str, values: Dict[str, str]) -> str:
    """Put token values in as Dashboard Studio does; `$name|s$` quotes the value and escapes its quotes and
    backslashes ("Wrap value in quotes"), `|n` leaves it as is. KeyError for an undefined token or filter."""

    def sub(m: re.Match[str]) -> str:
        name, filt = m.group(1), m.group(2)
        if name not in values:
            raise KeyError(f"undefined token ${name}$")
        value = values[name]
        if filt == "s":
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if filt in (None, "n"):
            return value
        raise KeyError(f"token filter |{filt} is not one ctad uses")

    return TOKEN.sub(sub, query)


# ------------------------------------------------------------------------------------ options declared in code
def _option_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return name == "Option"


def options_in_source(source: str) -> Set[str]:
    """Option names a module declares: splunklib class attributes `x = Option(...)` and dict literals
    `options = {"x": Option(...)}` (ctad.splunk.protocol style), also `dict(x=Option(...))`."""
    tree = ast.parse(source)
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and _option_call(stmt.value):
                    names |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
                elif (
                    isinstance(stmt, ast.AnnAssign)
                    and stmt.value is not None
                    and _option_call(stmt.value)
                    and isinstance(stmt.target, ast.Name)
                ):
                    names.add(stmt.target.id)
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str) and _option_call(v):
                    names.add(k.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            for kw in node.keywords:
                if kw.arg and _option_call(kw.value):
                    names.add(kw.arg)
    return names


def command_sources(command: str) -> List[Path]:
    """bin/<command>.py and the app/ctad/splunk modules it imports (where the command class may live)."""
    entry = REPO / "bin" / f"{command}.py"
    if not entry.is_file():
        return []
    out = [entry]
    text = entry.read_text(encoding="utf-8")
    for mod in set(re.findall(r"ctad\.splunk\.([a-z_0-9]+)", text)) | set(
        re.findall(r"from ctad\.splunk import ([a-z_0-9, ]+)", text)
    ):
        for name in mod.replace(" ", "").split(","):
            p = REPO / "app" / "ctad" / "splunk" / f"{name}.py"
            if p.is_file():
                out.append(p)
    return out
