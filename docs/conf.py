"""Sphinx configuration of flatcore's documentation site (``tools/build_docs``).

Why Sphinx with the PyData theme, numpydoc and MyST rather than mkdocs-material with
mkdocstrings: flatcore's docstrings are numpydoc-style reStructuredText (sections, ``:func:`` and
``:class:`` roles, tables), which Sphinx's autodoc and numpydoc render as written, and MyST lets
the Markdown pages that GitHub also shows (math.md, studies.md, ...) go into the site unchanged:
their ```` ```math ```` fences and ``$...$`` formulas become MathJax, and their GitHub-style
``#section`` links resolve to heading anchors. The PyData theme is the one NumPy, SciPy and pandas
use.

The site documents the installed flatcore (or the one on ``PYTHONPATH``): autodoc imports it, so
the compiled core must be built. The build is run with ``-W`` (warnings are errors) in CI.
"""

from __future__ import annotations

import re

from sphinx.ext import autosummary

import flatcore

project = "flatcore"
author = "the flatcore authors"
copyright = "the flatcore authors"
version = release = flatcore.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# README.md (notes for whoever edits this folder) and the build output are not pages of the site.
exclude_patterns = ["_build", "README.md"]

# MyST: the Markdown pages are written for GitHub as well, so the site reads them GitHub's way.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_fence_as_directive = ["math"]  # ```math fences (GitHub's display math) are math blocks
myst_heading_anchors = 3  # "#1-model-and-parameter-layout" links, as GitHub makes them
myst_dmath_double_inline = True
# \texttt{decay\_biases} in math.md: MathJax reads macros inside text only with textmacros.
mathjax3_config = {"loader": {"load": ["[tex]/textmacros"]}, "tex": {"packages": {"[+]": ["textmacros"]}}}

# API reference: one page per public name, generated at build time into api/generated/.
autosummary_generate = True
templates_path = ["_templates"]  # classes: with their methods
autodoc_typehints = "none"  # the signatures show them; numpydoc's Parameters say the rest
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

html_theme = "pydata_sphinx_theme"
html_title = f"flatcore {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False


# Autosummary's one-line summaries end at the first ". ", also inside a literal such as
# ``w_k . x > b_k`` (Sphinx means to check for broken markup there, but parses the whole stanza
# instead of the cut), which leaves an unclosed literal and a docutils warning. Extend such a cut
# to the end of the sentence that closes the literal.
_extract_summary = autosummary.extract_summary


def _whole_literal_summary(doc, settings):
    summary = _extract_summary(doc, settings)
    if summary.count("``") % 2 == 0:
        return summary
    stanza = []
    for line in doc:
        if line.strip():
            stanza.append(line.strip())
        elif stanza:
            break
    text = ""
    for sentence in re.split(r"(?<=\.)\s+", " ".join(stanza)):
        text = f"{text} {sentence}".strip()
        if text.count("``") % 2 == 0:
            break
    return text


autosummary.extract_summary = _whole_literal_summary
