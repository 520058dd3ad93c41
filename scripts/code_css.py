"""Write the code highlighting rules of homepage.core.highlight into static/style.css.

Run it after changing the Pygments styles or upgrading Pygments:
    .venv/bin/python scripts/code_css.py
"""

from __future__ import annotations

from pathlib import Path

from homepage.core.highlight import CSS_END, CSS_START, stylesheet

STYLE = Path(__file__).resolve().parent.parent / "static" / "style.css"


def main() -> None:
    """Replace the generated block of style.css, or append it."""
    css = STYLE.read_text()
    start = css.find(CSS_START)
    if start == -1:
        css = css.rstrip("\n") + "\n\n" + stylesheet()
    else:
        end = css.index(CSS_END, start) + len(CSS_END) + 1
        css = css[:start] + stylesheet() + css[end:]
    STYLE.write_text(css)


if __name__ == "__main__":
    main()
