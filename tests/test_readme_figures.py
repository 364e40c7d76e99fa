"""A figure in a README is produced by the script that measures it, never typed.

Fast: reads the READMEs and the experiments scripts' source; runs none of them.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
READMES = [EXPERIMENTS / "README.md", ROOT / "README.md"]
WRITER = re.compile(r"Written by `python (experiments/[\w./-]+\.py)[^`]*` on \d{4}-\d{2}-\d{2}")


def _load_readme_blocks():
    spec = importlib.util.spec_from_file_location("readme_blocks", EXPERIMENTS / "readme_blocks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("readme_blocks", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rb = _load_readme_blocks()


def _inside_blocks(text: str) -> set[int]:
    """Line indices (0-based) strictly between the markers of some block."""
    return {i for block in rb.blocks(text) for i in range(block.begin + 1, block.end)}


# ------------------------------------------------------------------------------- (a) write_block
DOC = """# Title

before
<!-- begin generated: one -->
old body
| 1.5 | old |
<!-- end generated: one -->
between
<!-- begin generated: two -->
two's body
<!-- end generated: two -->
after
"""


def test_write_block_replaces_only_the_block(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(DOC, encoding="utf-8")
    rb.write_block(path, "one", "Written by `python experiments/x.py` on 2026-01-01.\n\n| 2.5 | new |\n")
    text = path.read_text(encoding="utf-8")
    assert text == DOC.replace("old body\n| 1.5 | old |\n",
                               "Written by `python experiments/x.py` on 2026-01-01.\n\n| 2.5 | new |\n")
    assert "<!-- begin generated: one -->" in text and "<!-- end generated: one -->" in text
    assert [b.name for b in rb.blocks(text)] == ["one", "two"]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_write_block_twice_is_idempotent(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(DOC, encoding="utf-8")
    rb.write_block(path, "two", "body")
    once = path.read_text(encoding="utf-8")
    rb.write_block(path, "two", "body")
    assert path.read_text(encoding="utf-8") == once
    assert "between\n<!-- begin generated: two -->\nbody\n<!-- end generated: two -->\nafter\n" in once


@pytest.mark.parametrize("text", [
    DOC.replace("<!-- begin generated: one -->\n", ""),
    DOC.replace("<!-- end generated: one -->\n", ""),
    DOC + "<!-- begin generated: one -->\nx\n<!-- end generated: one -->\n",
    DOC.replace("<!-- begin generated: one -->", "@@").replace("<!-- end generated: one -->",
                                                              "<!-- begin generated: one -->")
    .replace("@@", "<!-- end generated: one -->"),
    "no markers at all\n",
], ids=["no-begin", "no-end", "duplicated", "reversed", "none"])
def test_write_block_refuses_bad_markers(tmp_path, text):
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(rb.BlockError):
        rb.write_block(path, "one", "new")
    assert path.read_text(encoding="utf-8") == text


# ----------------------------------------------------------------------------- (b) no typed table
def test_every_table_row_of_the_experiments_readme_is_generated():
    text = (EXPERIMENTS / "README.md").read_text(encoding="utf-8")
    inside = _inside_blocks(text)
    typed = [f"{i + 1}: {line}" for i, line in enumerate(text.splitlines())
             if line.startswith("|") and i not in inside]
    assert not typed, "table rows typed outside a generated block:\n" + "\n".join(typed)


def test_every_table_row_with_a_decimal_in_the_top_readme_is_generated():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    inside = _inside_blocks(text)
    typed = [f"{i + 1}: {line}" for i, line in enumerate(text.splitlines())
             if line.startswith("|") and re.search(r"\d\.\d", line) and i not in inside]
    assert not typed, "measured table rows typed outside a generated block:\n" + "\n".join(typed)


# ------------------------------------------------------------------------ (c) named, real writers
@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_block_names_the_script_that_wrote_it(readme):
    text = readme.read_text(encoding="utf-8")
    found = list(rb.blocks(text))
    assert found, f"{readme.name} has no generated block"
    for block in found:
        first = next((line for line in block.body if line.strip()), "")
        m = WRITER.match(first)
        assert m, f"block {block.name!r}: first line does not name the command that wrote it: {first!r}"
        script = ROOT / m.group(1)
        assert script.is_file(), f"block {block.name!r}: {m.group(1)} does not exist"
        source = script.read_text(encoding="utf-8")
        assert "--write-readme" in source, f"block {block.name!r}: {m.group(1)} has no --write-readme"
        assert f'"{block.name}"' in source, f"block {block.name!r}: {m.group(1)} never writes this block"
