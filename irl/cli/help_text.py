"""The algorithm settings section of ``irl fit --help``, built from the registry and the config classes.

Each setting's one-line documentation is the first sentence of its attribute docstring (the string
literal after the field in the dataclass body), read with :mod:`ast` from the source of every class
in the config's MRO, since Python drops those strings at runtime.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
from typing import Any

from irl.inverse.registry import ALGORITHMS

WIDTH = 100
_ABBREVIATIONS = ("e.g.", "i.e.")
_FROM_FLAG = {"seed": "(from --seed)", "device": "(from --device)"}
# What irl.runs.fit.default_reward_kind picks when the registry entry does not set a reward.
_CLI_REWARD = ("(linear when the env's features are informative, "
               "a state-action table for one-hot (toy-text) features)")


def algorithm_settings_help() -> str:
    """Every registered algorithm, its description and its settings with the defaults ``irl fit`` uses."""
    lines = ["algorithm settings (defaults as irl fit --algo NAME uses them):"]
    for algo in ALGORITHMS.values():
        cls = algo.config_class()
        docs = field_docs(cls)
        overrides = dict(algo.defaults)
        lines += ["", _wrap(f"{algo.name}: {algo.description}", indent=2)]
        for f in dataclasses.fields(cls):
            default = _default_text(f, overrides)
            lines.append(_wrap(f"  {f.name} = {default}  {docs.get(f.name, '')}".rstrip(), indent=6))
    lines += ["", "change settings with --algo-kwargs, e.g. "
                  """--algo-kwargs '{"max_iters": 200, "l2": 0.01}'"""]
    return "\n".join(lines)


def field_docs(cls: type) -> dict[str, str]:
    """Field name → first sentence of its attribute docstring, over ``cls``'s MRO (subclasses win)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError):  # builtins, classes without source
            continue
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = _first_sentence(after.value.value)
    return docs


def _first_sentence(doc: str) -> str:
    """Up to the first full stop outside parentheses, whitespace collapsed, ``literal`` quotes dropped."""
    text = " ".join(doc.replace("``", "").split())
    depth = 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == "." and depth == 0 and text[i + 1:i + 2] in ("", " "):
            sentence = text[:i + 1]
            if not sentence.endswith(_ABBREVIATIONS):
                return sentence
    return text


def _default_text(f: dataclasses.Field, overrides: dict[str, Any]) -> str:
    if f.name in _FROM_FLAG:
        return _FROM_FLAG[f.name]
    if f.name in overrides:
        value = overrides[f.name]
    elif f.name == "reward":
        return _CLI_REWARD
    elif f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    return json.dumps(value, default=repr)  # as written in --algo-kwargs


def _wrap(line: str, *, indent: int) -> str:
    return textwrap.fill(line, WIDTH, subsequent_indent=" " * indent, break_on_hyphens=False)
