"""Time rendering a post with several code blocks, as a save does.

    .venv/bin/python bench/render_cost.py [--runs N]

Prints the time to render the same post with its fences naming their
languages (coloured by Pygments) and without (plain), and the HTML's size.
Readers never pay it: the HTML is rendered once, at save, and stored.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homepage.core import markdown  # noqa: E402

PYTHON = '''\
def fetch(url: str, *, retries: int = 3) -> bytes:
    """Fetch ``url``, trying again on a timeout."""
    for attempt in range(retries):
        try:
            with urlopen(url, timeout=10) as response:
                return response.read()
        except TimeoutError:
            time.sleep(2 ** attempt)  # back off
    raise RuntimeError(f"gave up on {url!r}")
'''
JAVASCRIPT = """\
export async function load(list) {
  const items = await fetch("/api/items").then((r) => r.json());
  for (const item of items) {
    const li = document.createElement("li");
    li.textContent = `${item.name}: ${item.count}`;
    list.append(li);
  }
}
"""
SQL = """\
SELECT p.id, p.title, count(t.tag_id) AS tags
  FROM posts AS p LEFT JOIN post_tags AS t ON t.post_id = p.id
 WHERE p.status = 'published' AND p.published_at < :now
 GROUP BY p.id ORDER BY p.published_at DESC LIMIT 20;
"""
SHELL = """\
for f in *.jpg; do
  convert "$f" -resize 960x "small/${f%.jpg}.webp" && echo "done: $f"
done
"""


def post(languages: bool) -> str:
    """Return a post of prose and eight code blocks, with or without languages."""
    blocks = [("python", PYTHON), ("javascript", JAVASCRIPT), ("sql", SQL),
              ("bash", SHELL)] * 2  # fmt: skip
    parts = [
        "# Notes from a migration\n\nSome *prose* and a [link](https://example.org)."
    ]
    for language, code in blocks:
        fence = language if languages else ""
        parts.append(f"Then this step:\n\n```{fence}\n{code}```")
    return "\n\n".join(parts)


def main() -> None:
    """Render each variant many times and print the median."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    for name, languages in (("coloured", True), ("plain", False)):
        text = post(languages)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            html = markdown.render(text, top=markdown.BODY_TOP)
            times.append(time.perf_counter() - start)
        print(
            f"{name:9} {len(text):>6,} bytes of Markdown -> {len(html):>6,} of HTML:"
            f" {statistics.median(times) * 1000:7.2f} ms (median of {args.runs})"
        )


if __name__ == "__main__":
    main()
