#!/usr/bin/env bash
# Builds the Splunk app ctad_cloudtrail as dist/ctad_cloudtrail-<version>.tgz.
#
#   bash package.sh             build (and check that the vendored search-time code imports without site-packages)
#   bash package.sh --inspect   build, then splunk-appinspect --mode precert with --included-tags cloud and
#                               --included-tags future; exits non-zero on any failure or error
#
# Layout: default/ metadata/ static/ appserver/ lookups/*.csv model/ agents/ bin/*.py, the engine vendored as
# bin/ctad/ (from app/, without the training/simulator/report/Elastic code), bin/splunklib/ from the installed
# splunk-sdk, and the pure-Python libraries triage needs (jinja2, markupsafe without its C speedups,
# fastjsonschema). No numpy (the numpy engine is used only when Splunk's Python for Scientific Computing add-on
# provides it). No .pyc/__pycache__; directories 755, files 644, bin/*.py 755.
# Env: PYTHON (default .venv/bin/python, else python3) is where splunklib/jinja2/... are copied from.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
APP=ctad_cloudtrail
INSPECT=0
for arg in "$@"; do
    case "$arg" in
        --inspect) INSPECT=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
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
if [ -z "$VERSION" ] || [ "$VERSION" != "$LAUNCHER_VERSION" ] || [ "$VERSION" != "$PY_VERSION" ]; then
    echo "package.sh: versions disagree: app.conf [id] '$VERSION', [launcher] '$LAUNCHER_VERSION', pyproject '$PY_VERSION'" >&2
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
cp docs/splunk-app.md "$STAGE/README.md"

# The engine: search-time modules, the Splunk glue, triage and its knowledge/CTI helpers.
"$PYTHON" - "$ROOT/app" "$STAGE/bin/ctad" <<'PY'
import shutil, sys
src, dst = sys.argv[1], sys.argv[2]
skip_dirs = {"simulate", "train", "elastic", "report", "__pycache__"}
skip_files = {"demo.py", "__main__.py", "cli.py"}  # the top-level CLI (rich/tqdm); subpackage cli.py files stay
test_only = {"splunkd_sim.py"}  # ctad.splunk's splunkd simulator for tests (spawns processes)
def ignore(folder, names):
    top = folder.rstrip("/") == src.rstrip("/")
    out = set()
    for n in names:
        if n in skip_dirs and top or n == "__pycache__":
            out.add(n)
        elif top and n in skip_files or n in test_only:
            out.add(n)
        elif n.endswith((".pyc", ".pyo", ".so")):
            out.add(n)
    return out
shutil.copytree(src, dst, ignore=ignore)
PY

# Third-party pure-Python packages, copied from the build Python with their licences.
"$PYTHON" - "$STAGE/bin" <<'PY'
import importlib, importlib.metadata as md, os, shutil, sys
dst = sys.argv[1]
for mod, dist in (("splunklib", "splunk-sdk"), ("jinja2", "jinja2"), ("markupsafe", "markupsafe"),
                  ("fastjsonschema", "fastjsonschema"), ("deprecation", "deprecation"), ("packaging", "packaging")):
    path = importlib.import_module(mod).__file__
    if os.path.basename(path) == "__init__.py":
        shutil.copytree(os.path.dirname(path), os.path.join(dst, mod),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.c", "*.h", "*.pyd"))
    else:  # a single-module distribution (deprecation.py)
        shutil.copyfile(path, os.path.join(dst, os.path.basename(path)))
    try:
        files = md.distribution(dist).files or []
    except md.PackageNotFoundError:
        files = []
    for f in files:
        name = os.path.basename(str(f))
        if name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            target = os.path.join(dst, mod) if os.path.isdir(os.path.join(dst, mod)) else dst
            shutil.copyfile(f.locate(), os.path.join(target, "LICENSE." + dist))
            break
PY

find "$STAGE" -name "__pycache__" -type d -prune -exec rm -rf {} +
find "$STAGE" \( -name "*.pyc" -o -name "*.pyo" -o -name ".DS_Store" -o -name "*.so" \) -type f -delete
find "$STAGE" -type d -exec chmod 755 {} +
find "$STAGE" -type f -exec chmod 644 {} +
chmod 755 "$STAGE"/bin/*.py

# The search-time path must import from the app alone (no site-packages), on the machine's Python 3.
python3 -B -S -E - "$STAGE/bin" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import ctad, ctad.catalog, ctad.detect, ctad.profile, ctad.model_runtime, ctad.reasons  # noqa: F401,E401
import ctad.splunk, ctad.triage.engine, ctad.triage.cache, ctad.knowledge, ctad.knowledge.splunk_rest, ctad.cti  # noqa
import splunklib.searchcommands, splunklib.client, splunklib.results, jinja2, fastjsonschema  # noqa: F401,E401
assert ctad.__file__.startswith(sys.argv[1]), ctad.__file__
for name in ("numpy", "orjson"):
    assert name not in sys.modules or not sys.modules[name].__file__.startswith(sys.argv[1]), name
PY

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
