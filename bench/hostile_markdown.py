"""Render the most expensive Markdown the post form accepts, and time it.

Each case sits just inside the form's limits (MAX_BODY_BYTES and the bounds in
homepage/markdown.py). Prints the seconds each takes to render, and the ratio to
the largest ordinary post the form accepts (prose with links and emphasis),
measured in the same run:

    .venv/bin/python bench/hostile_markdown.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homepage.config import Config  # noqa: E402
from homepage.core import markdown  # noqa: E402

LIMIT = Config.MAX_BODY_BYTES


def marks_in(text: str) -> int:
    """Count the characters that the markup budget counts."""
    return sum(text.count(char) for char in markdown.MARKUP_CHARACTERS)


def fill(block: str) -> str:
    """Repeat ``block`` between blank lines as far as every limit allows."""
    block = block[: markdown.MAX_BLOCK].strip("\n")
    block = "\n".join(block.split("\n")[: markdown.MAX_LINES - 2])
    parts: list[str] = []
    size = lines = marks = scan = dollars = math = 0
    while True:
        size += len(block.encode()) + 2
        lines += block.count("\n") + 2
        marks += marks_in(block)
        scan += block.count("](") * len(block)
        dollars += block.count("$")
        math += len(block) if "$" in block else 0
        if (
            size > LIMIT
            or lines > markdown.MAX_LINES
            or marks > markdown.MAX_MARKUP
            or scan > markdown.MAX_LINK_SCAN
            or dollars > markdown.MAX_DOLLARS
            or math > markdown.MAX_MATH_TEXT
        ):
            return "\n\n".join(parts)
        parts.append(block)


def repeat(unit: str, filler: str = "") -> str:
    """Fill blocks with ``unit`` (and ``filler`` after each) as far as allowed."""
    return fill((unit + filler) * (markdown.MAX_BLOCK // len(unit + filler)))


PROSE = (
    "Lorem ipsum dolor sit amet, *consectetur* adipiscing elit, "
    "[a link](https://example.org) sed do `code` eiusmod tempor. " * 6
)
CASES = {
    "prose with links (the baseline)": fill(PROSE),
    "prose without markup": fill(
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12
    ),
    "![ repeated": repeat("!["),
    "[ repeated": repeat("["),
    "[ with text between": repeat("[", "a"),
    "![ with words between": repeat("![", "word "),
    "*a repeated": repeat("*a"),
    "_a_ nested": repeat("_a "),
    "` repeated": repeat("`a"),
    "< repeated": repeat("<a"),
    "&# repeated": repeat("&#"),
    "\\ escapes": repeat("a\\\n"),
    "[](  unclosed": repeat("[](", "x" * 57),
    "> nested quotes, lazy lines": fill(
        "> " * markdown.MAX_NESTING + "x\n" * markdown.MAX_LINES
    ),
    "> - nested quotes and lists": fill(
        ("> - " * (markdown.MAX_NESTING // 2) + "x\n") * 450
    ),
    "- - nested list items": fill(("- " * markdown.MAX_NESTING + "x\n") * 1000),
    "- nested lists": fill("".join("  " * (d % 60) + "- item\n" for d in range(300))),
    "one long word": fill("a" * markdown.MAX_BLOCK),
    # The extensions: math (each formula is a call to latex2mathml), code
    # coloured by Pygments, heading ids, a table of contents, footnotes.
    "$a$ formulas, as many as allowed": fill("$a$ " * 50),
    "$ repeated": fill("$a" * 1000),
    "$$ repeated": fill("$$" * 500),
    "formulas of 400 characters": fill(("$" + "x+" * 199 + "x$ ") * 10),
    "longest display formulas": fill(
        "$$\n" + "x+" * (markdown.MAX_FORMULA // 2 - 2) + "x\n$$"
    ),
    "{ nested in formulas": fill(
        "$" + "{" * markdown.MAX_FORMULA_DEPTH + "x" + "}" * 50 + "$ "
    ),
    "\\frac nested in formulas": repeat(
        "$" + "\\frac{1}{" * markdown.MAX_FORMULA_DEPTH + "x" + "}" * 50 + "$ "
    ),
    "one fence of Python": "```python\n"
    + "def f(x):  # a comment\n    return [x * 2, 'text']\n\n"
    * (markdown.MAX_LINES // 3 - 2)
    + "```",
    "one fence of long Python lines": "```python\n"
    + ("x = [a * 2, 'text', f(y)]  # " + "w " * 170 + "\n\n")
    * (markdown.MAX_LINES // 2 - 2)
    + "```",
    "[TOC] and alike headings": "[TOC]\n\n"
    + "\n\n".join(["# a"] * (markdown.MAX_LINES // 2 - 2)),
    "footnote references": fill("[^1]" * 2000) + "\n\n[^1]: note",
}


def main() -> None:
    """Time every case and print it with its ratio to plain prose."""
    baseline = None
    print(
        f"{'case':32} {'bytes':>9} {'lines':>6} {'marks':>7} {'seconds':>8}"
        f" {'ratio':>7}"
    )
    for name, text in CASES.items():
        problem = markdown.too_costly(text)
        if problem:
            raise SystemExit(f"{name}: the form would refuse it: {problem}")
        start = time.perf_counter()
        markdown.render(text)
        seconds = time.perf_counter() - start
        baseline = baseline or seconds
        print(
            f"{name:32} {len(text.encode()):>9,} {text.count(chr(10)) + 1:>6,}"
            f" {marks_in(text):>7,} {seconds:>8.3f} {seconds / baseline:>6.1f}×"
        )


if __name__ == "__main__":
    main()
