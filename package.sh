#!/usr/bin/env bash
# Builds the Splunk app ctad_cloudtrail as dist/ctad_cloudtrail-<version>.tgz.
#
#   bash package.sh             build (and check that the vendored search-time code imports without site-packages)
#   bash package.sh --inspect   build, then splunk-appinspect --mode precert with --included-tags cloud and
#                               --included-tags future; exits non-zero on any failure or error
#
# Layout: app.manifest default/ metadata/ static/ appserver/ lookups/*.csv model/ agents/ bin/*.py, the engine vendored as
# bin/ctad/ (from app/ctad/, without the training/simulator/report/Elastic code and the modules only the CLI imports),
# and the pinned pure-Python libraries of scripts/splunk-vendor.txt that triage needs (jinja2, markupsafe without its
# C speedups, fastjsonschema). No splunklib: the commands speak the protocol through ctad.splunk.protocol and
# splunkd's REST through ctad.knowledge.splunk_rest (its docstring says why). No numpy (the numpy engine is used only
# when Splunk's Python for Scientific Computing add-on provides it). No .pyc/__pycache__; directories 755, files 644,
# bin/*.py 755.
# Env: PYTHON (default .venv/bin/python, else python3) runs pip download and the build steps;
# CTAD_VENDOR_CACHE (default dist/vendor) keeps the downloaded pins.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
APP=ctad_cloudtrail
INSPECT=0
for arg in "$@"; do
    case "$arg" in
        --inspect) INSPECT=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "package.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

conf_value() { # conf_value FILE STANZA KEY
    awk -v s="[$2]" -v k="$3" '
        /^\[/ { in_s = ($0 == s) }
        in_s && $0 ~ "^" k "[ \t]*=" { sub("^[^=]*=[ \t]*", ""); print; exit }' "$1"
}
VERSION="$(conf_value default/app.conf id version)"
LAUNCHER_VERSION="$(conf_value default/app.conf launcher version)"
PY_VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
MANIFEST_VERSION="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["info"]["id"]["version"])' app.manifest)"
if [ -z "$VERSION" ] || [ "$VERSION" != "$LAUNCHER_VERSION" ] || [ "$VERSION" != "$PY_VERSION" ] || [ "$VERSION" != "$MANIFEST_VERSION" ]; then
    echo "package.sh: versions disagree: app.conf [id] '$VERSION', [launcher] '$LAUNCHER_VERSION', pyproject '$PY_VERSION', app.manifest '$MANIFEST_VERSION'" >&2
    exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/$APP"
mkdir -p "$STAGE/bin" "$STAGE/lookups" dist

cp -R default metadata static appserver model agents README "$STAGE/"
cp lookups/*.csv "$STAGE/lookups/"
cp bin/*.py "$STAGE/bin/"
cp LICENSE "$STAGE/LICENSE"
cp app.manifest "$STAGE/app.manifest"  # schema 2.0.0; its info.id.version must equal app.conf [id] version
cp docs/splunk-app.md "$STAGE/README.md"

# The engine: search-time modules, the Splunk glue, triage and its knowledge/CTI helpers.
"$PYTHON" - "$ROOT/app/ctad" "$STAGE/bin/ctad" <<'PY'
import os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
skip_dirs = {"simulate", "train", "elastic", "report", "evaluation", "__pycache__"}
skip_files = {"demo.py", "__main__.py", "cli.py"}  # the top-level CLI (rich/tqdm)
test_only = {"splunkd_sim.py"}  # ctad.splunk's splunkd simulator for tests (spawns processes)
# Modules only the `ctad` CLI imports: no bin/*.py command reaches them, even through an import inside a function
# (tests/splunkapp/test_package_dead_code.py checks both: these are absent, and all that ships is reachable).
cli_only = {"engine/cli.py", "engine/output.py", "engine/pipeline.py", "engine/readers.py",
            "cti/cli.py", "cti/config.py", "triage/cli.py", "triage/evalset.py"}
def ignore(folder, names):
    top = folder.rstrip("/") == src.rstrip("/")
    rel = os.path.relpath(folder, src).replace(os.sep, "/")
    out = set()
    for n in names:
        if n in skip_dirs and top or n == "__pycache__":
            out.add(n)
        elif top and n in skip_files or n in test_only or f"{rel}/{n}" in cli_only:
            out.add(n)
        elif n.endswith((".pyc", ".pyo", ".so")):
            out.add(n)
    return out
shutil.copytree(src, dst, ignore=ignore)
PY
# The shipped engine keeps its layers: no cycle, no import up a layer, and core/ forest/ engine/ splunk/ import only
# the standard library (numpy and orjson only under try/except ImportError). From the source, so a third-party
# import is caught even where the build machine happens to have that package.
"$PYTHON" "$ROOT/scripts/check_layers.py" "$STAGE/bin/ctad" || { echo "package.sh: the app breaks its layer rules" >&2; exit 1; }

# Third-party pure-Python packages: the pins in scripts/splunk-vendor.txt (hash-checked), not whatever the build
# venv holds, because they must import on Splunk's Python 3.9 (the venv's newest fastjsonschema/packaging do not).
# Downloads are cached in $CTAD_VENDOR_CACHE (default dist/vendor); an offline build uses the cache alone.
VENDOR_CACHE="${CTAD_VENDOR_CACHE:-$ROOT/dist/vendor}"
mkdir -p "$VENDOR_CACHE"
fetch() { "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r "$ROOT/scripts/splunk-vendor.txt" -d "$VENDOR_CACHE" "$@" >/dev/null; }
if ! fetch 2>"$WORK/pip.log" && ! fetch --no-index --find-links "$VENDOR_CACHE" 2>>"$WORK/pip.log"; then
    grep -v "is ignored: it is neither" "$WORK/pip.log" >&2 || true
    echo "package.sh: cannot fetch the pinned libraries of scripts/splunk-vendor.txt (no registry and no cache)" >&2
    exit 1
fi
"$PYTHON" - "$ROOT/scripts/splunk-vendor.txt" "$VENDOR_CACHE" "$STAGE/bin" <<'PY'
import os, posixpath, re, sys, tarfile, zipfile
req_file, cache, dst = sys.argv[1:4]
MODULES = {"jinja2": ["jinja2"], "markupsafe": ["markupsafe"], "fastjsonschema": ["fastjsonschema"]}
SKIP = re.compile(r"(^|/)__pycache__/|\.(pyc|pyo|so|pyd|c|h)$")
LICENCE = re.compile(r"(^|/)(LICEN[CS]E|COPYING)[^/]*$", re.I)

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

def members(path):
    """(name inside the archive without its top folder or src/, bytes) of every regular file."""
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.is_dir():
                    yield info.filename, z.read(info)
    else:
        with tarfile.open(path) as t:
            for m in t.getmembers():
                if m.isfile():
                    rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
                    yield (rel[4:] if rel.startswith("src/") else rel), t.extractfile(m).read()

files = {}
for f in os.listdir(cache):
    m = re.match(r"(.+?)-(\d[^-]*?)(?:-py.*\.whl|\.tar\.gz)$", f)
    if m:
        files[(norm(m.group(1)), m.group(2))] = os.path.join(cache, f)
for line in open(req_file, encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, version = line.split()[0].split("==")
    path = files.get((norm(name), version))
    if path is None:
        sys.exit(f"package.sh: {name}=={version} is not in {cache}")
    wanted = MODULES[norm(name)]
    licence_done = False
    for rel, data in members(path):
        if posixpath.isabs(rel) or ".." in rel.split("/"):
            sys.exit(f"package.sh: unsafe path {rel!r} in {path}")
        top = rel.split("/", 1)[0]
        if top in wanted and not SKIP.search(rel):
            target = os.path.join(dst, *rel.split("/"))
        elif LICENCE.search(rel) and not licence_done and rel.count("/") <= 2 and top not in wanted:
            first = wanted[0]
            target = os.path.join(dst, first if not first.endswith(".py") else "", "LICENSE." + norm(name))
            licence_done = True
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(data)
    for mod in wanted:
        if not os.path.exists(os.path.join(dst, mod)):
            sys.exit(f"package.sh: {mod} not found in {path}")
PY

find "$STAGE" -name "__pycache__" -type d -prune -exec rm -rf {} +
find "$STAGE" \( -name "*.pyc" -o -name "*.pyo" -o -name ".DS_Store" -o -name "*.so" \) -type f -delete
find "$STAGE" -type d -exec chmod 755 {} +
find "$STAGE" -type f -exec chmod 644 {} +
chmod 755 "$STAGE"/bin/*.py

# Every command must import from the app alone (-I -S: no site-packages, no user site, no PYTHON* env), on
# the machine's python3 and on Splunk's Pythons (3.9 and 3.13) wherever they exist here: a check on the build
# Python only let 3.10-only vendored code through.
CHECKED=""
for py in python3 python3.9 python3.13 "$HOME"/.pyenv/versions/3.9.*/bin/python "$HOME"/.pyenv/versions/3.13.*/bin/python; do
    command -v "$py" >/dev/null 2>&1 && "$py" -c "" >/dev/null 2>&1 || continue
    ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    case " $CHECKED " in *" $ver "*) continue ;; esac
    "$py" -I -S -B - "$STAGE/bin" <<'PY' || { echo "package.sh: the app does not import on $py ($ver)" >&2; exit 1; }
import sys
sys.path.insert(0, sys.argv[1])
import _ctad_bootstrap
_ctad_bootstrap.setup()
import ctad, ctad.core.catalog, ctad.engine.detect, ctad.core.profile, ctad.forest.runtime, ctad.core.reasons  # noqa: F401,E401
import ctad.splunk.detect_command, ctad.splunk.baseline_command, ctad.splunk.triage_command  # noqa: F401,E401
import ctad.triage.engine, ctad.triage.cache, ctad.knowledge, ctad.knowledge.splunk_rest, ctad.cti  # noqa
import jinja2, fastjsonschema  # noqa: F401,E401
assert ctad.__file__.startswith(sys.argv[1]), ctad.__file__
for name in ("numpy", "orjson"):
    assert name not in sys.modules or not sys.modules[name].__file__.startswith(sys.argv[1]), name
PY
    CHECKED="$CHECKED $ver"
done
echo "package.sh: commands import on Python$CHECKED"

OUT="dist/$APP-$VERSION.tgz"
rm -f "$OUT"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" \
    -czf "$OUT" -C "$WORK" "$APP"
echo "built $OUT ($(du -h "$OUT" | cut -f1))"

if [ "$INSPECT" = 1 ]; then
    APPINSPECT="${APPINSPECT:-$(dirname "$PYTHON")/splunk-appinspect}"
    [ -x "$APPINSPECT" ] || APPINSPECT="$(command -v splunk-appinspect)"
    status=0
    for tag in cloud future; do
        report="dist/appinspect-$tag.json"
        "$APPINSPECT" inspect "$OUT" --mode precert --included-tags "$tag" --data-format json --output-file "$report" >"dist/appinspect-$tag.log" 2>&1 || true
        "$PYTHON" - "$report" "$tag" <<'PY' || status=1
import json, sys
path, tag = sys.argv[1], sys.argv[2]
try:
    data = json.load(open(path))
except (OSError, ValueError) as exc:
    print(f"appinspect {tag}: no report ({exc}); see {path.replace('.json', '.log')}")
    sys.exit(1)
summary = {}
bad = []
warn = []
for report in data.get("reports", []):
    for k, v in (report.get("summary") or {}).items():
        summary[k] = summary.get(k, 0) + v
    for group in report.get("groups", []):
        for check in group.get("checks", []):
            res = check.get("result")
            msgs = [m.get("message", "") for m in check.get("messages", [])]
            if res in ("failure", "error"):
                bad.append((check["name"], res, msgs))
            elif res == "warning":
                warn.append((check["name"], msgs))
print(f"appinspect --included-tags {tag}: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.items())))
for name, msgs in warn:
    print(f"  warning {name}: {msgs[0][:300] if msgs else ''}")
for name, res, msgs in bad:
    print(f"  {res.upper()} {name}:")
    for m in msgs[:5]:
        print(f"      {m[:400]}")
sys.exit(1 if bad or summary.get("failure") or summary.get("error") else 0)
PY
    done
    exit $status
fi
