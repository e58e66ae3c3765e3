"""How often reply trimming keeps exactly what the person wrote, on tests/fixtures/replies/.

    python bench/reply_trimming.py                 # the portal now, and before issue 12 item 8
    python bench/reply_trimming.py --before REV    # compare with the trimmer of another commit
    python bench/reply_trimming.py --list          # also name the cases each trimmer gets wrong
    /tmp/venv/bin/python bench/reply_trimming.py --reference   # open-source parsers, if installed there

Each case is NAME.txt (the plain-text body as received) and NAME.expected.txt (what the person
wrote). A case is *exact* when the kept text equals the expected text, compared with trailing
spaces off each line and blank lines off both ends. A case *loses words* when a word of the
expected text (a run of letters or digits, counted with repeats) is missing from the kept text:
that is the failure that must never happen, since the technician then never sees it.

``--before`` reads ``portal/mail/parse.py`` of that commit with ``git show`` and imports it from a
temporary file (as ``portal.mail._parse_before``, so its relative imports still resolve): the
work tree is not touched. ``--reference`` imports no part of the portal, so it runs in a
throwaway virtualenv holding talon, email-reply-parser, mail-parser-reply and quotequail
(never install those into the project's requirements).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fixtures" / "replies"
BEFORE = "1319ec0402ef8a25a8e0c5326fca45d1a70e3249"  # the last commit of parse.py before issue 12 item 8
WORD = re.compile(r"\w+")


def cases() -> list:
    """(name, body, expected) of every case, sorted by name."""
    found = []
    for path in sorted(CASES.glob("*.txt")):
        if path.name.endswith(".expected.txt"):
            continue
        expected = path.with_name(path.stem + ".expected.txt")
        found.append((path.stem, path.read_text(encoding="utf-8"), expected.read_text(encoding="utf-8")))
    return found


def normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def lost_words(kept: str, expected: str) -> list:
    missing = collections.Counter(WORD.findall(expected)) - collections.Counter(WORD.findall(kept))
    return sorted(missing.elements())


def score(trim, all_cases: list) -> dict:
    exact, lost, wrong = 0, 0, []
    started = time.perf_counter()
    for name, body, expected in all_cases:
        try:
            kept = trim(body)
        except Exception as exc:  # a reference parser that raises keeps nothing
            kept = f"[raised {type(exc).__name__}]"
        if normal(kept) == normal(expected):
            exact += 1
        else:
            missing = lost_words(kept, expected)
            lost += bool(missing)
            wrong.append((name, missing))
    return {"exact": exact, "lost": lost, "wrong": wrong, "seconds": time.perf_counter() - started}


def trim_before(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:portal/mail/parse.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    sys.path.insert(0, str(ROOT))
    import portal.mail  # noqa: F401  (the package the old module's relative imports resolve in)

    folder = tempfile.mkdtemp(prefix="parse_before_")
    path = pathlib.Path(folder) / "parse_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("portal.mail._parse_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.trim_quoted


def trim_now():
    sys.path.insert(0, str(ROOT))
    from portal.mail.parse import trim_quoted

    return trim_quoted


def references() -> dict:
    """The open-source parsers importable here, by name."""
    found = {}
    try:
        from talon import quotations

        found["talon 1.4.4 (mailgun), extract_from_plain"] = quotations.extract_from_plain
    except ImportError:
        pass
    try:
        from email_reply_parser import EmailReplyParser

        found["email-reply-parser 0.5.12 (zapier), parse_reply"] = EmailReplyParser.parse_reply
    except ImportError:
        pass
    try:
        from mailparser_reply import EmailReplyParser as MultiLanguage

        languages = ["en", "de", "fr", "es", "it", "nl", "pl", "cs", "da", "sv"]
        parser = MultiLanguage(languages=languages)
        found["mail-parser-reply 1.36, parse_reply, languages " + "/".join(languages)] = (
            lambda text: parser.parse_reply(text=text))
    except ImportError:
        pass
    try:
        import quotequail

        found["quotequail 0.5.4, quote (the shown part)"] = (
            lambda text: "".join(part for shown, part in quotequail.quote(text) if shown))
    except ImportError:
        pass
    return found


def report(label: str, result: dict, total: int, show: bool) -> None:
    print(f"{label}: exact {result['exact']}/{total} = {100 * result['exact'] / total:.1f} %, "
          f"words of the reply lost in {result['lost']}/{total} = {100 * result['lost'] / total:.1f} %, "
          f"{1000 * result['seconds'] / total:.2f} ms a case")
    if show:
        for name, missing in result["wrong"]:
            print(f"    {name}" + (f"   LOST: {' '.join(missing)[:100]}" if missing else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default=BEFORE, help="the commit whose trimmer is 'before' (default: %(default)s)")
    parser.add_argument("--reference", action="store_true", help="measure the open-source parsers importable here")
    parser.add_argument("--list", action="store_true", help="name the cases each trimmer gets wrong")
    args = parser.parse_args()
    all_cases = cases()
    cpuinfo = pathlib.Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    print(f"{len(all_cases)} cases in {CASES.relative_to(ROOT)}; Python {platform.python_version()}, {cpu}, "
          f"{os.cpu_count()} cores")
    if args.reference:
        for label, trim in references().items():
            report(label, score(trim, all_cases), len(all_cases), args.list)
        return
    report(f"before ({args.before[:10]})", score(trim_before(args.before), all_cases), len(all_cases), args.list)
    report("now", score(trim_now(), all_cases), len(all_cases), args.list)


if __name__ == "__main__":
    main()
