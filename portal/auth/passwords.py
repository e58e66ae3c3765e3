"""The password policy: long enough, not common, not one character over and over, not the address itself.

Every place a password is chosen (sign-up, an admin adding an account, ``flask users create``)
asks :func:`password_problem`; the account services refuse what it refuses, so no path skips it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 200
MIN_DISTINCT = 4  # "aaaaaaaaaa", "ababababab", "1212121212" are refused
#: A common password followed by digits or punctuation ("password2024!") is as weak as the password.
_SUFFIX = re.compile(r"[\W\d_]+$")
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt")


@cache
def common_passwords() -> frozenset:
    """The shipped list of common passwords, lower-cased (read once per process)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why `password` is refused, said to the person choosing it; None when it is fine."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters for the password."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters for the password."
    if len(set(password)) < MIN_DISTINCT:
        return ("Use more different characters in the password: a few words are easier to remember and much "
                "harder to guess.")
    lowered = password.lower()
    base = _SUFFIX.sub("", lowered)
    common = common_passwords()
    if lowered in common or lowered.replace(" ", "") in common or (len(base) >= 4 and base in common):
        return "This password is one of the most common ones, so it is guessed first. Choose another."
    address = (email or "").strip().lower()
    local = address.split("@", 1)[0]
    if address and (lowered in (address, local) or base in (address, local)):
        return "Don't use your email address as the password."
    if name and lowered.replace(" ", "") == name.strip().lower().replace(" ", ""):
        return "Don't use your name as the password."
    return None
