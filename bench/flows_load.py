"""Benchmark: load + lint of a large flow library, its memory, and the cost of one advance().

    python bench/flows_load.py [--library clean|warnings] [--flows 1000] [--steps 40] [--calls 10000]
                               [--repeat 3] [--cli 5] [--profile] [--write-to DIR]

Writes N generated flows of about S steps each (questions with 2-4 options, info, form, a branch on
client.os, resolved and escalate steps, Markdown text of about 200 characters) as YAML files into a
temporary directory. ``--library warnings`` makes a library where most steps earn a lint warning
(single-option questions, unreachable steps, branch cases no answer can meet) and none an error.
Then it measures:

* load + lint of every file in process: ``check_file`` for each file, then ``check_set``;
* ``flask --app app flows lint DIR`` as a subprocess, from start to exit (``--cli N`` runs; 0 skips
  it), and ``python -c "import app"`` alone, the part of that which is the app starting;
* ``Registry(directory)`` end to end (what the app does at start and on reload);
* peak memory of a Registry load: tracemalloc's peak, and the process's resident set
  (``ru_maxrss``) before and after;
* one ``engine.advance()`` on a question step: median and p95 over single timed calls.

It prints a Markdown table with the figures, the machine and the command. Targets (from issue 7):
load + lint of 1,000 flows of 40 steps, clean or with warnings, under 1 s in process and under 2 s
as ``flask flows lint`` on a 2-core machine; advance() under 50 us. ``--write-to DIR`` only writes
the library (for profiling with py-spy or timing with hyperfine).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from portal.flows import engine  # noqa: E402
from portal.flows.lint import check_file, check_library, check_set, check_text, flow_files, paused_gc  # noqa: E402
from portal.flows.registry import Registry  # noqa: E402

LOAD_TARGET_S = 1.0  # for 1,000 flows, in process
CLI_TARGET_S = 2.0  # the same as `flask flows lint`, from start to exit
ADVANCE_TARGET_US = 50.0

SENTENCES = [
    "Open **Settings > Network & Internet** and check that Wi-Fi is switched on.",
    "Restart the device: hold the power button for ten seconds, then switch it on again.",
    "Run `ipconfig /all` in a terminal and look for an address that starts with `169.254`.",
    "Make sure the cable clicks into place at both ends; a loose plug is the most common cause.",
    "If the light on the router is red or orange, wait two minutes: it may be updating.",
    "Sign out of the VPN client, close it from the tray, and open it again.",
    "Check the [service status page](https://status.example.com) for a known outage.",
    "Your password expires every 90 days; you can change it at https://id.example.com.",
    "- Unplug the printer\n- Wait 30 seconds\n- Plug it back in and wait until it says *Ready*",
    "Note the exact error message, including any code such as `0x80070005`.",
]
TOPICS = ["Wi-Fi", "VPN", "printer", "Outlook", "Teams", "password", "laptop dock", "monitor", "OneDrive",
          "keyboard", "headset", "phone", "shared drive", "MFA app", "browser"]
ANSWERS = ["Yes", "No", "I'm not sure", "It shows an error", "Only sometimes", "It worked before today",
           "Nothing happens", "The light is red", "On Wi-Fi", "On a cable", "At home", "In the office"]
OSES = ["Windows", "macOS", "Linux", "ChromeOS", "iOS", "Android"]


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def markdown(rng: random.Random) -> str:
    """About 200 characters of step text."""
    out = []
    while sum(len(s) for s in out) < 170:
        out.append(rng.choice(SENTENCES))
    return "\n\n".join(out)


def block(text: str, indent: int) -> str:
    pad = " " * indent
    return "|\n" + "\n".join(pad + line if line else "" for line in text.splitlines()) + "\n"


def generate_flow(rng: random.Random, index: int, steps: int, warnings: bool = False) -> str:
    """One realistic flow file of about `steps` steps; every step can reach an end.

    With `warnings`, most steps earn a lint warning (never an error): every question has a single
    option, each branch has a case on an answer no option gives, and steps nothing leads to are
    left unreachable.
    """
    topic = rng.choice(TOPICS)
    n = max(steps, 4)
    kinds = rng.choices(["question", "info", "form", "branch", "resolved", "escalate"],
                        weights=[45, 20, 6, 7, 11, 11], k=n - 2) + ["resolved", "escalate"]
    kinds[0] = "question"
    ids = [f"{k}-{i}" for i, k in enumerate(kinds)]
    lines = [
        f"id: {topic.lower().replace(' ', '-')}-{index}",
        f"title: {q(f'{topic} problem number {index}')}",
        f"summary: {q(f'When the {topic} does not work as it should.')}",
        f"category: {q(topic.title())}",
        f"keywords: [{q(topic)}, not working, error]",
        "ticket:",
        f"  queue: {rng.choice(['general', 'network', 'hardware', 'accounts'])}",
        f"  priority: {rng.choice(['low', 'normal', 'high'])}",
        f"start: {ids[0]}",
        "steps:",
    ]
    fields_seen = 0
    for i, (sid, kind) in enumerate(zip(ids, kinds, strict=True)):
        ahead = ids[i + 1:i + 8] or ids[-2:]
        lines.append(f"  {sid}:")
        lines.append(f"    type: {kind}")
        if kind in ("question", "info", "form", "resolved", "escalate") and rng.random() < 0.5:
            lines.append(f"    title: {q(f'Step {i + 1}: check the {topic}')}")
        if kind != "branch":
            lines.append("    text: " + block(markdown(rng), 6).rstrip("\n"))
        if kind == "question":
            lines.append("    options:")
            for j, label in enumerate(rng.sample(ANSWERS, 1 if warnings else rng.randint(2, 4))):
                lines.append(f"      - label: {q(label)}")
                if rng.random() < 0.2:
                    lines.append(f"        value: {q(label.lower().replace(' ', '-'))}")
                lines.append(f"        next: {ahead[0] if j == 0 else rng.choice(ahead)}")
        elif kind == "info":
            if rng.random() < 0.3:
                lines.append("    links:")
                lines.append(f"      - {{label: {q(topic + ' guide')}, url: \"https://kb.example.com/{i}\"}}")
            lines.append(f"    next: {ahead[0]}")
        elif kind == "form":
            lines.append("    fields:")
            for kind_ in rng.sample(["text", "textarea", "choice", "number", "email", "yesno"], rng.randint(2, 4)):
                fields_seen += 1
                lines.append(f"      - name: field_{fields_seen}")
                lines.append(f"        label: {q(f'Your {kind_} answer')}")
                lines.append(f"        kind: {kind_}")
                if kind_ == "choice":
                    lines.append("        choices: [Ground floor, First floor, Second floor]")
                if rng.random() < 0.5:
                    lines.append("        required: true")
            lines.append(f"    next: {ahead[0]}")
        elif kind == "branch":
            lines.append("    cases:")
            lines.append("      - when: {client.os: Windows}")
            lines.append(f"        next: {rng.choice(ahead)}")
            if warnings and ids[0] != sid:
                lines.append(f"      - when: {{{ids[0]}: {q('No answer gives this')}}}")
                lines.append(f"        next: {ahead[0]}")
            lines.append(f"      - when: {{client.os: [{', '.join(rng.sample(OSES[1:], 2))}]}}")
            lines.append(f"        next: {rng.choice(ahead)}")
            lines.append(f"    default: {ahead[0]}")
        elif kind == "escalate":
            lines.append(f"    summary: {q(f'{topic}: still broken after step {i + 1}')}")
            lines.append(f"    priority: {rng.choice(['normal', 'high', 'urgent'])}")
    if warnings:
        return "\n".join(lines) + "\n"
    return _link_unreachable(lines, ids, kinds)


def _link_unreachable(lines: list, ids: list, kinds: list) -> str:
    """Give every step a way in: a shipped library passes `lint --strict`, so the bench's should too."""
    for _ in range(len(ids)):
        text = "\n".join(lines) + "\n"
        missing = [f.message.split("'")[1] for f in check_text(text).findings if f.rule == "unreachable-step"]
        if not missing:
            return text
        for sid in missing:
            index = ids.index(sid)
            before = [ids[i] for i in range(index) if kinds[i] == "question"]
            at = lines.index(f"  {before[-1]}:")
            options = lines.index("    options:", at)
            lines[options + 1:options + 1] = [f"      - label: {q('Something else: ' + sid)}", f"        next: {sid}"]
    return "\n".join(lines) + "\n"


def write_library(directory: Path, flows: int, steps: int, seed: int, warnings: bool = False) -> list:
    rng = random.Random(seed)
    paths = []
    for index in range(flows):
        path = directory / f"flow-{index:05d}.yaml"
        path.write_text(generate_flow(rng, index, steps, warnings), encoding="utf-8")
        paths.append(path)
    return paths


def load_and_lint(directory: Path) -> list:
    """What `flask flows lint` does: check each file (GC paused; a large library on every CPU), then the set."""
    return check_library(flow_files([directory]))


def load_and_lint_one_process(directory: Path) -> list:
    """What the registry does (it keeps the flows, so it checks every file itself), for comparison."""
    with paused_gc():
        checked = [check_file(p) for p in flow_files([directory])]
    check_set(checked)
    return checked


def load_and_lint_gc_running(directory: Path) -> list:
    """The same with the cyclic GC running throughout, for comparison."""
    checked = [check_file(p) for p in flow_files([directory])]
    check_set(checked)
    return checked


def compose_only(directory: Path) -> int:
    """The floor under any lint that points at lines: libyaml (C) composing each file's node tree,
    which carries the positions, and nothing else: no checks, no model. Returns the nodes' count."""
    count = 0
    for path in flow_files([directory]):
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        count += len(node.value)
    return count


def time_cli(directory: Path, runs: int) -> dict:
    """Wall-clock seconds of `runs` runs of each CLI form, from start to exit, output to a pipe.

    ``lint DIR``: the app starts with the shipped FLOWS_DIR, then lints DIR. ``FLOWS_DIR=DIR lint``:
    the app loads DIR at start and lint reports what it found. ``import app``: the app starting,
    for comparison. Bytecode is cached (in a directory of its own, so the tree stays clean) and
    each form runs once before it is timed, as on a developer's machine where .pyc files exist.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "flows-bench-pycache")
    forms = {
        "lint DIR": ([sys.executable, "-m", "flask", "--app", "app", "flows", "lint", str(directory)], {}),
        "FLOWS_DIR=DIR lint": ([sys.executable, "-m", "flask", "--app", "app", "flows", "lint"],
                               {"FLOWS_DIR": str(directory)}),
        "import app": ([sys.executable, "-c", "import app"], {}),
    }
    times: dict = {name: ([], []) for name in forms}  # name -> (wall seconds, CPU seconds of the child)
    for run in range(runs + 1):
        for name, (cmd, extra) in forms.items():
            start, cpu = time.perf_counter(), _children_cpu()
            done = subprocess.run(cmd, cwd=ROOT, env={**env, **extra}, capture_output=True, text=True)
            if run:  # the first run of each form warms the bytecode cache
                times[name][0].append(time.perf_counter() - start)
                times[name][1].append(_children_cpu() - cpu)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return times


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn, repeat: int) -> tuple:
    """(wall-clock seconds, CPU seconds) of each of `repeat` runs; CPU time shows less of a busy machine."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def gc_share(fn) -> tuple:
    """(wall seconds, seconds spent in the cyclic garbage collector, full collections) of one run.

    cProfile cannot show this: a collection is charged to whatever function happened to allocate.
    """
    spent = [0.0, 0.0, 0]  # started at, total, full (generation 2) collections

    def callback(phase, info):
        if phase == "start":
            spent[0] = time.perf_counter()
        else:
            spent[1] += time.perf_counter() - spent[0]
            spent[2] += info["generation"] == 2

    gc.collect()
    gc.callbacks.append(callback)
    try:
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
    finally:
        gc.callbacks.remove(callback)
    return wall, spent[1], spent[2]


def without_gc(fn):
    """`fn` with the cyclic garbage collector paused, the way a loader could run it."""
    gc.collect()
    gc.disable()
    try:
        return fn()
    finally:
        gc.enable()


def maxrss_mib() -> float:
    # Linux reports KiB, macOS bytes.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def hwm_mib() -> float | None:
    """Linux's VmHWM (peak resident set of this process image), or None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure_memory(directory: Path) -> dict:
    """Memory of one Registry load, in a fresh process started before the parent loads anything.

    ru_maxrss is read before and after a plain load (it is the process's high-water mark; Linux
    carries the parent's over a fork, which is why the child starts early; VmHWM does not);
    tracemalloc's peak comes from a second load once the first registry is dropped (tracing
    inflates the resident set, so it goes last).
    """
    before, hwm_before = maxrss_mib(), hwm_mib()
    registry = Registry(directory)
    after, hwm_after = maxrss_mib(), hwm_mib()
    del registry
    gc.collect()
    tracemalloc.start()
    registry = Registry(directory)
    retained, peak = tracemalloc.get_traced_memory()  # while the registry is alive
    tracemalloc.stop()
    return {"rss_before": before, "rss_after": after, "hwm_before": hwm_before, "hwm_after": hwm_after,
            "peak": peak, "retained": retained, "flows": len(registry.flows)}


def question_walk(registry: Registry):
    """(flow, state, answer) at a question step whose answer leads to another question step."""
    for flow in registry.all():
        state = engine.start(flow)
        step = flow.steps[state.step]
        for option in step.options:
            moved = engine.advance(flow, state, option.label)
            if moved.status == engine.ACTIVE and flow.steps[moved.step].type == "question":
                return flow, state, option.label
    raise SystemExit("no flow starts with a question leading to a question")


def time_advance(flow, state, answer, calls: int) -> list:
    timer = timeit.Timer(lambda: engine.advance(flow, state, answer))
    timer.timeit(number=200)  # warm up
    return timer.repeat(repeat=calls, number=1)


def percentile(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1000, help="number of flow files (default 1000)")
    parser.add_argument("--steps", type=int, default=40, help="steps per flow, about (default 40)")
    parser.add_argument("--calls", type=int, default=10_000, help="advance() calls timed (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each load measure (default 3)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--library", choices=["clean", "warnings"], default="clean",
                        help="clean files, or files where most steps have a warning (default clean)")
    parser.add_argument("--cli", type=int, default=5, help="runs of `flask flows lint DIR` timed (default 5; 0 skips)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one load + lint")
    parser.add_argument("--write-to", help="only write the library into this directory, then exit")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # the child process of measure_memory
    args = parser.parse_args(argv)
    if args.memory_of:
        print(json.dumps(measure_memory(Path(args.memory_of))))
        return 0
    warnings = args.library == "warnings"
    if args.write_to:
        directory = Path(args.write_to)
        directory.mkdir(parents=True, exist_ok=True)
        write_library(directory, args.flows, args.steps, args.seed, warnings)
        return 0
    command = " ".join(["python bench/flows_load.py", *(argv if argv is not None else sys.argv[1:])])
    load_at_start = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="flows-bench-") as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        paths = write_library(directory, args.flows, args.steps, args.seed, warnings)
        generated_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in paths)
        lines = sum(p.read_text(encoding="utf-8").count("\n") for p in paths)
        child = subprocess.run([sys.executable, __file__, "--memory-of", str(directory)], check=True,
                               capture_output=True, text=True)
        memory = json.loads(child.stdout)
        assert memory["flows"] == args.flows, memory

        checked = load_and_lint_one_process(directory)  # also warms the page cache; keeps the flows to count
        errors = [str(f) for c in checked for f in c.findings if f.severity == "error"]
        if errors:
            print("\n".join(errors[:20]), file=sys.stderr)
            raise SystemExit(f"the generated library has {len(errors)} lint errors")
        steps_total = sum(len(c.flow.steps) for c in checked)
        warned = sum(len(c.findings) for c in checked)
        del checked

        lint_times, lint_cpu = timed(lambda: load_and_lint(directory), args.repeat)
        one_times, one_cpu = timed(lambda: load_and_lint_one_process(directory), args.repeat)
        registry_times, registry_cpu = timed(lambda: Registry(directory), args.repeat)
        compose_times, compose_cpu = timed(lambda: without_gc(lambda: compose_only(directory)), args.repeat)
        gc_wall, gc_spent, gc_full = gc_share(lambda: load_and_lint_gc_running(directory))
        nogc_times, nogc_cpu = timed(lambda: load_and_lint_gc_running(directory), args.repeat)
        cli = time_cli(directory, args.cli) if args.cli else {}
        registry = Registry(directory)

        flow, state, answer = question_walk(registry)
        moved = engine.advance(flow, state, answer)
        samples = time_advance(flow, state, answer, args.calls)

        profile_text = ""
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            load_and_lint(directory)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).strip_dirs()
            stats.sort_stats("tottime").print_stats(20)
            stats.sort_stats("cumulative").print_stats(25)
            profile_text = out.getvalue()

    us = [s * 1e6 for s in samples]
    lint_best, lint_median = min(lint_times), statistics.median(lint_times)
    scaled_target = LOAD_TARGET_S * args.flows / 1000
    ok = "yes" if lint_median <= scaled_target else "**no**"
    rows = [
        ("library", f"{args.flows} files, {steps_total} steps ({steps_total / args.flows:.1f}/flow), "
                    f"{size / 1e6:.2f} MB, {lines} lines; {warned} warnings ({warned / args.flows:.1f}/flow); "
                    f"generated in {generated_s:.2f} s", ""),
        ("load + lint, as `flask flows lint` does it (`check_library`: the files shared out between this process "
         f"and forked helpers, {len(os.sched_getaffinity(0))} CPUs; GC paused; then check_set)",
         f"median {lint_median:.2f} s, best {lint_best:.2f} s of {args.repeat} "
         f"({lint_median / args.flows * 1e3:.2f} ms/file); CPU of this process median "
         f"{statistics.median(lint_cpu):.2f} s", f"< {scaled_target:g} s: {ok}"),
        ("for comparison: the same in one process (as the registry loads, keeping every flow)",
         f"median {statistics.median(one_times):.2f} s, best {min(one_times):.2f} s of {args.repeat}; "
         f"CPU median {statistics.median(one_cpu):.2f} s", ""),
        *[(f"`{name.replace('lint', 'flask --app app flows lint')}`, start to exit" if name != "import app"
           else "... of which the app starting (`python -c 'import app'`)",
           f"median {statistics.median(wall):.2f} s, best {min(wall):.2f} s of {len(wall)}; "
           f"CPU median {statistics.median(cpu):.2f} s",
           "" if name == "import app" else f"< {CLI_TARGET_S * args.flows / 1000:g} s: "
           f"{'yes' if statistics.median(wall) <= CLI_TARGET_S * args.flows / 1000 else '**no**'}")
          for name, (wall, cpu) in cli.items()],
        ("floor: reading the files and libyaml composing their node trees (positions), nothing else",
         f"median {statistics.median(compose_times):.2f} s, best {min(compose_times):.2f} s of {args.repeat}; "
         f"CPU median {statistics.median(compose_cpu):.2f} s", ""),
        ("for comparison: load + lint in process with the GC running",
         f"median {statistics.median(nogc_times):.2f} s, best {min(nogc_times):.2f} s of {args.repeat}; "
         f"CPU median {statistics.median(nogc_cpu):.2f} s", ""),
        ("... of which in the cyclic garbage collector", f"{gc_spent:.2f} s of {gc_wall:.2f} s "
                                                         f"({gc_spent / gc_wall:.0%}), {gc_full} full collections", ""),
        ("Registry(dir) end to end", f"median {statistics.median(registry_times):.2f} s, "
                                     f"best {min(registry_times):.2f} s of {args.repeat}; "
                                     f"CPU median {statistics.median(registry_cpu):.2f} s", ""),
        ("memory of one Registry load, tracemalloc", f"peak {memory['peak'] / 2**20:.0f} MiB, "
                                                     f"still held by the registry {memory['retained'] / 2**20:.0f} MiB",
         ""),
        ("memory, resident set of a fresh process (ru_maxrss)",
         f"{memory['rss_before']:.0f} MiB after imports, {memory['rss_after']:.0f} MiB after the load"
         + (f" (VmHWM {memory['hwm_before']:.0f} -> {memory['hwm_after']:.0f} MiB)" if memory["hwm_after"] else ""),
         ""),
        (f"engine.advance() on a question step ({args.calls} calls)",
         f"median {statistics.median(us):.1f} us, p95 {percentile(us, 95):.1f} us, "
         f"min {min(us):.1f} us", f"< {ADVANCE_TARGET_US:g} us: "
                                   f"{'yes' if statistics.median(us) <= ADVANCE_TARGET_US else '**no**'}"),
    ]
    libyaml = "libyaml " + yaml.__with_libyaml__ * "yes" + (not yaml.__with_libyaml__) * "NO (pure Python)"
    print(f"Command: `{command}`\n")
    print(f"Machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"Python {platform.python_version()} ({platform.python_implementation()}); "
          f"PyYAML {yaml.__version__}, {libyaml}; load average {load_at_start:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at the end\n")
    print("| measure | figure | target |")
    print("| --- | --- | --- |")
    for name, figure, target in rows:
        print(f"| {name} | {figure} | {target} |")
    print(f"\nadvance() walked {state.flow}/{state.step} -> {moved.step} ({moved.status}) with {answer!r}.")
    if profile_text:
        print("\ncProfile of one load + lint:\n")
        print(profile_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
