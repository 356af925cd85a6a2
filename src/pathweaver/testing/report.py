"""A test run as text for people, JUnit XML for CI systems, and JSON for programs."""

from __future__ import annotations

import json
import textwrap
from xml.etree import ElementTree

from pathweaver.testing.results import CaseResult, RunResult

_MARK = {"passed": "PASS ", "failed": "FAIL ", "error": "ERROR"}


def text_report(run: RunResult, *, transcripts: bool = False) -> str:
    """One line per case; under a case that did not pass, what failed and why.

    With ``transcripts``, every case's conversation follows its line.
    """
    lines: list[str] = []
    for case in run.cases:
        turns = len(case.transcript)
        head = f"{_MARK[case.status]} {case.name} ({case.kind}, {turns} turn{'s' if turns != 1 else ''}"
        lines.append(head + f", {case.duration_ms / 1000:.1f} s)")
        if case.error:
            lines.extend(textwrap.indent(case.error, "      ").splitlines())
        for check in case.failures:
            lines.append(f"      {check.name}: {check.reason}")
        if transcripts or case.status != "passed":
            lines.extend(_transcript(case))
    summary = run.summary()
    lines.append(
        f"{summary['total']} case{'s' if summary['total'] != 1 else ''}: {summary['passed']} passed, "
        f"{summary['failed']} failed, {summary['errors']} error{'s' if summary['errors'] != 1 else ''}"
    )
    return "\n".join(lines) + "\n"


def _transcript(case: CaseResult) -> list[str]:
    lines = []
    for turn in case.transcript:
        moves = ", ".join(
            f"{a} -> {b}" + ("" if s == "chosen" else f" ({s})") for a, b, s in turn.transitions
        )
        where = f"[{turn.node_after}{'; ' + moves if moves else ''}{'; ended' if turn.ended else ''}]"
        lines.append(f"        {turn.number}. user:  {turn.user}")
        lines.append(f"           agent: {turn.reply}  {where}")
    return lines


def junit_xml(run: RunResult, suite_name: str = "pathweaver") -> str:
    """JUnit XML: one ``testcase`` per case; failed checks as ``failure``, errors as ``error``."""
    summary = run.summary()
    root = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(
        root,
        "testsuite",
        name=suite_name,
        tests=str(summary["total"]),
        failures=str(summary["failed"]),
        errors=str(summary["errors"]),
        time=f"{run.duration_ms / 1000:.3f}",
    )
    for case in run.cases:
        element = ElementTree.SubElement(
            suite,
            "testcase",
            classname=case.source or suite_name,
            name=case.name,
            time=f"{case.duration_ms / 1000:.3f}",
        )
        if case.status == "error":
            first_line = next(iter((case.error or "").splitlines()), "")
            error = ElementTree.SubElement(element, "error", message=first_line)
            error.text = case.error
        elif case.status == "failed":
            failures = case.failures
            failure = ElementTree.SubElement(
                element, "failure", message=f"{failures[0].name}: {failures[0].reason}"
            )
            failure.text = "\n".join(f"{check.name}: {check.reason}" for check in failures)
        if case.transcript:
            out = ElementTree.SubElement(element, "system-out")
            out.text = "\n".join(_transcript(case))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def json_report(run: RunResult) -> str:
    return json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n"
