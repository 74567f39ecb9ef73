"""Load a rules folder: read YAML, validate against the JSON Schemas, build
typed rules with parameters substituted, and check every name they use.

Layout of a rules folder::

    params.yaml        every threshold, window and timescale
    catalogue.yaml     the review judgement areas per lens
    **/*.yaml          one rule per file (anything under tests/ is test cases)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import string
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from . import conditions, facts
from .errors import Location, RuleCompileError, RuleParseError, RuleParseErrors, RulesError
from .ruleset import ActionSpec, BecauseItem, DueSpec, Rule, Ruleset, Trigger
from .yamlsource import Document, PathKey, load

PARAMS_FILE = "params.yaml"
CATALOGUE_FILE = "catalogue.yaml"
TESTS_DIR = "tests"
_ORDERING = ("lt", "lte", "gt", "gte")  # operators that only compare numbers

# Date fields a fact may leave unset, with the bool field that is true exactly when
# the date is set (None: there is none). A due date computed from one of them fails
# the evaluation when it is unset, so the trigger's condition must require the flag.
# (``completed_on`` is unset only on drafts, which get no actions.)
OPTIONAL_DATES: dict[str, dict[str, str | None]] = {
    "audit": {"lookback_from": "has_lookback"},
    "agreed_action": {"by_when": "by_when_set"},
    "inspection": {"published_on": None},
    "placement": {"end_on": "ended"},
    "review_action": {"due_on": "due_set"},
}


@cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped with the engine: ``rule``, ``params``, ``catalogue``, ``case``."""
    text = resources.files("engine").joinpath("schema", f"{name}.schema.json").read_text()
    return dict(json.loads(text))


def schema_errors(document: Document, schema_name: str) -> list[RulesError]:
    """Every schema violation in ``document``, each with its line."""
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    found = sorted(validator.iter_errors(document.data), key=lambda e: list(e.absolute_path))
    problems: list[RulesError] = []
    for error in found:
        telling = _most_telling(error)
        where = document.location(_problem_path(telling))
        problems.append(RuleParseError(str(telling.message), where))
    return problems


def _most_telling(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For ``oneOf`` / ``anyOf``, the problem in the branch that came closest to
    matching, followed down nested alternatives; the error itself otherwise.

    Closest = fewest alternative-defining keys missing (a branch whose
    ``required`` key is absent was clearly not meant), then fewest errors. The
    returned error's own path is used for the line, so a problem deep inside
    ``when: {all: [...]}`` is reported where it is, not at ``when``."""
    if not error.context:
        return error
    branches: dict[object, list[jsonschema.ValidationError]] = {}
    for sub in error.context:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(branch, []).append(sub)
    closest = min(branches.values(),
                  key=lambda subs: (sum(s.validator == "required" for s in subs), len(subs)))
    # An unexpected key says more than the "too many properties" it also causes.
    unexpected = [s for s in closest if s.validator == "additionalProperties"]
    best = unexpected[0] if unexpected else jsonschema.exceptions.best_match(closest)
    return _most_telling(best) if best is not None else error


def _problem_path(error: jsonschema.ValidationError) -> PathKey:
    """Where ``error`` is in the document; for an unexpected key, the key itself
    (the enclosing mapping may start many lines earlier)."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict) \
            and isinstance(error.schema, dict):
        known = error.schema.get("properties", {})
        unexpected = [key for key in error.instance if key not in known]
        if unexpected:
            return (*path, unexpected[0])
    return path


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a folder, in a stable order."""
    return sorted(
        path for path in directory.rglob("*.yaml")
        if path.name not in (PARAMS_FILE, CATALOGUE_FILE)
        and TESTS_DIR not in path.relative_to(directory).parts[:-1]
    )


def load_ruleset(directory: str | Path) -> Ruleset:
    """Load and check a whole rules folder; every problem found is reported at once."""
    root = Path(directory)
    if not root.is_dir():
        raise RuleParseError("not a rules folder", Location(str(root)))
    errors: list[RulesError] = []
    params_doc = _read(root / PARAMS_FILE, root, "params", errors)
    catalogue_doc = _read(root / CATALOGUE_FILE, root, "catalogue", errors)
    rule_docs = [_read(path, root, "rule", errors) for path in rule_files(root)]
    errors += _unread_yaml(root)
    if errors:
        raise RuleParseErrors(errors)
    assert params_doc and catalogue_doc
    errors += _band_order(params_doc) + _catalogue_repeats(catalogue_doc)
    params: dict[str, Any] = params_doc.data
    catalogue, titles = _catalogue(catalogue_doc.data)
    field_values = _field_values(catalogue)
    rules = []
    for document in rule_docs:
        assert document is not None
        try:
            rules.append(_build_rule(document, params, field_values))
        except RulesError as exc:
            errors.append(exc)
    id_lines = {d.file: d.lines.get(("id",), 1) for d in rule_docs if d is not None}
    errors += _duplicate_ids(rules, id_lines)
    if errors:
        raise RuleParseErrors(errors)
    return Ruleset(
        version=_version(root, [params_doc, catalogue_doc, *rule_docs]),
        rules=tuple(sorted(rules, key=lambda r: _rule_order(r.rule_id))),
        params=params, catalogue=catalogue, catalogue_titles=titles, directory=str(root),
    )


def _read(path: Path, root: Path, schema_name: str, errors: list[RulesError]) -> Document | None:
    # Messages name the file as the user can open it: under the folder as they named it.
    display = str(path)
    if not path.exists():
        errors.append(RuleParseError("file is missing", Location(display)))
        return None
    try:
        document = load(path, display)
    except RulesError as exc:
        errors.append(exc)
        return None
    if document.data is None:
        errors.append(RuleParseError("file is empty", Location(display, 1)))
        return None
    problems = schema_errors(document, schema_name)
    errors.extend(problems)
    return None if problems else document


def _unread_yaml(root: Path) -> list[RulesError]:
    """A ``.yml`` file in the folder: only ``.yaml`` files are read, and a rule (or
    test case) silently left out would look like a rule that never fires. Hidden
    files and folders are not the rules' (``.github/workflows/ci.yml`` of a rules
    folder kept as its own repository)."""
    return [
        RuleParseError("not read: rule, params and test files must end in .yaml",
                       Location(str(path)))
        for path in sorted(root.rglob("*.yml"))
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]


def _band_order(params: Document) -> list[RulesError]:
    """``lens_bands`` must be highest first: a score takes the first band it
    reaches, so a band listed below a lower (or equal) one would never be given."""
    bands = params.data["lens_bands"]
    return [
        RuleCompileError(f"lens_bands must be listed highest min_score first: "
                         f"{later['min_score']} comes after {earlier['min_score']}",
                         params.location(("lens_bands", index, "min_score")))
        for index, (earlier, later) in enumerate(itertools.pairwise(bands), start=1)
        if later["min_score"] >= earlier["min_score"]
    ]


def _catalogue_repeats(catalogue: Document) -> list[RulesError]:
    """A lens listed twice (its first areas would silently be dropped) or an area
    listed twice under one lens (no review could then be evaluated)."""
    problems: list[RulesError] = []
    lenses: set[str] = set()
    for i, entry in enumerate(catalogue.data["lenses"]):
        if entry["lens"] in lenses:
            problems.append(RuleCompileError(f"lens {entry['lens']} is listed twice",
                                             catalogue.location(("lenses", i, "lens"))))
        lenses.add(entry["lens"])
        codes: set[str] = set()
        for j, area in enumerate(entry["areas"]):
            if area["code"] in codes:
                problems.append(RuleCompileError(
                    f"area {area['code']} is listed twice under {entry['lens']}",
                    catalogue.location(("lenses", i, "areas", j, "code"))))
            codes.add(area["code"])
    return problems


def _rule_order(rule_id: str) -> tuple[int, str]:
    prefixes = ["GC", "MO", "ES", "LS"]
    prefix = rule_id[:2]
    return (prefixes.index(prefix) if prefix in prefixes else len(prefixes), rule_id)


def _duplicate_ids(rules: list[Rule], id_lines: Mapping[str, int]) -> list[RulesError]:
    """A rule id defined twice, reported at the second file's ``id:`` line
    (``id_lines``: file -> line), which is not always the first line."""
    seen: dict[str, str] = {}
    errors: list[RulesError] = []
    for rule in rules:
        if rule.rule_id in seen:
            errors.append(RuleCompileError(
                f"rule id {rule.rule_id} is also defined in {seen[rule.rule_id]}",
                Location(rule.source, id_lines.get(rule.source, 1)),
            ))
        seen[rule.rule_id] = rule.source
    return errors


def _version(root: Path, documents: list[Document | None]) -> str:
    """A digest of the files' names and contents. A file is named by the folder's own
    name and its path inside it, so a copy of the folder under the same name,
    wherever it is, has the same version."""
    digest = hashlib.sha256()
    folder = root.resolve().name
    for document in documents:
        assert document is not None
        digest.update(f"{folder}/{Path(document.file).relative_to(root)}".encode())
        digest.update(json.dumps(document.data, sort_keys=True, default=str).encode())
    return f"rules-{digest.hexdigest()[:12]}"


def _catalogue(data: Mapping[str, Any]) -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, str], str]]:
    catalogue: dict[str, tuple[str, ...]] = {}
    titles: dict[tuple[str, str], str] = {}
    for entry in data["lenses"]:
        catalogue[entry["lens"]] = tuple(area["code"] for area in entry["areas"])
        for area in entry["areas"]:
            titles[(entry["lens"], area["code"])] = area["title"]
    return catalogue, titles


# ------------------------------------------------------------ rule building


class _RuleBuilder:
    """Turns one schema-valid rule document into a :class:`Rule`."""

    def __init__(self, document: Document, params: Mapping[str, Any],
                 field_values: Mapping[tuple[str, str], frozenset[str]]) -> None:
        self.document = document
        self.params = params
        self.params_used: list[str] = []
        self.field_values = field_values  # (kind, field) -> the values it can hold

    def error(self, message: str, path: PathKey) -> RuleCompileError:
        return RuleCompileError(message, self.document.location(path))

    def resolve(self, value: Any, path: PathKey = ()) -> Any:
        """Substitute ``{param: NAME}`` with the parameter's value."""
        if isinstance(value, dict) and "param" in value:
            name = value["param"]
            if name not in self.params:
                raise self.error(f"unknown parameter {name!r} (not in {PARAMS_FILE})", path)
            if name not in self.params_used:
                self.params_used.append(name)
            return self.params[name]
        return value

    def build(self) -> Rule:
        data = self.document.data
        if "triggers" in data:
            triggers = tuple(
                self.trigger(t, ("triggers", i)) for i, t in enumerate(data["triggers"])
            )
        else:
            triggers = (self.trigger(data, ()),)
        return Rule(
            rule_id=data["id"], title=data["title"], lens=data["lens"],
            severity=data.get("severity"), framework_ref=data["framework_ref"],
            description=" ".join(data["description"].split()), triggers=triggers,
            source=self.document.file, params_used=tuple(self.params_used),
        )

    def trigger(self, data: Mapping[str, Any], path: PathKey) -> Trigger:
        kind = data["applies_to"]
        condition = self.condition(data["when"], kind, (*path, "when"))
        because = tuple(
            self.because(name, value, kind, (*path, "because", name))
            for name, value in (data.get("because") or {}).items()
        )
        names = {item.name for item in because}
        message = data.get("message")
        if message is not None:
            self.template(message, kind, names, (*path, "message"))
        actions = tuple(
            self.action(a, kind, names, (*path, "actions", i))
            for i, a in enumerate(data.get("actions") or [])
        )
        if message is None and not actions:
            raise self.error("a trigger needs a message (a finding) or actions", path)
        if message is not None and self.document.data.get("severity") is None:
            raise self.error("a rule whose trigger gives a finding needs a severity", path)
        for i, action in enumerate(actions):
            self._check_due_is_set(action.due, kind, condition, (*path, "actions", i, "due"))
        if kind == "open_action":
            self._check_swept(condition, (*path, "when"))
        return Trigger(kind, condition, message, because, actions)

    def _check_swept(self, condition: conditions.Condition, path: PathKey) -> None:
        """An ``open_action`` rule must require what the sweep passes (see
        :data:`facts.SWEPT_ACTION_KINDS`): else it could never fire on the server."""
        kinds = ", ".join(sorted(facts.SWEPT_ACTION_KINDS))
        if not _requires(condition, "kind", _names_swept_kinds):
            raise self.error(f"the sweep passes only open actions of kind {kinds}: the "
                             "condition needs {field: kind, eq: ...} or {field: kind, in: "
                             "[...]} naming only those", path)
        if not _requires(condition, "days_overdue", _needs_overdue):
            raise self.error("the sweep passes only open actions past due: the condition "
                             "needs {field: days_overdue, gt: 0} (or a later day)", path)

    def _check_due_is_set(self, due: DueSpec, kind: str, condition: conditions.Condition,
                          path: PathKey) -> None:
        """A due date may only start from a date the fact may leave unset (see
        :data:`OPTIONAL_DATES`) when the condition requires it to be set."""
        base = due.base
        if isinstance(base, DueSpec):
            self._check_due_is_set(base, kind, condition, path)
            return
        if base not in OPTIONAL_DATES.get(kind, {}):
            return
        flag = OPTIONAL_DATES[kind][base]
        if flag is None:
            raise self.error(f"field {base!r} may be unset, so it cannot start a due date", path)
        if not _requires_true(condition, flag):
            raise self.error(f"field {base!r} may be unset: a due date from it needs "
                             f"{{field: {flag}, eq: true}} in the condition", path)

    def condition(self, node: Mapping[str, Any], kind: str, path: PathKey) -> conditions.Condition:
        self._check_condition(node, kind, path)
        return conditions.parse(node, lambda value: self.resolve(value, path))

    def _check_condition(self, node: Mapping[str, Any], kind: str, path: PathKey) -> None:
        for mode in ("all", "any", "none"):
            if mode in node:
                for i, item in enumerate(node[mode]):
                    self._check_condition(item, kind, (*path, mode, i))
                return
        op = next(key for key in node if key in conditions.OPERATORS)
        value = self.resolve(node[op], (*path, op))
        if op in conditions.MEMBERSHIP and not isinstance(value, list):
            raise self.error(f"'{op}' needs a list, parameter gives {value!r}", (*path, op))
        if op not in conditions.MEMBERSHIP and isinstance(value, (list, dict)):
            raise self.error(f"'{op}' needs a single value, got {value!r}", (*path, op))
        if "field" in node:
            name = self.field(kind, node["field"], conditions_only=True, path=(*path, "field"))
            subject, subject_type = f"field {name!r}", facts.KINDS[kind][name]
            self._check_enumerated(kind, name, node[op], value, (*path, op))
        else:
            function = "count" if "count" in node else "share"
            self.aggregate(node[function], kind, (*path, function), function)
            subject, subject_type = f"a {function}", "num"
        self._check_operand(subject, subject_type, op, node[op], value, (*path, op))

    def _check_enumerated(self, kind: str, name: str, written: Any, value: Any,
                          path: PathKey) -> None:
        """A value compared with an enumerated field must be one it can hold: a
        misspelt grade would make the test silently never (or, with ``ne``, always) hold."""
        allowed = self.field_values.get((kind, name))
        if allowed is None:
            return
        given = (f" (from parameter {written['param']!r} in {PARAMS_FILE})"
                 if isinstance(written, dict) and "param" in written else "")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item not in allowed:
                raise self.error(f"field {name!r} of {kind!r} is never {item!r}{given}; it is "
                                 f"one of {', '.join(sorted(allowed))}", path)

    def _check_operand(self, subject: str, subject_type: str, op: str, written: Any,
                       value: Any, path: PathKey) -> None:
        """The value compared with a field (or a count/share) must be of its type:
        a parameter of the wrong type would make the test silently never hold."""
        if op in _ORDERING and subject_type != "num":
            raise self.error(f"'{op}' compares numbers; {subject} is a {subject_type}", path)
        from_param = isinstance(written, dict) and "param" in written
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, float) and not math.isfinite(item):
                # durable refuses infinity (the whole ruleset) and nothing equals NaN.
                raise self.error(f"{subject} cannot be compared with {item!r}: "
                                 "not a finite number", path)
            if _value_type(item) != subject_type:
                given = f"parameter {written['param']!r} in {PARAMS_FILE}" if from_param \
                    else "the value"
                raise self.error(f"{subject} is a {subject_type}, but {given} is {item!r}, "
                                 f"a {_value_type(item)}", path)

    def aggregate(self, node: Mapping[str, Any], kind: str, path: PathKey, function: str) -> str:
        collection = node["of"]
        if "among" in node and function != "share":
            # Only a share has a denominator; a count or list would silently ignore it.
            raise self.error(f"'among' belongs to a share; a {function} takes 'where' only",
                             (*path, "among"))
        item_kind = facts.COLLECTIONS.get(kind, {}).get(collection)
        if item_kind is None:
            known = ", ".join(facts.COLLECTIONS.get(kind, {})) or "none"
            raise self.error(
                f"facts of kind {kind!r} have no collection {collection!r} (known: {known})",
                (*path, "of"),
            )
        for part in ("where", "among"):
            if part in node:
                self._check_condition(node[part], item_kind, (*path, part))
                self._no_nested_aggregates(node[part], (*path, part))
        return item_kind

    def _no_nested_aggregates(self, node: Mapping[str, Any], path: PathKey) -> None:
        for mode in ("all", "any", "none"):
            if mode in node:
                for i, item in enumerate(node[mode]):
                    self._no_nested_aggregates(item, (*path, mode, i))
                return
        if "field" not in node:
            raise self.error("count/share cannot be nested inside where/among", path)

    def field(self, kind: str, name: str, path: PathKey, conditions_only: bool = False,
              wanted: str | None = None) -> str:
        kind_fields = facts.KINDS[kind]
        if name not in kind_fields:
            raise self.error(
                f"facts of kind {kind!r} have no field {name!r} "
                f"(known: {', '.join(sorted(kind_fields))})", path,
            )
        field_type = kind_fields[name]
        if conditions_only and field_type not in facts.CONDITION_TYPES:
            raise self.error(f"field {name!r} is a {field_type}; conditions take str, num, bool",
                             path)
        if wanted and field_type != wanted:
            raise self.error(f"field {name!r} is a {field_type}, a {wanted} is needed", path)
        self._uses_field(kind, name)
        return name

    def _uses_field(self, kind: str, name: str) -> None:
        """Count the parameters a field is computed with (``facts.FIELD_PARAMS``) as the
        rule's: ``lenses explain`` lists them, and changing one changes the rule."""
        for param in facts.FIELD_PARAMS.get((kind, name), ()):
            if param not in self.params_used:
                self.params_used.append(param)

    def because(self, name: str, value: Any, kind: str, path: PathKey) -> BecauseItem:
        if isinstance(value, str):
            return BecauseItem(name, "field", field_name=self.field(kind, value, path))
        if "param" in value:
            return BecauseItem(name, "value", value=self.resolve(value, path))
        function = "count" if "count" in value else "list"
        item_kind = self.aggregate(value[function], kind, (*path, function), function)
        aggregate = conditions.Aggregate(
            "count", value[function]["of"],
            self._parse_optional(value[function].get("where")),
        )
        if function == "count":
            return BecauseItem(name, "count", aggregate=aggregate)
        shown = self.field(item_kind, value["show"], (*path, "show"))
        return BecauseItem(name, "list", field_name=shown, aggregate=aggregate)

    def _parse_optional(self, node: Mapping[str, Any] | None) -> conditions.Condition | None:
        return None if node is None else conditions.parse(node, self.resolve)

    def template(self, text: str, kind: str, because: set[str], path: PathKey) -> None:
        """Placeholders must be plain names of fact fields or ``because`` entries."""
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise self.error(f"bad template: {exc}", path) from exc
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if spec or conversion or name not in facts.KINDS[kind] and name not in because:
                raise self.error(
                    f"template placeholder {{{name}}} is not a field of {kind!r} "
                    "or a 'because' name", path,
                )
            if name not in because:
                self._uses_field(kind, name)

    def due(self, node: Mapping[str, Any], kind: str, path: PathKey) -> DueSpec:
        op = next(iter(node))
        base_node = node[op]
        if isinstance(base_node, str):
            base: str | DueSpec = self.field(kind, base_node, (*path, op), wanted="date")
        else:
            base = self.due(base_node, kind, (*path, op))
        amount_key = {"working_days_after": "days", "days_after": "days",
                      "months_after": "months"}.get(op)
        amount = 0
        if amount_key:
            amount = self.resolve(node[amount_key], (*path, amount_key))
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise self.error(f"{amount_key} must be a whole number >= 0, got {amount!r}",
                                 (*path, amount_key))
        return DueSpec(op, base, amount)

    def action(self, node: Mapping[str, Any], kind: str, because: set[str],
               path: PathKey) -> ActionSpec:
        owner_id = node.get("owner_id")
        if owner_id:
            self.field(kind, owner_id, (*path, "owner_id"))
        elif not node.get("owner_role"):
            raise self.error("an action needs an owner: owner_role, owner_id or both", path)
        escalated_from = node.get("escalated_from")
        if escalated_from:
            self.field(kind, escalated_from, (*path, "escalated_from"))
        self.field(kind, node["subject"]["id"], (*path, "subject", "id"))
        self.template(node["detail"], kind, because, (*path, "detail"))
        self.template(node["key"], kind, because, (*path, "key"))
        return ActionSpec(
            kind=node["kind"], owner_role=node.get("owner_role"), owner_id_field=owner_id,
            due=self.due(node["due"], kind, (*path, "due")),
            subject_type=node["subject"]["type"], subject_id_field=node["subject"]["id"],
            detail=" ".join(node["detail"].split()), key=node["key"],
            escalated_from_field=escalated_from,
        )


def _requires_true(condition: conditions.Condition, flag: str) -> bool:
    """True when ``condition`` can only hold if the bool field ``flag`` is true."""
    return _requires(condition, flag, lambda test: not conditions.predicate(test)({flag: False}))


def _requires(condition: conditions.Condition, name: str,
              enough: Callable[[conditions.Test], bool]) -> bool:
    """True when ``condition`` can only hold if a test of field ``name`` that
    ``enough`` accepts holds (one such test under ``all``; one in each ``any`` branch)."""
    if isinstance(condition, conditions.Test):
        return condition.subject == name and enough(condition)
    if condition.mode == "all":
        return any(_requires(item, name, enough) for item in condition.items)
    return all(_requires(item, name, enough) for item in condition.items)


def _names_swept_kinds(test: conditions.Test) -> bool:
    """``kind eq K`` or ``kind in [...]``, naming only kinds the sweep passes."""
    if test.op not in ("eq", "in"):
        return False
    named = test.value if isinstance(test.value, tuple) else (test.value,)
    return bool(named) and all(value in facts.SWEPT_ACTION_KINDS for value in named)


def _needs_overdue(test: conditions.Test) -> bool:
    """A test of ``days_overdue`` that fails on every day not past due (0 or less)."""
    values = test.value if isinstance(test.value, tuple) else (test.value,)
    if not all(type(v) in (int, float) for v in values):
        return False
    if test.op in ("in", "eq", "gte"):
        return all(v > 0 for v in values)  # type: ignore[operator]
    return test.op == "gt" and values[0] >= 0  # type: ignore[operator]


def _value_type(value: Any) -> str:
    """A literal's type in the terms of :data:`facts.KINDS`: ``num``, ``str`` or ``bool``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def _build_rule(document: Document, params: Mapping[str, Any],
                field_values: Mapping[tuple[str, str], frozenset[str]]) -> Rule:
    return _RuleBuilder(document, params, field_values).build()


def _field_values(catalogue: Mapping[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    """(kind, field) -> the values an enumerated field can hold: ``facts.FIELD_VALUES``,
    and judgement areas from this folder's catalogue."""
    values = {(kind, name): allowed for kind, fields in facts.FIELD_VALUES.items()
              for name, allowed in fields.items()}
    areas = frozenset(area for lens_areas in catalogue.values() for area in lens_areas)
    values.update({key: areas for key in facts.CATALOGUE_AREA_FIELDS})
    return values

