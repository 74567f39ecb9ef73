"""The one module that talks to durable_rules.

durable_rules 2.0.28 is unmaintained and has known crash bugs (quality.md),
so this module keeps to a narrow, checked path:

- facts of one evaluation are asserted as one batch into a fresh state
  (``sid``), and the state is deleted afterwards, so memory stays flat;
- results are read by draining the state's pending actions through the
  low-level calls, with no Python callbacks and no dispatch threads, so no
  action error can be swallowed;
- every fact must be matched by its kind's "seen" rule exactly once: a fact
  the engine dropped is caught here, retried (MAX_ATTEMPTS in all), then raised;
- a fact rejected as a duplicate (upstream #376) is retried with fresh ids;
- ``$or`` may fire a rule once per branch: firings are de-duplicated.

Batches and results cross to durable as JSON text. orjson writes and reads
it (about half of what an evaluation spends in durable was the standard
library's ``json``); a value orjson refuses (an integer beyond 64 bits, a
lone surrogate in a string) falls back to ``json``. What is not JSON (a date)
fails the evaluation as it did with ``json`` alone, and so does a number that
is not finite.

A state whose batch was reported "not handled" is never deleted: upstream,
``delete_state`` after that crashes the process.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import durable_rules_engine as _native
import orjson

from .compiler import KIND_FIELD, CompiledRuleset
from .errors import EvaluationError

_OK, _NOT_HANDLED, _OBSERVED = 0, 1, 2
MAX_ATTEMPTS = 3

Firing = tuple[str, str]  # (durable rule name, fact id)


class DurableSession:
    """A compiled ruleset registered with durable, evaluated one batch at a time."""

    def __init__(self, compiled: CompiledRuleset) -> None:
        self.compiled = compiled
        self._lock = threading.Lock()  # the native engine is not thread-safe
        self._sids = itertools.count(1)
        try:
            self._handle = _native.create_ruleset(compiled.name, json.dumps(compiled.definition))
        except Exception as exc:  # the native module raises its own error type
            raise EvaluationError(f"durable_rules refused the ruleset: {exc}") from exc

    def run(self, facts: Iterable[Mapping[str, Any]]) -> set[Firing]:
        """Assert one evaluation's facts and return every (rule, fact) that fired.

        Each fact must carry ``id`` (unique in the batch) and ``fact_kind``.
        The facts are copied: the caller's mappings are left as they were.
        """
        return self.run_batch([dict(fact) for fact in facts])

    def run_batch(self, batch: list[dict[str, Any]]) -> set[Firing]:
        """As ``run``, for a caller that built ``batch`` for this call alone.

        The dicts are used as they are, without a copy: each gets ``sid`` (and,
        on a retry, ``attempt``) added. The accounting is the same as ``run``.
        """
        if not batch:
            return set()
        ids = {fact["id"] for fact in batch}
        if len(ids) != len(batch):
            # Accounting is by id: two facts sharing one could hide a dropped fact.
            raise EvaluationError("fact ids must be unique within an evaluation")
        with self._lock:
            last_problem = ""
            for attempt in range(MAX_ATTEMPTS):
                outcome = self._attempt(batch, ids, attempt)
                if isinstance(outcome, set):
                    return outcome
                last_problem = outcome
        raise EvaluationError(f"durable_rules did not account for every fact: {last_problem}")

    def _attempt(self, batch: list[dict[str, Any]], ids: set[str], attempt: int) -> set[Firing] | str:
        sid = f"e{next(self._sids)}"
        for fact in batch:
            fact["sid"] = sid
            if attempt:  # a fresh, distinct body for facts wrongly taken as duplicates
                fact["attempt"] = attempt
        try:
            code, state_handle = _native.assert_facts(self._handle, _encode(batch))
        except Exception as exc:
            raise EvaluationError(f"durable_rules failed on assert: {exc}") from exc
        if code == _NOT_HANDLED:
            # Do not delete_state here (crashes upstream); the state is left behind.
            return "a fact matched no rule"
        if code not in (_OK, _OBSERVED):
            return f"unexpected result code {code}"
        try:
            fired, sightings = self._drain(state_handle)
        finally:
            _native.delete_state(self._handle, sid)
        problem = _unaccounted(batch, ids, sightings)
        return problem or fired

    def _drain(self, state_handle: int) -> tuple[set[Firing], list[str]]:
        """Every result of the state: the firings of real rules, and the ids of
        the facts the "seen" rules matched (one per sighting)."""
        seen_rules = self.compiled.seen_rules
        fired: set[Firing] = set()  # a set: ``$or`` may fire a rule once per branch
        sightings: list[str] = []
        try:
            result = _native.start_action_for_state(self._handle, state_handle)
            message = result[1] if result else None
            while message:
                for rule_name, frames in _decode(message).items():
                    # With ``cap`` a rule reports a list of frames; without, one frame.
                    if type(frames) is not list:
                        frames = [frames]
                    if rule_name in seen_rules:
                        sightings += [frame["m"]["id"] for frame in frames]
                    else:
                        fired.update([(rule_name, frame["m"]["id"]) for frame in frames])
                message = _native.complete_and_start_action(self._handle, state_handle)
        except Exception as exc:
            raise EvaluationError(f"durable_rules failed while reading results: {exc}") from exc
        return fired, sightings


def _unaccounted(batch: list[dict[str, Any]], ids: set[str], sightings: list[str]) -> str:
    """What is wrong with the sightings of the batch's facts ("" if each was seen once)."""
    # As many sightings as facts, and every fact among them: each was seen exactly once.
    if len(sightings) == len(ids) and ids.issubset(sightings):
        return ""
    seen: dict[str, int] = {}
    for fact_id in sightings:
        seen[fact_id] = seen.get(fact_id, 0) + 1
    missing = [f["id"] for f in batch if seen.get(f["id"]) != 1]
    if not missing:
        return f"{len(set(seen) - ids)} fact(s) seen that were not asserted"
    kinds = sorted({f[KIND_FIELD] for f in batch if f["id"] in missing})
    return f"{len(missing)} fact(s) of kind {', '.join(kinds)} not seen exactly once"


# Dates and dataclasses are not JSON: passed through, orjson refuses them as the
# standard library does, instead of writing them as strings durable would compare.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _encode(batch: list[dict[str, Any]]) -> str:
    """``batch`` as JSON text for durable.

    Raises (and the evaluation fails) on what is not JSON, as ``json.dumps``
    did, and on a number that is not finite: orjson writes those as null, which
    would silently fail every test on the field, and the standard library's
    ``Infinity`` crashes durable.
    """
    try:
        text = orjson.dumps(batch, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
        return json.dumps(batch, allow_nan=False)
    if b"null" in text:  # rare: only a None (or non-finite) value writes null
        _require_finite(batch)
    return text.decode()


def _require_finite(batch: list[dict[str, Any]]) -> None:
    for fact in batch:
        for name, value in fact.items():
            if type(value) is float and not math.isfinite(value):
                raise ValueError(f"{fact.get(KIND_FIELD)}.{name} is {value}, not a number durable can test")


def _decode(message: str) -> Any:
    """A result message from durable, parsed.

    The runner reads only fact ids, which are strings, from it. (orjson reads an
    integer of 2**64 or more as a float where ``json`` keeps it exact.)
    """
    try:
        return orjson.loads(message)
    except ValueError:  # orjson.JSONDecodeError: e.g. NaN, which only ``json`` reads
        return json.loads(message)
