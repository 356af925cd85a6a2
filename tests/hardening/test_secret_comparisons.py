"""Secrets are compared in constant time (reliability J1): no ``==`` or ``!=`` on a value
whose name says it is a key, a token, a secret, a signature or a digest, anywhere in the
package. (SQL lookups by hash, ``table.c.key_hash == ...``, build a query; they compare
nothing in Python and are allowed. The lookup is followed by ``hmac.compare_digest``.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pathweaver

SECRET = re.compile(r"secret|token|signature|digest|key_hash|api_key|password|plaintext", re.IGNORECASE)
PACKAGE = Path(pathweaver.__file__).parent


def _name(node: ast.expr) -> str:
    """The dotted name of an operand (``a.b.c``), or "" for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _secret_operand(node: ast.expr) -> bool:
    name = _name(node)
    if not name or ".c." in f".{name}.":  # a SQLAlchemy column: builds SQL, compares nothing
        return False
    return bool(SECRET.search(name.rsplit(".", 1)[-1]))


def offending_comparisons(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(_secret_operand(operand) for operand in operands) and not any(
                isinstance(operand, ast.Constant) and operand.value in (None, "") for operand in operands
            ):
                lines.append(node.lineno)
    return lines


def test_the_checker_finds_what_it_must_and_allows_sql() -> None:
    assert offending_comparisons("ok = given_token == stored_token\n") == [1]
    assert offending_comparisons("if request.signature != expected:\n    pass\n") == [1]
    assert offending_comparisons("q = api_keys.c.key_hash == hashed\n") == []
    assert offending_comparisons("ok = hmac.compare_digest(a_token, b_token)\n") == []
    assert offending_comparisons("if secret == None:\n    pass\n") == []


def test_no_secret_is_compared_with_equality_in_the_package() -> None:
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := offending_comparisons(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"compare secrets with hmac.compare_digest, not == or != (file: lines): {found}"
