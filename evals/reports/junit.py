"""JUnit XML: one <testcase> per case x repeat, failures carry the failed assertions' reasons.

The file's verdict is the suite's: when the thresholds hold, a failed trial they tolerate is not a
<failure> (CI publishers would show a passing gate red); its reasons go to <system-out> instead.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from evals.results import RunResult


def to_junit(result: RunResult) -> str:
    tolerated = result.status == "passed"
    failures = 0 if tolerated else sum(1 for t in result.trials if not t.passed and not t.error)
    errors = 0 if tolerated else sum(1 for t in result.trials if t.error)
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=result.suite, tests=str(len(result.trials) + len(result.thresholds)),
                          failures=str(failures + sum(not c.passed for c in result.thresholds)),
                          errors=str(errors), time=f"{result.duration_s:.3f}")
    props = ET.SubElement(suite, "properties")
    for key, value in (("target", result.target.get("ref")), ("content_hash", result.target.get("content_hash")),
                       ("dataset_hash", result.dataset_hash), ("mode", result.mode), ("status", result.status)):
        ET.SubElement(props, "property", name=key, value=str(value))
    for t in result.trials:
        name = t.case_id if result.repeats == 1 else f"{t.case_id}#{t.repeat}"
        tc = ET.SubElement(suite, "testcase", classname=f"eval.{result.suite}", name=name,
                           time=f"{(t.latency_ms or 0) / 1000:.3f}")
        if not t.passed and tolerated:
            ET.SubElement(tc, "system-out").text = (
                "failed, tolerated by the suite's thresholds:\n" + "\n".join(t.failure_reasons()) + f"\n\noutput:\n{t.output}")
        elif t.error:
            ET.SubElement(tc, "error", message=t.error[:500]).text = t.error
        elif not t.passed:
            reasons = t.failure_reasons()
            ET.SubElement(tc, "failure", message="; ".join(reasons)[:500]).text = (
                "\n".join(reasons) + f"\n\noutput:\n{t.output}")
    for c in result.thresholds:
        tc = ET.SubElement(suite, "testcase", classname=f"eval.{result.suite}.thresholds", name=c.metric, time="0")
        if not c.passed:
            ET.SubElement(tc, "failure", message=f"{c.metric}={c.value} outside [{c.min}, {c.max}]")
    if result.error:
        ET.SubElement(suite, "system-err").text = result.error
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
