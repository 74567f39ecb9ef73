"""Rule test cases as data (``rules/tests/*.yaml``), run by ``lenses test`` and pytest.

A case file lists cases; each has a ``note``, an ``input`` (an API request
body, or a patch of a named fixture given by ``base``), optional ``history``
and ``summary``, or a ``sweep``, and ``want``: findings that must be there,
rule ids that must be ``absent``, ``actions`` that must be there (matching
only the keys given), ``no_actions``, ``ready_to_complete``, ``lens_scores``.

Patches merge into the fixture: mappings merge key by key (``null`` deletes),
lists of areas or judgements merge by their code when the patch is a mapping
(``areas: {RISK: {grade: GRADE_DOES_NOT_MEET_GOOD}}``), other values replace.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from engine import history as summaries
from engine import model
from engine.errors import Location, RuleCompileError, RuleParseErrors, RulesError
from engine.evaluate import RulesEngine
from engine.loader import TESTS_DIR, schema_errors
from engine.ruleset import Ruleset
from engine.yamlsource import Document, PathKey, load

from . import inputs
from .local import evaluate_record

FIXTURES_FILE = "fixtures.yaml"


@dataclass
class CaseResult:
    """The outcome of one case; ``problems`` is empty when it passed."""

    file: str
    line: int
    note: str
    rule: str
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def title(self) -> str:
        return f"{self.file}:{self.line} [{self.rule}] {self.note}"


@dataclass
class Case:
    """One case with where it came from."""

    file: str
    line: int
    rule: str
    data: dict[str, Any]
    fixtures: Mapping[str, Any]
    document: Document | None = None  # the case file, for the line of a key
    index: int = 0  # the case's place in the file's ``cases``

    @property
    def note(self) -> str:
        return str(self.data["note"])

    def location(self, path: PathKey, in_case: bool = True) -> Location:
        """The file and line of ``path`` in this case (in the file when not ``in_case``)."""
        if self.document is None:
            return Location(self.file, self.line)
        return self.document.location(("cases", self.index, *path) if in_case else path)

    def rule_ids(self) -> set[str]:
        """Every rule id the case's ``want`` mentions (for ``lenses explain``)."""
        want = self.data["want"]
        ids = {f if isinstance(f, str) else f["rule_id"] for f in want.get("findings", [])}
        ids |= set(want.get("absent", []))
        ids |= {a["rule_id"] for a in want.get("actions", []) if a.get("rule_id")}
        return ids | ({self.rule} if self.rule else set())


# -------------------------------------------------------------- loading


def case_files(cases_dir: Path) -> list[Path]:
    """The case files of a folder of cases (a rules folder's ``tests``)."""
    return sorted(p for p in cases_dir.glob("*.yaml") if p.name != FIXTURES_FILE)


def load_cases(rules_dir: Path) -> Iterator[Case]:
    """Every case of a rules folder's ``tests``; see ``load_case_folder``."""
    return load_case_folder(rules_dir / TESTS_DIR)


def load_case_folder(cases_dir: Path) -> Iterator[Case]:
    """Every case of every case file in ``cases_dir``; a malformed file raises
    RulesError with its line. Files are named as the folder was given, so that
    a message names the file the user can open."""
    fixtures = _fixtures(cases_dir)
    for path in case_files(cases_dir):
        document = load(path, str(path))
        problems = schema_errors(document, "case")
        if problems:
            raise problems[0]
        yield from _cases(document, fixtures)


def _fixtures(cases_dir: Path) -> Mapping[str, Any]:
    """The fixtures file, checked: a malformed one would fail every case that uses it
    with a traceback, and a history base naming no fixture every history case."""
    path = cases_dir / FIXTURES_FILE
    if not path.exists():
        return {"fixtures": {}, "history_bases": {}}
    document = load(path, str(path))
    problems = schema_errors(document, "fixtures") or _unknown_history_bases(document)
    if problems:
        raise RuleParseErrors(problems)
    return dict(document.data)


def _unknown_history_bases(fixtures: Document) -> list[RulesError]:
    """Each history base (of a schema-valid fixtures file) that names no fixture."""
    return [
        RuleCompileError(f"history base {name!r} is not a fixture",
                         fixtures.location(("history_bases", group)))
        for group, name in fixtures.data.get("history_bases", {}).items()
        if name not in fixtures.data["fixtures"]
    ]


def _cases(document: Document, fixtures: Mapping[str, Any]) -> Iterator[Case]:
    rule = document.data.get("rule", "")
    for index, data in enumerate(document.data["cases"]):
        line = document.lines.get(("cases", index), 1)
        yield Case(document.file, line, rule, data, fixtures, document, index)


# ------------------------------------------------------------- checking


def case_problems(case: Case, rule_ids: Collection[str]) -> list[RulesError]:
    """What ``case`` names that does not exist: a ``base`` that is not a fixture, or a
    rule id (its file's ``rule``, or one in ``want``) that is not in the rules. Such a
    case cannot test what it says (``absent: [GC-44]`` would always pass)."""
    problems: list[RulesError] = []
    base = case.data.get("base")
    if base is not None and base not in case.fixtures.get("fixtures", {}):
        problems.append(RuleCompileError(f"base {base!r} is not a fixture in {FIXTURES_FILE}",
                                         case.location(("base",))))
    for path, rule_id, in_case in _named_rules(case):
        if rule_id not in rule_ids:
            problems.append(RuleCompileError(f"no rule {rule_id} in the rules",
                                             case.location(path, in_case)))
    return problems


def _named_rules(case: Case) -> Iterator[tuple[PathKey, str, bool]]:
    """(path, rule id, whether the path is within the case) of every rule id it names."""
    if case.rule:
        yield ("rule",), case.rule, False
    want = case.data["want"]
    for i, finding in enumerate(want.get("findings", [])):
        if isinstance(finding, str):
            yield ("want", "findings", i), finding, True
        else:
            yield ("want", "findings", i, "rule_id"), finding["rule_id"], True
    for i, rule_id in enumerate(want.get("absent", [])):
        yield ("want", "absent", i), rule_id, True
    for i, action in enumerate(want.get("actions", [])):
        if action.get("rule_id"):
            yield ("want", "actions", i, "rule_id"), action["rule_id"], True


def check_cases(cases: Sequence[Case], ruleset: Ruleset) -> None:
    """Raise every :func:`case_problems` of ``cases`` at once (``lenses check``);
    a file's unknown ``rule`` is reported once, not once per case."""
    rule_ids = {rule.rule_id for rule in ruleset.rules}
    problems: dict[str, RulesError] = {}
    for case in cases:
        for problem in case_problems(case, rule_ids):
            problems.setdefault(str(problem), problem)
    if problems:
        raise RuleParseErrors(list(problems.values()))


# -------------------------------------------------------------- merging


def merge(base: Any, patch: Any) -> Any:
    """``patch`` applied to ``base`` (see the module docstring)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        result = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = merge(result.get(key), value)
        return result
    if isinstance(base, list) and isinstance(patch, dict):
        return _merge_keyed(base, patch)
    return copy.deepcopy(patch)


def _item_key(item: Mapping[str, Any]) -> str:
    if "area" in item:
        return str(item["area"]).removeprefix("AREA_")
    lens = str(item.get("lens", "")).removeprefix("LENS_")
    return f"{lens}/{item.get('judgementArea', '')}"


def _merge_keyed(base: list[Any], patch: Mapping[str, Any]) -> list[Any]:
    result = [copy.deepcopy(item) for item in base]
    for key, value in patch.items():
        key = str(key).removeprefix("AREA_")
        index = next((i for i, item in enumerate(result) if _item_key(item) == key), None)
        if value is None:
            if index is not None:
                del result[index]
        elif index is None:
            result.append(copy.deepcopy(value))
        else:
            result[index] = merge(result[index], value)
    return result


# -------------------------------------------------------------- running


def run_case(engine: RulesEngine, case: Case) -> CaseResult:
    """Evaluate one case and compare with its ``want``."""
    result = CaseResult(case.file, case.line, case.note, case.rule)
    named = case_problems(case, {rule.rule_id for rule in engine.ruleset.rules})
    if named:
        result.problems.extend(str(problem) for problem in named)
        return result
    try:
        evaluation = _evaluate(engine, case)
    except (RulesError, inputs.InputFileError, KeyError, ValueError) as exc:
        result.problems.append(f"could not evaluate: {exc}")
        return result
    result.problems.extend(_compare(case.data["want"], evaluation))
    return result


def run_all(engine: RulesEngine, cases_dir: Path) -> list[CaseResult]:
    """Every case of a folder of cases (a rules folder's ``tests``, or another)."""
    return [run_case(engine, case) for case in load_case_folder(cases_dir)]


def _body(case: Case) -> Any:
    body = case.data.get("input", {})
    if "base" in case.data:
        body = merge(case.fixtures["fixtures"][case.data["base"]], body)
    return body


def _evaluate(engine: RulesEngine, case: Case) -> model.Evaluation:
    if "sweep" in case.data:
        return engine.evaluate_sweep(_sweep(case.data["sweep"]))
    body = _body(case)
    where = case.file
    kind = inputs.request_kind(body, where)
    message = inputs.parse_message(body, inputs.REQUESTS[kind], where)
    record = inputs.convert_record(kind, message, where)
    history = inputs.history_from_data(_history(case), where)
    summary = case.data.get("summary")
    if kind == "audit":
        record = _moderated(record, summary)
    if summary and kind == "audit":
        return engine.evaluate_audit(record, _audit_history(engine, record, history, summary))
    if summary and kind == "review" and "evidence" in summary:
        evidence = model.ReviewEvidence(**_counts(summary["evidence"], "summary.evidence"))
        return engine.evaluate_review(model.ReviewInput(record, evidence))
    return evaluate_record(engine, kind, record, history)[0]


def _history(case: Case) -> dict[str, list[Any]]:
    bases = case.fixtures.get("history_bases", {})
    history: dict[str, list[Any]] = {}
    for group, items in (case.data.get("history") or {}).items():
        base_name = bases.get(group)
        base = case.fixtures["fixtures"][base_name] if base_name else None
        record_base = next(iter(base.values())) if base else {}
        history[group] = [merge(record_base, item) for item in items]
    return history


def _audit_history(engine: RulesEngine, audit: model.Audit, history: inputs.History,
                   summary: Mapping[str, Any]) -> model.AuditHistory:
    gathered = summaries.summarise(audit, history.audits, engine.params)
    changes: dict[str, Any] = {}
    if "calibration" in summary:
        changes["calibration"] = model.Calibration(
            **_counts(summary["calibration"], "summary.calibration"))
    if "open_deep_dive_areas" in summary:
        changes["open_deep_dive_areas"] = frozenset(summary["open_deep_dive_areas"])
    if "calibration_review_open" in summary:
        changes["calibration_review_open"] = summary["calibration_review_open"]
    return dataclasses.replace(gathered, **changes)


def _moderated(record: model.Audit, summary: Mapping[str, Any] | None) -> model.Audit:
    """The audit with a moderator's grade (what ModerateAudit records), if the case gives one."""
    if summary and "moderated_grade" in summary:
        return dataclasses.replace(record, moderated_grade=summary["moderated_grade"])
    return record


def _sweep(data: Mapping[str, Any]) -> model.SweepInput:
    def day(value: Any) -> date:
        return date.fromisoformat(str(value))

    actions = []
    for i, a in enumerate(data.get("open_actions", [])):
        where = f"sweep.open_actions[{i}]"
        text = {name: _typed(a, name, str, where) for name in ("action_id", "kind")}
        text |= {name: _typed(a, name, str, where, "")
                 for name in ("owner_id", "audit_id", "case_ref", "service_area")}
        actions.append(model.OpenAction(
            due_on=day(a["due_on"]), origin_on=day(a.get("origin_on", a["due_on"])),
            escalated=_typed(a, "escalated", bool, where, False), **text))
    panels = tuple(
        model.ServiceAreaPanel(_typed(p, "service_area", str, f"sweep.panels[{i}]"),
                               day(p["panel_on"]),
                               _typed(p, "review_due_open", bool, f"sweep.panels[{i}]", False))
        for i, p in enumerate(data.get("panels", []))
    )
    return model.SweepInput(day(data["as_of"]), tuple(actions), panels)


# The records a case builds from its YAML as written (a sweep's actions and panels, a
# summary's counts) take their values as they are: a value of another type is the
# case's mistake, reported with the case, whether the engine is compiled (its records
# check their types) or not.
_REQUIRED = object()


def _typed(data: Mapping[str, Any], name: str, kind: type, where: str,
           default: Any = _REQUIRED) -> Any:
    """``data[name]`` if it is of type ``kind``; ``default`` if absent (without one, required)."""
    value = data[name] if default is _REQUIRED else data.get(name, default)
    if type(value) is not kind:
        expected = {str: "text", bool: "true or false"}[kind]
        raise ValueError(f"{where}.{name} must be {expected}, not {value!r}")
    return value


def _counts(data: Mapping[str, Any], where: str) -> dict[str, int]:
    """A summary's counts as integers (the case schema takes 4.0 as an integer, 4)."""
    counts = {}
    for name, value in data.items():
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int:
            raise ValueError(f"{where}.{name} must be a whole number, not {value!r}")
        counts[name] = value
    return counts


# ------------------------------------------------------------ comparing


def _compare(want: Mapping[str, Any], evaluation: model.Evaluation) -> list[str]:
    problems: list[str] = []
    fired = sorted({f.rule_id for f in evaluation.findings})
    acted = sorted({a.rule_id for a in evaluation.actions})
    for expected in want.get("findings", []):
        spec = {"rule_id": expected} if isinstance(expected, str) else expected
        if not any(_finding_matches(spec, f) for f in evaluation.findings):
            problems.append(f"expected finding {_show(spec)}; findings were {_findings(evaluation)}"
                            + _nearest_finding(spec, evaluation.findings))
    for rule_id in want.get("absent", []):
        if rule_id in fired or rule_id in acted:
            problems.append(f"expected no {rule_id}, but it fired: {_findings(evaluation)} "
                            f"actions {_actions(evaluation)}")
    for expected in want.get("actions", []):
        if not any(_action_matches(expected, a) for a in evaluation.actions):
            problems.append(f"expected action {_show(expected)}; actions were {_actions(evaluation)}"
                            + _nearest_action(expected, evaluation.actions))
    if want.get("no_actions") and evaluation.actions:
        problems.append(f"expected no actions; got {_actions(evaluation)}")
    if "ready_to_complete" in want and evaluation.ready_to_complete != want["ready_to_complete"]:
        problems.append(f"expected ready_to_complete={want['ready_to_complete']}")
    problems.extend(_compare_scores(want.get("lens_scores", {}), evaluation))
    return problems


def _finding_matches(spec: Mapping[str, Any], finding: model.Finding) -> bool:
    return not _finding_differences(spec, finding)


def _finding_differences(spec: Mapping[str, Any], finding: model.Finding) -> list[str]:
    """Each thing ``spec`` asks for that ``finding`` does not have, as "what got (expected)"."""
    pairs: list[tuple[str, Any, Any]] = [("rule_id", spec["rule_id"], finding.rule_id)]
    if "area" in spec:
        pairs.append(("area", str(spec["area"]).removeprefix("AREA_"), finding.area))
    if "severity" in spec:
        pairs.append(("severity", spec["severity"], finding.severity))
    pairs += [(f"because.{k}", str(v), finding.because.get(k))
              for k, v in spec.get("because", {}).items()]
    return [f"{name} {got!r} (expected {wanted!r})" for name, wanted, got in pairs if got != wanted]


def _nearest_finding(spec: Mapping[str, Any], findings: Sequence[model.Finding]) -> str:
    """The difference to the closest finding of the expected rule, if that rule fired:
    "findings were [GC-06]" alone does not say why the expected one did not match."""
    same_rule = [f for f in findings if f.rule_id == spec["rule_id"]]
    if not same_rule:
        return ""
    differences = min((_finding_differences(spec, f) for f in same_rule), key=len)
    return f"; the nearest {spec['rule_id']} finding has " + ", ".join(differences)


def _action_matches(spec: Mapping[str, Any], action: model.ActionIntent) -> bool:
    return not _action_differences(spec, action)


def _action_differences(spec: Mapping[str, Any], action: model.ActionIntent) -> list[str]:
    """Each key of ``spec`` whose value ``action`` does not have, as "key got (expected)"."""
    values = {k: _text(v) for k, v in dataclasses.asdict(action).items()}
    return [f"{k} {values.get(k)!r} (expected {_text(v)!r})"
            for k, v in spec.items() if values.get(k) != _text(v)]


def _nearest_action(spec: Mapping[str, Any], actions: Sequence[model.ActionIntent]) -> str:
    """The difference to the closest action of the expected rule and kind, if there is one
    (a wrong detail or owner is otherwise invisible in the one-line action list)."""
    candidates = [a for a in actions
                  if all(_text(getattr(a, key)) == _text(spec[key])
                         for key in ("rule_id", "kind") if key in spec)]
    if not candidates:
        return ""
    differences = min((_action_differences(spec, a) for a in candidates), key=len)
    return "; the nearest such action has " + ", ".join(differences)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def _compare_scores(want: Mapping[str, Any], evaluation: model.Evaluation) -> list[str]:
    scores = {s.lens: s for s in evaluation.lens_scores}
    if evaluation.overall is not None:
        scores["OVERALL"] = evaluation.overall
    problems = []
    for lens, expected in want.items():
        score = scores.get(lens)
        got = {} if score is None else {
            "score": score.score, "judgement": score.judgement, "limited_by": score.limited_by}
        for key, value in expected.items():
            if key == "score" and score is not None and abs(score.score - float(value)) < 1e-6:
                continue
            if key == "limited_by" and score is not None and str(value) in score.limited_by \
                    and value:
                continue
            if got.get(key) != value:
                problems.append(f"lens {lens}: expected {key}={value!r}, got {got.get(key)!r}")
    return problems


def _show(spec: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items())


def _findings(evaluation: model.Evaluation) -> str:
    return "[" + ", ".join(
        f.rule_id + (f"({f.area})" if f.area else "") for f in evaluation.findings) + "]"


def _actions(evaluation: model.Evaluation) -> str:
    return "[" + ", ".join(
        f"{a.rule_id} {a.kind} due {a.due_on}" for a in evaluation.actions) + "]"
