#!/usr/bin/env bash
# Mutation testing of one module with mutmut 3; prints what became of its mutants and the kill rate.
#
#   scripts/mutation.sh MODULE.py [TEST_PATH ...]
#   scripts/mutation.sh portal/flows/engine.py tests/test_flows_engine.py tests/test_engine_pinned.py
#
# TEST_PATHs are handed to pytest as they are (files, directories, `file::test`); default `tests/`.
# Only MODULE is mutated. The run happens in a copy of the working tree (git's tracked and new,
# unignored files) under mutants/<module>/, with a [tool.mutmut] section written into the copy's
# pyproject.toml, so each module gets its own tests and edits made meanwhile do not leak in.
# Afterwards `cd mutants/<module> && mutmut show NAME` (or `mutmut browse`) explains a survivor.
#
# Environment:
#   MUTATION_CHILDREN    parallel workers (default 2: this machine's 2 cores are shared)
#   MUTATION_PYTEST_ARGS extra pytest arguments, e.g. "--noconftest" for tests that need no app
#   MUTATION_EQUIVALENT  file of mutant names (one a line, `#` comments) judged unable to change
#                        behaviour, set aside in the second kill rate (default
#                        scripts/mutation-equivalent.txt; only the names of MODULE count)
#   MUTATION_KEEP=1      reuse the previous copy and results (only new or changed mutants run)
# Needs mutmut 3 in the Python that runs the tests: `pip install mutmut==3.8.1 click==8.4.2` (mutmut
# alone pulls click 8.5, whose deprecations the mail tests turn into errors).
set -euo pipefail

if [[ $# -lt 1 || ! -f $1 || $1 != *.py ]]; then
    echo "usage: $0 MODULE.py [TEST_PATH ...]" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
module=$1
shift
tests=("$@")
[[ ${#tests[@]} -gt 0 ]] || tests=(tests/)
slug=$(tr / . <<<"${module%.py}")
work=mutants/$slug
equivalent=${MUTATION_EQUIVALENT:-scripts/mutation-equivalent.txt}
[[ ! -f $equivalent ]] || equivalent=$(realpath "$equivalent")
command -v mutmut >/dev/null || { echo "mutmut is not installed: pip install mutmut==3.8.1" >&2; exit 2; }

if [[ ${MUTATION_KEEP:-} != 1 ]]; then
    rm -rf "$work"
fi
mkdir -p "$work"
git ls-files -z --cached --others --exclude-standard -- . ':!:mutants' |
    rsync -a --from0 --files-from=- --ignore-missing-args ./ "$work/"

# The module's top directory is copied for imports; only the module itself is mutated.
top=${module%%/*}
[[ $top == "$module" ]] || top=$top/
python - "$work/pyproject.toml" "$top" "$module" "${MUTATION_PYTEST_ARGS:-}" "${tests[@]}" <<'EOF'
import json
import re
import shlex
import sys

path, top, module, extra, *tests = sys.argv[1:]
text = open(path, encoding="utf-8").read()
text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)  # a section of our own replaces any
settings = {
    "source_paths": [top],
    "only_mutate": [module],
    "pytest_add_cli_args_test_selection": tests,
    "pytest_add_cli_args": ["-p", "no:cacheprovider", *shlex.split(extra)],
    "use_git_change_detection": False,  # the copy sits inside the repository's git tree
}
lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
open(path, "w", encoding="utf-8").write(text.rstrip("\n") + "\n\n[tool.mutmut]\n" + "\n".join(lines) + "\n")
EOF

cd "$work"
start=$(date +%s)
mutmut run --max-children "${MUTATION_CHILDREN:-2}" >mutmut-run.log 2>&1 || {
    tail -40 mutmut-run.log >&2
    echo "mutmut run failed; the whole log is $work/mutmut-run.log" >&2
    exit 1
}
seconds=$(($(date +%s) - start))
mutmut results --all true >mutmut-results.txt

python - "$module" "$slug" "$seconds" "$equivalent" <<'EOF'
import collections
import os
import sys

module, slug, seconds, equivalent_path = sys.argv[1:]
status = {}
for line in open("mutmut-results.txt", encoding="utf-8"):
    name, sep, verdict = line.strip().rpartition(": ")
    if sep:
        status[name] = verdict
equivalent = set()
if os.path.isfile(equivalent_path):
    for line in open(equivalent_path, encoding="utf-8"):
        name = line.split("#", 1)[0].strip()
        if name.startswith(slug + "."):
            equivalent.add(name)
unknown = sorted(equivalent - status.keys())
counts = collections.Counter(status.values())
total = len(status)
killed = counts["killed"] + counts["timeout"]
print(f"module    {module}  ({total} mutants, {seconds} s)")
for verdict, count in sorted(counts.items(), key=lambda item: -item[1]):
    print(f"  {verdict:<30} {count}")
print(f"kill rate {killed / total:.1%}  (killed + timeout) / all mutants" if total else "no mutants")
survivors = sorted(name for name, verdict in status.items() if verdict not in ("killed", "timeout"))
judged = [name for name in survivors if name in equivalent]
if equivalent and total > len(judged):
    print(f"kill rate {killed / (total - len(judged)):.1%}  with {len(judged)} equivalent mutants set aside")
killed_equivalent = sorted(name for name in equivalent if status.get(name) in ("killed", "timeout"))
if killed_equivalent:
    print("listed as equivalent but killed (take them off the list):", *killed_equivalent, sep="\n  ")
if unknown:
    print("listed as equivalent but unknown (the module changed?):", *unknown, sep="\n  ")
rest = [name for name in survivors if name not in equivalent]
if rest:
    print(f"not killed ({len(rest)}):", *(f"{name}: {status[name]}" for name in rest), sep="\n  ")
EOF
