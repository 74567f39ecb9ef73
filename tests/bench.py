"""``make bench``: figures and ratios measured side by side in one run.

Never fails on speed. One line per figure: ``name value unit``. The engine
part compares, on the same audits and the same compiled ruleset:

- ``engine``: ``RulesEngine.evaluate_audit`` (facts, durable, findings, actions),
  each run from an empty render cache (``render_cache_hit_rate``: the share
  of findings the cache answered within one run);
- ``raw_durable``: the same facts, already built, asserted into durable_rules
  directly (same compiled ruleset, every result read): the floor;
- ``runner_only``: the same facts through our durable wrapper (adds the
  accounting of every fact);
- ``reference``: the plain-Python reference evaluator of the tests.

(The benchmark imports durable_rules itself only to build the raw baseline.)
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

from engine import RulesEngine
from engine.facts import audit_facts
from engine.model import AREAS, AgreedAction, AreaJudgement, Audit, AuditHistory
from tests.conftest import RULES

GRADES = ("EXCEEDS_GOOD", "MEETS_GOOD", "MEETS_GOOD", "DOES_NOT_MEET_GOOD", None, "NOT_APPLICABLE")


def sample_audits(count: int, seed: int = 7) -> list[Audit]:
    """Varied, realistic audits (drafts and completed, every grade)."""
    rng = random.Random(seed)
    audits = []
    for i in range(count):
        completed_on = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        areas = tuple(
            AreaJudgement(area, rng.choice(GRADES), rng.choice(("", "Evidence seen.")),
                          rng.choice(("", "Impact on the child.")), rng.choice(("", "n/a")),
                          ("NEGLECT",) if rng.random() < 0.5 else ())
            for area in AREAS if rng.random() < 0.95
        )
        audits.append(Audit(
            audit_id=f"A{i}", revision=1, status=rng.choice(("DRAFT", "COMPLETED", "COMPLETED")),
            case_ref=f"C{i % 500}", service_area="S1", auditor_id=f"aud{i % 7}", team="T1",
            case_holder_id=f"sw{i % 11}", service_manager_id="sm1", completed_on=completed_on,
            lookback_from=completed_on - timedelta(days=rng.randrange(120, 240)),
            areas=areas, overall_grade=rng.choice(GRADES[:4]),
            agreed_actions=(AgreedAction("Do it", "sw1", completed_on + timedelta(days=30)),)
            if rng.random() < 0.6 else (),
            feedback_discussed=rng.random() < 0.8,
        ))
    return audits


def rate(label: str, count: int, work: Callable[[], object], repeat: int = 3,
         before: Callable[[], object] | None = None) -> float:
    """Best of ``repeat`` runs, in items per second; prints one line.

    ``before`` runs ahead of each run, untimed (e.g. to empty a cache).
    """
    best = 0.0
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        work()
        best = max(best, count / (time.perf_counter() - start))
    print(f"{label} {best:.0f} audits/s", flush=True)
    return best


def bench_engine(count: int) -> None:
    engine = RulesEngine.from_directory(RULES)
    audits = sample_audits(count)
    empty = AuditHistory()
    batches = []
    for audit in audits:
        batches.append(engine.asserted_records(audit_facts(audit, empty, engine.params)))

    # Each run starts with an empty render cache: repeated runs over the same
    # audits must not just replay findings the previous run rendered.
    engine_rate = rate("engine.engine", count, lambda: [engine.evaluate_audit(a, empty) for a in audits],
                       before=engine.render_cache.clear)
    print(f"engine.render_cache_hit_rate {engine.render_cache.hit_rate:.2f} fraction")
    raw_rate = rate("engine.raw_durable", count, _raw_native(engine, batches))
    runner_rate = rate("engine.runner_only", count,
                       lambda: [engine._session.run(batch) for batch in batches])
    reference_rate = _reference_rate(engine, audits, count)
    print(f"engine.ratio_engine_vs_raw {engine_rate / raw_rate:.2f} x")
    print(f"engine.ratio_runner_vs_raw {runner_rate / raw_rate:.2f} x")
    if reference_rate:
        print(f"engine.ratio_engine_vs_reference {engine_rate / reference_rate:.2f} x")


def _raw_native(engine: RulesEngine, batches: list[list[dict]]) -> Callable[[], object]:
    """The same compiled ruleset and facts through the bare native calls: assert the
    batch, read every result, delete the state. No fact building, no accounting,
    no rendering. (durable's own ``Host.assert_facts`` is not used: followed by
    ``delete_state`` it ran only the first action of each batch here.)"""
    import durable_rules_engine as native  # the baseline only

    handle = native.create_ruleset(f"bench_raw_{id(batches)}",
                                   json.dumps(engine.compiled.definition))
    counter = iter(range(10**9))

    def work() -> None:
        for batch in batches:
            sid = f"r{next(counter)}"
            _, state = native.assert_facts(handle, json.dumps([dict(f, sid=sid) for f in batch]))
            result = native.start_action_for_state(handle, state)
            message = result[1] if result else None
            while message:
                json.loads(message)
                message = native.complete_and_start_action(handle, state)
            native.delete_state(handle, sid)

    return work


def _reference_rate(engine: RulesEngine, audits: list[Audit], count: int) -> float:
    try:
        from tests import reference
    except ImportError:
        print("engine.reference unavailable")
        return 0.0
    empty = AuditHistory()
    return rate("engine.reference", count, lambda: [
        reference.reference_evaluate_audit(engine.ruleset, RULES, a, empty) for a in audits
    ])


def bench_replay() -> None:
    """Stored audits re-evaluated per second by ``lenses replay`` (the demo database)."""
    import tempfile

    from server import replay
    from server.demo import seed
    from server.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        seed(url, str(RULES), "2026-01")
        engine = RulesEngine.from_directory(RULES)
        store = Store(url)
        start = time.perf_counter()
        changes = store.read(lambda session: replay.replay(session, engine, engine))
        elapsed = time.perf_counter() - start
        store.close()
    print(f"replay.sqlite.audits_per_s {changes.audits / elapsed:.0f} audits/s "
          f"({changes.audits} audits, each evaluated under two rulesets)")


def main() -> None:
    """Engine, service, provider, review and worker benchmarks; ``--quick`` for a
    short run. PostgreSQL figures need LENSES_TEST_POSTGRES_URL (as for the tests)."""
    quick = "--quick" in sys.argv
    count = 500 if quick else 3000
    print(f"# lenses bench — {date.today()} — engine: {count} audits per run, best of 3", flush=True)
    bench_engine(count)
    from tests import bench_providers, bench_reviews, bench_service, bench_workers

    bench_service.main(quick=quick)
    bench_providers.main(quick=quick)
    bench_reviews.main(quick=quick)
    bench_workers.main(quick=quick)
    bench_replay()


if __name__ == "__main__":
    main()
