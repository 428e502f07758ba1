"""The ```python blocks of the Markdown pages (README.md, docs/**/*.md), for the tests that run them.

A block runs as written unless the line before its fence (blank lines aside) is an HTML comment
``<!-- skip-test: why -->``, which GitHub and the documentation site both leave unseen: keep
that for the few blocks that cannot run on a test machine (a SLURM cluster, say). Shell commands
go in ```bash, ```sh or ```text blocks, which are never run. A block may sit in a list item,
indented: its indentation is removed.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*skip-test\s*:?\s*(?P<why>.*?)\s*-->\s*$")


@dataclass
class Block:
    """One python block of a page."""

    path: Path
    line: int  # of the block's first line of code, counted from 1
    code: str
    skip: Optional[str] = None  # why it is not run, from its skip-test comment


def python_blocks(path: Path) -> list[Block]:
    """The page's python blocks, in order."""
    text = Path(path).read_text()
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        mark = SKIP.search(before)
        blocks.append(
            Block(
                path=Path(path),
                line=text.count("\n", 0, match.start("body")) + 1,
                code=textwrap.dedent(match.group("body")),
                skip=(mark.group("why") or "marked skip-test") if mark else None,
            )
        )
    return blocks


def run_blocks(blocks: list[Block], replace: Optional[dict[str, str]] = None) -> dict:
    """Run the blocks in order in one namespace, after the replacements (each must apply somewhere).

    Each block is compiled under its page's name with its own line numbers, so that a traceback
    points at the page. Returns the namespace.
    """
    replace = dict(replace or {})
    unused = set(replace)
    namespace: dict = {"__name__": "__doc_example__"}
    for block in blocks:
        if block.skip:
            continue
        code = block.code
        for big, small in replace.items():
            if big in code:
                code = code.replace(big, small)
                unused.discard(big)
        exec(compile("\n" * (block.line - 1) + code, str(block.path), "exec"), namespace)
    assert not unused, f"the page no longer says {sorted(unused)}: update the test's replacements"
    return namespace
