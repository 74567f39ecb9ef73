"""``make bench``: figures and ratios measured side by side in one run.

Never fails on speed. One line per figure: ``name value unit``. The engine
part compares, on the same audits and the same compiled ruleset, in five
rounds (each rate is the best round; the ratios against the raw baselines are
the median of the rounds' ratios, each round's printed too). Within a round
the workloads take turns a hundred audits at a time, so the speed of this
shared machine, which comes and goes within seconds, touches each alike:

- ``engine``: ``RulesEngine.evaluate_audit`` (facts, durable, findings, actions),
  each round from an empty render cache (``render_cache_hit_rate``: the share
  of findings the cache answered within one round);
- ``raw_durable``: the same facts, already built, asserted into durable_rules
  directly (same compiled ruleset, every result read), with JSON written and
  read by the standard library as durable's own Python host does;
- ``raw_durable_orjson``: the same with orjson, as our runner uses it. Our
  runner's codec is faster than durable's own, so ``ratio_engine_vs_raw``
  counts that gain in the layer's favour; ``ratio_engine_vs_raw_orjson`` is
  the layer's cost without it. Both are printed; neither hides the other;
- ``raw_durable_orjson_no_seen``: as ``raw_durable_orjson`` with the rules only,
  without the "seen" rule of each fact kind that the compiler adds for our
  accounting. The two baselines above keep those rules, so the ratios against
  them count durable's work for the accounting as durable's, not the layer's;
  this one counts it as the layer's (the strictest of the three);
- ``runner_only``: the same facts through our durable wrapper (adds the
  accounting of every fact);
- ``reference``: the plain-Python reference evaluator of the tests, run on its
  own after the rounds (3 runs; its ratio is best against best).

(The benchmark imports durable_rules itself only to build the raw baseline.)
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

import orjson

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


Work = Callable[[int, int], object]  # runs the workload on items [lo, hi)
CHUNK = 100  # items a workload runs before the next one takes its turn


def timed_rates(count: int, runs: dict[str, tuple[Work, Callable[[], object] | None]],
                rounds: int = 5) -> dict[str, list[float]]:
    """Each workload's rate in every round, in items per second.

    In a round the workloads take turns, CHUNK items at a time, and each one's
    time is the sum of its turns: a slow spell of this shared machine (they
    last seconds) then falls on every workload alike, rather than on whichever
    ran through it, and the ratios of one round hold still. ``runs`` maps a
    label to (work, before); ``before`` runs untimed at the start of each round
    (e.g. to empty a cache). Prints each workload's best round.
    """
    measured: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(rounds):
        for _, before in runs.values():
            if before is not None:
                before()
        gc.collect()  # no round pays for the garbage of the one before
        elapsed = dict.fromkeys(runs, 0.0)
        for lo in range(0, count, CHUNK):
            hi = min(lo + CHUNK, count)
            for label, (work, _) in runs.items():
                start = time.perf_counter()
                work(lo, hi)
                elapsed[label] += time.perf_counter() - start
        for label, seconds in elapsed.items():
            measured[label].append(count / seconds)
    for label, values in measured.items():
        print(f"{label} {max(values):.0f} audits/s", flush=True)
    return measured


def print_ratio(name: str, numerator: list[float], denominator: list[float]) -> None:
    """The median of the per-round ratios, and their spread as a comment.

    Two workloads of one round ran turn about, so their ratio is steadier
    on a noisy machine than a ratio of two bests that may come from
    different rounds.
    """
    ratios = sorted(a / b for a, b in zip(numerator, denominator, strict=True))
    print(f"{name} {statistics.median(ratios):.2f} x")
    print(f"# {name} per round: {', '.join(f'{r:.2f}' for r in ratios)}")


def bench_engine(count: int) -> None:
    from engine import evaluate as evaluate_module

    # Which engine is measured: ``make bench`` installs, and so compiles it (make install).
    compiled = not str(evaluate_module.__file__).endswith(".py")
    print(f"# engine: {'compiled with mypyc' if compiled else 'plain Python (not compiled)'}")
    engine = RulesEngine.from_directory(RULES)
    audits = sample_audits(count)
    empty = AuditHistory()
    batches = [engine.asserted_records(audit_facts(a, empty, engine.params)) for a in audits]

    def evaluate(lo: int, hi: int) -> None:
        # Results are dropped as a server drops them once sent (and as the raw
        # baseline drops what it reads): holding thousands of them would only
        # make the garbage collector walk them, a cost neither side has in service.
        for audit in audits[lo:hi]:
            engine.evaluate_audit(audit, empty)

    def runner_only(lo: int, hi: int) -> None:
        for batch in batches[lo:hi]:
            engine._session.run(batch)

    # Each round starts the engine with an empty render cache: repeated rounds over
    # the same audits must not just replay findings the previous round rendered.
    rates = timed_rates(count, {
        "engine.engine": (evaluate, engine.render_cache.clear),
        "engine.raw_durable": (_raw_native(engine, batches, json.dumps, json.loads), None),
        "engine.raw_durable_orjson": (_raw_native(engine, batches, _orjson_text, orjson.loads), None),
        "engine.raw_durable_orjson_no_seen": (
            _raw_native(engine, batches, _orjson_text, orjson.loads, with_seen_rules=False), None),
        "engine.runner_only": (runner_only, None),
    })
    print(f"engine.render_cache_hit_rate {engine.render_cache.hit_rate:.2f} fraction")
    reference = _reference_rates(engine, audits, count)
    engine_rates = rates["engine.engine"]
    print_ratio("engine.ratio_engine_vs_raw", engine_rates, rates["engine.raw_durable"])
    print_ratio("engine.ratio_engine_vs_raw_orjson", engine_rates, rates["engine.raw_durable_orjson"])
    print_ratio("engine.ratio_engine_vs_raw_orjson_no_seen", engine_rates,
                rates["engine.raw_durable_orjson_no_seen"])
    print_ratio("engine.ratio_runner_vs_raw", rates["engine.runner_only"], rates["engine.raw_durable"])
    if reference:
        print(f"engine.ratio_engine_vs_reference {max(engine_rates) / max(reference):.2f} x")


def _orjson_text(value: object) -> str:
    return orjson.dumps(value).decode()


def _raw_native(engine: RulesEngine, batches: list[list[dict]], dumps: Callable[[object], str],
                loads: Callable[[str], object], with_seen_rules: bool = True) -> Work:
    """The same compiled ruleset and facts through the bare native calls: assert the
    batch, read every result, delete the state. No fact building, no accounting,
    no rendering. (durable's own ``Host.assert_facts`` is not used: followed by
    ``delete_state`` it ran only the first action of each batch here.)

    ``raw_durable`` encodes and parses with the standard library's ``json``, as
    durable's own Python host does; ``raw_durable_orjson`` with orjson, as our
    runner does: the stricter baseline, for the layer's cost without the gain
    of the faster codec. Without ``with_seen_rules`` the ruleset lacks the
    "seen" rules our accounting adds (the facts still match every rule they did).
    """
    import durable_rules_engine as native  # the baseline only

    definition = engine.compiled.definition
    if not with_seen_rules:
        definition = {name: rule for name, rule in definition.items()
                      if name not in engine.compiled.seen_rules}
    handle = native.create_ruleset(f"bench_raw_{id(batches)}_{id(dumps)}_{with_seen_rules}",
                                   json.dumps(definition))
    counter = iter(range(10**9))

    def work(lo: int, hi: int) -> None:
        for batch in batches[lo:hi]:
            sid = f"r{next(counter)}"
            _, state = native.assert_facts(handle, dumps([dict(f, sid=sid) for f in batch]))
            result = native.start_action_for_state(handle, state)
            message = result[1] if result else None
            while message:
                loads(message)
                message = native.complete_and_start_action(handle, state)
            native.delete_state(handle, sid)

    return work


def _reference_rates(engine: RulesEngine, audits: list[Audit], count: int) -> list[float]:
    try:
        from tests import reference
    except ImportError:
        print("engine.reference unavailable")
        return []
    empty = AuditHistory()
    def evaluate(lo: int, hi: int) -> None:
        for audit in audits[lo:hi]:
            reference.reference_evaluate_audit(engine.ruleset, RULES, audit, empty)

    return timed_rates(count, {"engine.reference": (evaluate, None)}, rounds=3)["engine.reference"]


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
    print(f"# lenses bench — {date.today()} — engine: {count} audits per run, five interleaved rounds",
          flush=True)
    bench_engine(count)
    from tests import bench_late, bench_providers, bench_reviews, bench_service, bench_workers

    bench_service.main(quick=quick)
    bench_late.main(quick=quick)
    bench_providers.main(quick=quick)
    bench_reviews.main(quick=quick)
    bench_workers.main(quick=quick)
    bench_replay()


if __name__ == "__main__":
    main()
