"""Diagnoses a student can act on: known misconceptions, mistakes read from the source,
nondeterministic submissions, partial credit, and reproducible seeds."""

import json
import shutil

import pytest

from grader.diagnose import static_findings
from grader.grading import grade_submission
from grader.sandbox import Isolation
from tests.conftest import REPO, SUBMISSION_FIXTURES, _problem_and_expected, grade, student

REFERENCE = (REPO / "reference" / "value_basic.py").read_text()


def findings(source: str, problem_id: str = "value-basic") -> list[tuple[int, str]]:
    problem = _problem_and_expected(problem_id)[0]
    return [(f.line, f.message) for f in static_findings(source.encode(), problem)]


def test_a_rule_stored_on_out_backward_is_named_with_its_line():
    source = REFERENCE.replace("        out._backward = _backward\n", "        out.backward = _backward\n", 1)
    line = source.splitlines().index("        out.backward = _backward") + 1
    assert (line, "`out.backward = ...` replaces that node's backward() method; store the rule as `out._backward`") in findings(source)


def test_a_rule_attached_to_the_input_is_named():
    source = REFERENCE.replace("        out._backward = _backward\n", "        self._backward = _backward\n", 1)
    assert any("attaches the rule to an input" in message for _, message in findings(source))


def test_a_method_indented_into_another_is_named():
    source = REFERENCE.replace("    def relu(self):", "        def relu(self):").replace(
        "        out = Value(0 if self.data < 0", "            out = Value(0 if self.data < 0")
    source = source.replace('            self.grad += (out.data > 0) * out.grad', '                self.grad += (out.data > 0) * out.grad')
    messages = [m for _, m in findings(source)]
    assert any("`def relu` is indented inside `__mul__`" in m for m in messages), messages


def test_missing_import_math_is_named_on_its_first_use():
    source = (SUBMISSION_FIXTURES / "value-tanh" / "broken_missing_import_math.py").read_text()
    found = findings(source, "value-tanh")
    assert found and "`math` is used but never imported" in found[0][1]
    assert "math.exp" in source.splitlines()[found[0][0] - 1]


def test_a_backward_that_never_seeds_the_output_is_named():
    source = REFERENCE.replace("        self.grad = 1\n", "", 1)
    assert any("never sets the output's grad" in m for _, m in findings(source))


def test_the_reference_has_no_findings():
    assert findings(REFERENCE) == []


def test_a_known_misconception_is_shown_beside_the_tests_own_hint_never_instead_of_it():
    problem = _problem_and_expected("value-basic")[0]
    report = grade("value-basic", REPO / "submissions" / "erin.py")  # topological order not reversed
    assert report.diagnosis.misconception.name == "topo_not_reversed"
    failing_visible = [t for t in report.tests if t.visibility.value == "visible" and t.score < t.max_score]
    assert failing_visible and all("reversed" in student(t).diagnosis for t in failing_visible)
    assert [student(t).hint for t in failing_visible] == [problem.test(t.name).hint for t in failing_visible]
    assert any(student(t).hint for t in failing_visible)
    entry = next(t for t in report.to_json()["tests"] if t["name"] == failing_visible[0].name)
    assert entry["hint"] == problem.test(entry["name"]).hint and "reversed" in entry["diagnosis"]


def test_findings_and_diagnosis_reach_report_json(tmp_path):
    source = REFERENCE.replace("        out._backward = _backward\n", "        out.backward = _backward\n")
    path = tmp_path / "student.py"
    path.write_text(source)
    data = grade("value-basic", path).to_json()
    assert data["diagnosis"]["misconception"] == "backward_attached_to_output"
    assert any("out.backward" in f["message"] for f in data["findings"])


WEARS_OUT = '''
_BACKWARD_CALLS = [0]
''' + REFERENCE.replace(
    "        self.grad = 1\n",
    "        self.grad = 1\n        _BACKWARD_CALLS[0] += 1\n",
).replace(
    "self.grad += out.grad\n            other.grad += out.grad",
    "self.grad += out.grad\n            other.grad += out.grad * (2 if _BACKWARD_CALLS[0] > __AFTER__ else 1)",
)
"""Right until it has run backward() once per test, wrong after: state carried between calls."""


def test_a_submission_that_differs_between_passes_is_graded_on_the_worse_one_and_flagged(tmp_path):
    """It answers right in the first pass over the programs and wrong when the hidden ones run
    a second time: the worse pass counts, and the tests are flagged."""
    problem, expected = _problem_and_expected("value-basic")
    path = tmp_path / "wears_out.py"
    path.write_text(WEARS_OUT.replace("__AFTER__", str(len(problem.tests))))
    assert "_BACKWARD_CALLS[0] += 1" in path.read_text() and " * (2 if _BACKWARD_CALLS" in path.read_text()
    report = grade_submission(problem, path, isolation=Isolation.PROCESS, expected=expected)
    flagged = report.nondeterministic_tests
    assert flagged, "no test was flagged"
    by_name = {t.name: t for t in report.tests}
    for name in flagged:
        assert by_name[name].score < by_name[name].max_score
        assert by_name[name].visibility.value == "hidden"
    assert all(by_name[t.name].status.value == "passed" for t in problem.tests if t.visibility.value == "visible")
    assert report.to_json()["nondeterministic_tests"] == flagged


def test_data_right_but_grads_wrong_earns_the_declared_part_of_a_generated_test():
    report = grade("value-basic", REPO / "problems" / "value-basic" / "misconceptions" / "missing_seed_grad.py")
    generated = [t for t in report.tests if t.name.startswith("generated")]
    assert generated and all(t.score == t.max_score * 0.5 for t in generated)
    assert "every data value is right: 50% of the points" in generated[0].verdict.summary
    hand_written = [t for t in report.tests if not t.name.startswith("generated") and t.status.value == "failed"]
    assert hand_written and all(t.score == 0 for t in hand_written)


def test_a_secret_seed_changes_the_hidden_graphs_and_is_recorded(grader_in_process, monkeypatch, tmp_path):
    for name in ("GRADER_SEED", "GRADER_SEED_FILE"):
        monkeypatch.delenv(name, raising=False)
    secret = tmp_path / "seed.txt"
    secret.write_text("correct horse battery staple\n")
    # the course without its misconception library: every new seed would otherwise run all 17
    # variants twice to diagnose dave, which is not what this test is about
    course = tmp_path / "course"
    shutil.copytree(REPO / "problems", course / "problems", ignore=shutil.ignore_patterns("misconceptions"))
    shutil.copytree(REPO / "reference", course / "reference")

    def report(*options, env=None):
        result = grader_in_process("--course", str(course), *options, "grade", "submissions/dave.py",
                                   "--problem", "value-basic", env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    with_file = report(env={"GRADER_SEED_FILE": str(secret)})
    with_flag = report("--seed", "99")
    public = report()
    assert public["problem"]["seed"] == 2026 and public["problem"]["seed_source"] == "spec"
    assert with_flag["problem"]["seed"] == 99 and with_flag["problem"]["seed_source"] == "--seed"
    assert with_file["problem"]["seed_source"] == "GRADER_SEED_FILE"
    assert len({public["problem"]["digest"], with_flag["problem"]["digest"], with_file["problem"]["digest"]}) == 3
    again = report("--seed", "99")
    assert [t["score"] for t in again["tests"]] == [t["score"] for t in with_flag["tests"]]


def test_a_damaged_cache_entry_is_recomputed_not_a_crash(tmp_path):
    import dataclasses
    import shutil

    from grader.diagnose import VARIANT_SHIFTS, MisconceptionLibrary

    problem = _problem_and_expected("value-basic")[0]
    # a library of one variant: a miss computes every variant of the library, and one shows the point
    folder, cache = tmp_path / "misconceptions", tmp_path / "cache"
    folder.mkdir()
    shutil.copy(sorted(problem.misconceptions_dir.glob("*.py"))[0], folder)
    problem = dataclasses.replace(problem, misconceptions_dir=folder)
    misconception = MisconceptionLibrary(problem, cache).misconceptions[0]
    first = MisconceptionLibrary(problem, cache).faces(misconception, problem.tests)
    entries = list(cache.glob("*.json"))
    assert entries
    for entry in entries:
        entry.write_text('["not", "observations"]')
    again = MisconceptionLibrary(problem, cache).faces(misconception, problem.tests)
    assert len(again) == len(first) == len(problem.tests) and all(1 <= len(faces) <= 1 + len(VARIANT_SHIFTS) for faces in again.values())
    assert again == first


@pytest.mark.parametrize("source", ["x = " + "not " * 200_000 + "True\n", "# " + "x" * 2_000_000 + "\n"])
def test_a_source_built_to_choke_the_parser_gets_no_findings_and_no_crash(source):
    assert findings(source) == []


def test_check_grade_html_markdown_and_gradescope_show_the_same_diagnosis_for_the_same_file():
    import html

    from grader.formats import markdown_text, render_gradescope, render_markdown
    from grader.html import render_html
    from grader.terminal import Style, render_check
    from grader.view import Audience, report_view

    problem, expected = _problem_and_expected("value-basic")
    path = REPO / "submissions" / "carol.py"  # grads overwritten, not accumulated
    graded = grade("value-basic", path)
    checked = grade_submission(problem, path, isolation=Isolation.PROCESS, visible_only=True)
    assert graded.diagnosis is not None and checked.diagnosis is not None
    assert graded.diagnosis.misconception.name == checked.diagnosis.misconception.name
    assert graded.diagnosis.explained == checked.diagnosis.explained

    def shown(report):
        return {t.name: student(t).diagnosis for t in report.tests if t.visibility.value == "visible"}

    assert shown(graded) == shown(checked) and any(shown(graded).values())
    hint = graded.diagnosis.misconception.hint
    wide = Style(colour=False, width=1000)  # the hint on one line, however long
    assert f"likely cause: {hint}" in render_check(report_view(checked, Audience.STUDENT), wide)
    assert f"*likely cause:* {markdown_text(hint)}" in render_markdown(graded)
    assert any(f"Likely cause: {hint}" in t["output"] for t in json.loads(render_gradescope(graded))["tests"])
    assert f"<strong>Likely cause:</strong> {html.escape(hint)}" in render_html(graded)


def test_a_test_failing_in_a_way_no_misconception_explains_gets_no_diagnosis(tmp_path):
    """A repr with a different format, and nothing else wrong: the old ranking "explained" it with
    whatever variant agreed most elsewhere; now nothing is said beyond the test's own hint."""
    source = REFERENCE.replace('return f"Value(data={self.data}, grad={self.grad})"',
                               'return f"Value(data={self.data}, gradient={self.grad})"')
    assert source != REFERENCE
    path = tmp_path / "repr_gradient.py"
    path.write_text(source)
    report = grade("value-basic", path)
    failing = [t for t in report.tests if t.score < t.max_score]
    assert failing and report.diagnosis is None
    assert all(student(t).diagnosis == "" for t in failing)
    assert all(student(t).hint == report.problem.test(t.name).hint for t in failing if t.visibility.value == "visible")


def test_two_misconceptions_that_fail_alike_are_told_apart_by_the_source_or_not_named(tmp_path):
    """Walking the topological order forwards and calling only the output's rule give the same
    values on every graph: the source tells them apart; where it cannot, nothing is said."""
    folder = REPO / "problems" / "value-basic" / "misconceptions"
    for name in ("topo_not_reversed", "backward_only_direct_children"):
        report = grade("value-basic", folder / f"{name}.py")
        assert report.diagnosis is not None and report.diagnosis.misconception.name == name
    disguised = (folder / "topo_not_reversed.py").read_text().replace("for v in topo:", "for v in list(topo):")
    assert "for v in list(topo):" in disguised
    path = tmp_path / "disguised.py"
    path.write_text(disguised)
    report = grade("value-basic", path)
    assert report.score < report.max_score and report.diagnosis is None


def test_a_cache_entry_left_by_other_grader_code_does_not_decide_the_diagnosis(tmp_path, monkeypatch):
    """What a variant shows depends on the grader's code too (the interpreter, and the sandbox's
    memory layout for a set-order-dependent variant), and cached faces of an older grader with
    the same version number decided diagnoses: the grader's code is part of the cache key."""
    import dataclasses

    import grader.diagnose as diagnose
    from grader.diagnose import MisconceptionLibrary

    problem, expected = _problem_and_expected("value-basic")
    variant = problem.misconceptions_dir / "mul_backward_swapped.py"
    folder, cache, stale = tmp_path / "misconceptions", tmp_path / "cache", tmp_path / "stale"
    for where, source in ((folder, variant.read_text()), (stale, REFERENCE)):
        where.mkdir()
        (where / variant.name).write_text(source)
    problem = dataclasses.replace(problem, misconceptions_dir=folder)

    def diagnosis():
        library = MisconceptionLibrary(problem, cache)
        report = grade_submission(problem, variant, isolation=Isolation.PROCESS, expected=expected, library=library)
        assert report.score < report.max_score
        return report.diagnosis and report.diagnosis.misconception.name

    assert diagnosis() == "mul_backward_swapped"
    # what other code could have left under the key: other faces (here the reference's)
    MisconceptionLibrary(dataclasses.replace(problem, misconceptions_dir=stale), tmp_path / "other").load(problem.tests, expected)
    [entry], [other] = cache.glob("*.json"), (tmp_path / "other").glob("*.json")
    entry.write_text(other.read_text())
    assert diagnosis() is None  # the cache decides what the variant shows...
    monkeypatch.setattr(diagnose, "runner_digest", lambda: "the grader's code after a change")
    assert diagnosis() == "mul_backward_swapped"  # ...so other code must not read it


FULL_REFERENCE = (REPO / "reference" / "value_full.py").read_text()


def _diagnosed(problem_id: str, source: str, tmp_path, name: str = "student.py"):
    path = tmp_path / name
    path.write_text(source)
    report = grade(problem_id, path)
    assert report.score < report.max_score
    return report.diagnosis and report.diagnosis.misconception.name


def _replaced(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, old
    return source.replace(old, new)


def test_a_mistake_made_in_fewer_places_than_the_variant_makes_it_is_still_named(tmp_path):
    """``2 - a`` computed as ``a - 2`` in a hand-written __rsub__ whose backward is right: the
    library's variant gets the grads wrong too (its __rsub__ is derived), so it reproduces every
    wrong value and predicts a few more. That used to be too little agreement to say anything."""
    source = _replaced(FULL_REFERENCE, "        return other + (-self)\n", (
        "        out = Value(self.data - other, (self,), 'r-')\n\n"
        "        def _backward():\n"
        "            self.grad += -1 * out.grad\n\n"
        "        out._backward = _backward\n"
        "        return out\n"))
    assert _diagnosed("value-full", source, tmp_path) == "rsub_sign"


def test_a_variant_that_fails_a_test_the_submission_passes_needs_full_agreement(tmp_path):
    """``6 / d`` whose hand-written backward forgets the 6 gives, on that test, the very numbers
    of a power rule without the chain rule; but that variant fails the power tests, which this
    file passes: it is not the student's mistake, and nothing is said."""
    source = _replaced(FULL_REFERENCE, "        return other * self**-1\n", (
        "        out = Value(other / self.data, (self,), 'r/')\n\n"
        "        def _backward():\n"
        "            self.grad += -1 / self.data**2 * out.grad\n\n"
        "        out._backward = _backward\n"
        "        return out\n"))
    assert _diagnosed("value-full", source, tmp_path) is None


def test_a_power_rule_without_the_chain_rule_is_named_in_the_power(tmp_path):
    source = _replaced(FULL_REFERENCE, "self.grad += (other * self.data ** (other - 1)) * out.grad",
                       "self.grad += other * (self.data ** (other - 1))")
    assert _diagnosed("value-full", source, tmp_path) == "pow_backward_no_chain"


RECURSIVE_BACKWARD = '''    def backward(self):
        self.grad = 1
        self._backprop()

    def _backprop(self):
        self._backward()
        for child in self._prev:
            child._backprop()
'''


def test_a_backward_that_recurses_into_the_inputs_without_an_order_is_named_from_its_helper(tmp_path):
    """Recursing from the output and calling each node's rule on the way (here in a helper
    method) fails like a topological sort without a visited set on a diamond; the source shows
    which of the two it is, through the helper backward() calls."""
    source = _replaced(REFERENCE, "    def backward(self):\n        topo = _topological_order(self)\n"
                       "        self.grad = 1\n        for v in reversed(topo):\n            v._backward()\n",
                       RECURSIVE_BACKWARD)
    assert _diagnosed("value-basic", source, tmp_path) == "backward_without_topological_order"
    folder = REPO / "problems" / "value-basic" / "misconceptions"
    report = grade("value-basic", folder / "no_visited_set.py")  # it builds a list: never that shape
    assert report.diagnosis is None or report.diagnosis.misconception.name == "no_visited_set"


def test_a_topological_order_walked_forwards_is_named_whatever_the_rules_are_called(tmp_path):
    """The forward walk over the list backward() built is recognised even where the nodes'
    rules are not called ``_backward``; it used to tie with calling only the output's rule."""
    folder = REPO / "problems" / "value-basic" / "misconceptions"
    source = (folder / "topo_not_reversed.py").read_text().replace("_backward", "_grad_fn")
    assert _diagnosed("value-basic", source, tmp_path) == "topo_not_reversed"


def test_a_backward_that_raises_is_not_explained_by_a_mistake_that_leaves_the_grads_at_zero(tmp_path):
    """Nodes made unhashable (``__eq__`` without ``__hash__``) make every backward() raise
    before any grad moves. A variant that never seeds the output leaves the grads at 0 too, and
    was named for agreeing on them; those zeros are the exception's doing, not evidence."""
    source = _replaced(FULL_REFERENCE, "        self._prev = set(_children)\n", "        self._prev = tuple(_children)\n")
    source = _replaced(source, "    def __repr__(self):\n",
                       "    def __eq__(self, other):\n        return isinstance(other, Value) and self.data == other.data\n\n"
                       "    def __repr__(self):\n")
    assert _diagnosed("value-full", source, tmp_path) is None
