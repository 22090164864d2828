import pytest

from evals import SuiteError, load_suite, suite_from_dict
from evals.dataset import dataset_hash
from evals.runner import check_suite


def base(**kw):
    d = {"name": "s", "target": {"model": "m"}, "dataset": [{"input": "hi", "expected": "hi"}],
         "assert": [{"type": "equals"}]}
    d.update(kw)
    return d


def test_jsonl_and_csv_datasets(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"id": "a", "vars": {"q": "x"}}\n\n{"input": "y"}\n')
    (tmp_path / "d.csv").write_text('id,q,expected\nc1,"hello, world",HW\n')
    (tmp_path / "s1.yaml").write_text("name: s1\ntarget: {model: m}\ndataset: d.jsonl\n")
    (tmp_path / "s2.yaml").write_text("name: s2\ntarget: {model: m}\ndataset: d.csv\n")
    s1, s2 = load_suite(tmp_path / "s1.yaml"), load_suite(tmp_path / "s2.yaml")
    assert [c.id for c in s1.cases] == ["a", "case-2"]
    assert s2.cases[0].vars == {"q": "hello, world"} and s2.cases[0].expected == "HW"
    assert s1.spec.thresholds == {"pass_rate": 1.0}  # default: every trial must pass


def test_dataset_hash_changes_with_content():
    a = suite_from_dict(base())
    b = suite_from_dict(base(dataset=[{"input": "hi", "expected": "ho"}]))
    assert dataset_hash(a.cases) != dataset_hash(b.cases)


@pytest.mark.parametrize("data, message", [
    (base(tresholds={}), "tresholds"),
    (base(target={}), "target needs one of"),
    (base(dataset=[{"id": "x"}, {"id": "x"}]), "duplicate case ids"),
    (base(dataset="missing.jsonl"), "does not exist"),
    (base(dataset=[{"inputs": "typo"}]), "inputs"),
    (base(dataset=[]), "no cases"),
])
def test_bad_suites_name_the_problem(data, message):
    with pytest.raises(SuiteError, match=message):
        suite_from_dict(data)


def test_static_checks_unknown_assertion_and_threshold():
    with pytest.raises(SuiteError, match="unknown assertion type 'equal'"):
        check_suite(suite_from_dict(base(**{"assert": [{"type": "equal"}]})))
    with pytest.raises(SuiteError, match="cannot be negated"):
        check_suite(suite_from_dict(base(**{"assert": [{"type": "not-latency", "threshold": 1}]})))
    with pytest.raises(SuiteError, match="unknown metric"):
        check_suite(suite_from_dict(base(thresholds={"similarity": 0.8})))


def test_unreadable_suite_file(tmp_path):
    with pytest.raises(SuiteError, match="cannot read suite"):
        load_suite(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(tmp_path / "bad.yaml")
