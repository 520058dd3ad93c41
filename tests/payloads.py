"""Hostile input for the tests: XSS payloads, and a checker for executable HTML.

Any test may feed :data:`XSS_PAYLOADS` to a field (search and feeds included, when
they exist) and pass every page it gets back to :func:`executable_parts`.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '"><script>alert(1)</script>',
    "'><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" ONERROR="alert(1)">',
    "<body onload=alert(1)>",
    '<div onmouseover="alert(1)">hover</div>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">tab</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:a()">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](data:text/html,<script>alert(1)</script>)",
    "![x](javascript:alert(1))",
    '![x](x" onerror="alert(1))',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<object data=javascript:alert(1)></object>",
    "<embed src=javascript:alert(1)>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<button formaction="javascript:alert(1)">go</button>',
    "<meta http-equiv=refresh content=0;url=javascript:alert(1)>",
    "<base href=//evil.example/>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    "<img src=x onerror=alert(1)//",
    "<<script>alert(1);//<</script>",
    "<details open ontoggle=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
    "<a href='vbscript:msgbox(1)'>vb</a>",
    "`<script>alert(1)</script>`",
    "```\n</code></pre><script>alert(1)</script>\n```",
    # The Markdown extensions: highlighted code, footnotes, task lists, math.
    "```python\n</code></pre><script>alert(1)</script>\n```",
    "```<script>alert(1)</script>\nx\n```",
    "Note[^<img src=x onerror=alert(1)>]\n\n[^<img src=x onerror=alert(1)>]: <b>x</b>",
    "- [x] <input type=text autofocus onfocus=alert(1)>",
    "$\\href{javascript:alert(1)}{x}$",
    "$$\n\\text{<img src=x onerror=alert(1)>}\n$$",
    "$\\style{background:url(javascript:alert(1))}{x}$ $\\class{x}{y}$",
    '$x$ <math href="javascript:alert(1)"><mi>x</mi></math>',
]

#: Attributes whose value the browser treats as a URL it may navigate to or load.
_URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "background",
    "poster",
    "cite",
    "srcset",
}
#: Elements that run or embed code wherever they appear.
_ACTIVE_ELEMENTS = {
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "base",
    "svg",
    "style",
}
#: What may appear inside <math>: the presentation MathML that formulas are
#: made of, where no element loads, links or runs anything (no maction,
#: annotation-xml, semantics or mglyph, which embed or switch to other markup).
_MATHML = {
    "math", "menclose", "mfrac", "mi", "mn", "mo", "mover", "mpadded",
    "mphantom", "mroot", "mrow", "mspace", "msqrt", "mstyle", "msub",
    "msubsup", "msup", "mtable", "mtd", "mtext", "mtr", "munder", "munderover",
}  # fmt: skip
_SPACE_AND_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
#: The site's own scripts: static files, which the CSP allows and nothing a
#: post or a form can add.
_OWN_SCRIPT = re.compile(r"/static/[a-z]+\.js\?v=[0-9a-f]+")


class _Finder(HTMLParser):
    """Collect every tag and attribute in a page that a browser would execute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_math = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "math" or self.in_math:
            if tag not in _MATHML:
                self.found.append(f"<{tag}> in <math>")
            if "href" in values or "xlink:href" in values:
                self.found.append(f"<{tag} href> in <math>")
            if tag == "math":
                self.in_math += 1
        if (
            tag == "script"
            and values.get("type") != "application/ld+json"
            and not _OWN_SCRIPT.fullmatch(values.get("src", ""))
        ):
            self.found.append(f"<script {values}>")
        if tag in _ACTIVE_ELEMENTS:
            self.found.append(f"<{tag}>")
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            self.found.append("<meta http-equiv=refresh>")
        for name, value in values.items():
            if name.startswith("on") or name in {"style", "srcdoc"}:
                self.found.append(f"<{tag} {name}={value!r}>")
            elif name in _URL_ATTRIBUTES:
                # Browsers ignore whitespace and control characters in a scheme;
                # html.parser has already decoded character references.
                url = _SPACE_AND_CONTROL.sub("", value).lower()
                if url.startswith(("javascript:", "vbscript:", "data:")):
                    self.found.append(f"<{tag} {name}={value!r}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "math":
            self.in_math -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "math" and self.in_math:
            self.in_math -= 1


def executable_parts(html: str) -> list[str]:
    """Return every script, event handler, active element or script URL in ``html``.

    MathML is allowed, but only its presentation elements, and no link in it.

    JSON-LD ``<script type="application/ld+json">`` blocks are data, not code, and
    are allowed, as are the site's own static scripts.
    """
    finder = _Finder()
    finder.feed(html)
    finder.close()
    return finder.found
