"""mkdocs hook: the docstrings cross-reference in Sphinx style (:func:`~onepixel.attack`); show those as plain code,
with a leading ``~`` meaning the last name only, as in Sphinx."""

import re

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):(?=<code>)")
TILDE = re.compile(r"<code>~(?:[\w]+\.)*([\w]+)</code>")


def on_page_content(html: str, **kwargs) -> str:
    return TILDE.sub(r"<code>\1</code>", ROLE.sub("", html))
