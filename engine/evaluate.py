"""Evaluate inputs against a loaded ruleset: facts -> durable -> findings and actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import conditions, effects, facts, scoring
from .compiler import KIND_FIELD, CompiledRuleset, compile_ruleset
from .durable_runner import DurableSession
from .errors import InputError
from .facts import Fact
from .loader import load_ruleset
from .model import (
    LENSES,
    ActionIntent,
    Audit,
    AuditHistory,
    Evaluation,
    Finding,
    InspectionInput,
    PlacementInput,
    PlanRating,
    ReviewInput,
    ServiceReview,
    SweepInput,
)
from .ruleset import Ruleset

# Drafts and callers without history: one shared empty history (it is never changed).
_NO_HISTORY = AuditHistory()

# (rule id, trigger index, fact id): one trigger of one rule fired on one fact.
Firing = tuple[str, int, str]


def render(ruleset: Ruleset, fact_list: list[Fact], firings: Iterable[Firing],
           with_actions: bool = True) -> tuple[list[Finding], list[ActionIntent]]:
    """Findings and actions for a set of firings, in rule order then fact order."""
    fact_index = {fact.fact_id: (i, fact) for i, fact in enumerate(fact_list)}
    rule_index = {rule.rule_id: (i, rule) for i, rule in enumerate(ruleset.rules)}
    ordered = sorted(
        set(firings), key=lambda f: (rule_index[f[0]][0], f[1], fact_index[f[2]][0])
    )
    found: list[Finding] = []
    intents: list[ActionIntent] = []
    for rule_id, trigger_index, fact_id in ordered:
        rule = rule_index[rule_id][1]
        trigger = rule.triggers[trigger_index]
        fact = fact_index[fact_id][1]
        finding = effects.finding(rule, trigger, fact)
        if finding is not None:
            found.append(finding)
        if with_actions:
            intents.extend(effects.actions(rule, trigger, fact))
    return found, intents


# A fact kind's derived fields: (field name, collection, function of the collection).
Derivers = dict[str, tuple[tuple[str, str, Callable[[list[dict[str, Any]]], float]], ...]]


class RulesEngine:
    """A ruleset compiled into durable_rules, ready to evaluate any input kind.

    What does not change between evaluations is worked out here, once: the
    order findings are given in, what each finding depends on, and the
    derived-field functions. ``render_cache`` keeps rendered findings (see
    ``effects.FindingCache``); ``render_cache_size`` bounds it.
    """

    def __init__(self, ruleset: Ruleset, render_cache_size: int = 4096) -> None:
        self.ruleset = ruleset
        self.compiled = compile_ruleset(ruleset)
        self._session = DurableSession(self.compiled)
        self.render_cache = effects.FindingCache(render_cache_size)
        self._recipes, self._step_of = _steps(ruleset, self.compiled)
        self._derivers = _derivers(self.compiled)

    @classmethod
    def from_directory(cls, directory: str | Path) -> RulesEngine:
        """Load, check and compile a rules folder."""
        return cls(load_ruleset(directory))

    @property
    def params(self) -> Any:
        """The loaded parameters."""
        return self.ruleset.params

    def _fire(self, fact_list: list[Fact]) -> set[tuple[str, str]]:
        """(durable rule name, fact id) of every trigger that fired."""
        # Fresh dicts made for this run only: the runner need not copy them again.
        return self._session.run_batch(self.asserted_records(fact_list))

    def asserted_records(self, fact_list: list[Fact]) -> list[dict[str, Any]]:
        """What durable is given for these facts: each fact's id, kind and the fields
        rules test, with the derived (aggregate) fields computed into the facts first."""
        projected = self.compiled.projected
        derivers = self._derivers
        batch = []
        for fact in fact_list:
            kind, fields = fact.kind, fact.fields
            if kind in derivers:
                for name, collection, compute in derivers[kind]:
                    fields[name] = compute(fact.collections.get(collection, []))
            record = {name: fields[name] for name in projected.get(kind, ())}
            record["id"] = fact.fact_id
            record[KIND_FIELD] = kind
            batch.append(record)
        return batch

    def _render(self, fact_list: list[Fact], fired: set[tuple[str, str]],
                with_actions: bool) -> tuple[list[Finding], list[ActionIntent]]:
        """As ``render`` (same findings and actions, same order), findings from the cache.

        A step is a trigger's place in rule order, so sorting (step, fact
        position) pairs gives ``render``'s order: rule, trigger, then fact.
        """
        position = {fact.fact_id: i for i, fact in enumerate(fact_list)}
        step_of = self._step_of
        found: list[Finding] = []
        intents: list[ActionIntent] = []
        for step, index in sorted([(step_of[name], position[fact_id]) for name, fact_id in fired]):
            recipe = self._recipes[step]
            trigger, fact = recipe.trigger, fact_list[index]
            if trigger.message is not None:
                found.append(self.render_cache.finding(recipe, fact))
            if with_actions and trigger.actions:
                intents.extend(effects.actions(recipe.rule, trigger, fact))
        return found, intents

    def _run(self, fact_list: list[Fact], with_actions: bool = True, **extra: Any) -> Evaluation:
        found, intents = self._render(fact_list, self._fire(fact_list), with_actions)
        return Evaluation(tuple(found), tuple(intents), self.ruleset.version, **extra)

    def evaluate_audit(self, audit: Audit, history: AuditHistory | None = None) -> Evaluation:
        """GC-01..GC-18, MO-01, ES-01, ES-03. Drafts get findings only, no history."""
        if not audit.completed or history is None:
            history = _NO_HISTORY
        fact_list = facts.audit_facts(audit, history, self.params)
        return self._run(fact_list, with_actions=audit.completed,
                         effective_grade=audit.effective_grade)

    def evaluate_inspection(self, data: InspectionInput) -> Evaluation:
        """ES-04, ES-07."""
        return self._run(facts.inspection_facts(data))

    def evaluate_placement(self, data: PlacementInput) -> Evaluation:
        """ES-05, ES-06."""
        return self._run(facts.placement_facts(data))

    def evaluate_plan_rating(self, rating: PlanRating) -> Evaluation:
        """ES-08 (the response to a red plan)."""
        return self._run(facts.plan_rating_facts(rating))

    def evaluate_review(self, data: ReviewInput) -> Evaluation:
        """Lens scores and LS-01..LS-07."""
        self.check_review_areas(data)
        lenses = [lens for lens in LENSES if lens in self.ruleset.catalogue]
        lens_scores, overall = scoring.score_review(data.review.judgements, lenses, self.params)
        fact_list = facts.review_facts(data, self.ruleset.catalogue, [*lens_scores, overall])
        return self._run(fact_list, lens_scores=tuple(lens_scores), overall=overall)

    def check_review_areas(self, data: ReviewInput) -> None:
        """Every judgement area must be in the catalogue, under its lens, once;
        raises ``InputError`` listing every problem otherwise."""
        problems = self.review_area_problems(data.review)
        if problems:
            raise InputError("; ".join(f"judgements[{i}]: {problem}" for i, problem in problems))

    def review_area_problems(self, review: ServiceReview) -> list[tuple[int, str]]:
        """(judgement index, problem) for each judgement whose area is not in the
        catalogue under its lens, or is judged twice; empty when all is well."""
        problems: list[tuple[int, str]] = []
        seen: set[tuple[str, str]] = set()
        for i, judgement in enumerate(review.judgements):
            key = (judgement.lens, judgement.judgement_area)
            if judgement.judgement_area not in self.ruleset.catalogue.get(judgement.lens, ()):
                problems.append((i, f"{judgement.judgement_area!r} is not a judgement area of "
                                    f"{judgement.lens} in the catalogue"))
            elif key in seen:
                problems.append((i, f"{judgement.judgement_area!r} judged twice"))
            seen.add(key)
        return problems

    def evaluate_sweep(self, data: SweepInput) -> Evaluation:
        """ES-02, ES-08 (overdue responses), LS-08 at ``as_of``."""
        latest: dict[str, Any] = {}
        for panel in data.panels:
            if panel.service_area not in latest or panel.panel_on > latest[panel.service_area].panel_on:
                latest[panel.service_area] = panel
        unique = SweepInput(data.as_of, data.open_actions, tuple(latest.values()))
        return self._run(facts.sweep_facts(unique))


def _steps(
    ruleset: Ruleset, compiled: CompiledRuleset
) -> tuple[list[effects.FindingRecipe], dict[str, int]]:
    """Every trigger's recipe in rule order, and each durable rule's place in that list."""
    recipes: list[effects.FindingRecipe] = []
    place: dict[tuple[str, int], int] = {}
    for rule in ruleset.rules:
        for index, trigger in enumerate(rule.triggers):
            place[(rule.rule_id, index)] = len(recipes)
            recipes.append(effects.FindingRecipe.of(rule, trigger))
    step_of = {name: place[(b.rule_id, b.trigger)] for name, b in compiled.bindings.items()}
    return recipes, step_of


def _derivers(compiled: CompiledRuleset) -> Derivers:
    return {
        kind: tuple(
            (name, spec.collection, conditions.compile_aggregate(spec))
            for name, spec in aggregates.items()
        )
        for kind, aggregates in compiled.derived.items()
    }
