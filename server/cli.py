"""The ``lenses`` command: run, test, check and explain rules locally, and serve.

Every command that reads rules takes ``--rules DIR`` (default
``$LENSES_RULES_DIR`` or ``rules``). Exit codes: 0 success, 1 a test or
check failed, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from google.protobuf import json_format
from google.protobuf.message import Message

from engine import InputError, RulesEngine, RulesError
from engine.evaluate import Evaluation
from engine.loader import CATALOGUE_FILE, PARAMS_FILE, TESTS_DIR, load_ruleset

from . import convert, inputs, rule_cases
from .clock import today_in_england
from .config import Settings, SettingsError
from .local import evaluate_record
from .migrate import NotMigrated, require_current

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .report import ReportData


def _rules_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("LENSES_RULES_DIR") or "rules")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lenses", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    evaluate = commands.add_parser("eval", help="evaluate request files with no server")
    evaluate.add_argument("files", nargs="+", type=Path)
    evaluate.add_argument("--rules", help="rules folder")
    evaluate.add_argument("--history", type=Path, help="earlier records for the history rules")
    evaluate.add_argument("--format", choices=("text", "json"), default="text")
    evaluate.add_argument("--as-of", type=_date_flag,
                          help="date that sets 'overdue' on actions (default: today)")

    test = commands.add_parser("test", help="run the rule test cases of a rules folder")
    test.add_argument("directory", nargs="?",
                      help="a folder of cases, or a rules folder (default: --rules)")
    test.add_argument("--rules", help="rules folder")
    test.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")

    check = commands.add_parser("check", help="validate rule files and parameters")
    check.add_argument("directory", nargs="?", help="rules folder (default: --rules)")
    check.add_argument("--rules", help="rules folder")

    explain = commands.add_parser("explain", help="a rule's text, parameters, source and tests")
    explain.add_argument("rule_id")
    explain.add_argument("--rules", help="rules folder")

    serve = commands.add_parser("serve", help="run the gRPC server")
    _server_flags(serve)
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--database-url", help="$LENSES_DATABASE_URL")
    report = commands.add_parser("report", help="the monthly compendium from the database")
    report.add_argument("--month", required=True, help="YYYY-MM")
    report.add_argument("--service-area", default="", help="only this service area")
    report.add_argument("--format", choices=("text", "json", "csv"), default="text")
    report.add_argument("--html", type=Path, help="also write a self-contained HTML report here")
    report.add_argument("--database-url", help="$LENSES_DATABASE_URL")
    replay = commands.add_parser("replay", help="what another rules folder would change (writes nothing)")
    replay.add_argument("--rules", required=True, help="the rules folder to try")
    replay.add_argument("--since", type=_date_flag, help="only audits completed from this date")
    replay.add_argument("--database-url", help="$LENSES_DATABASE_URL")
    demo = commands.add_parser("demo-data", help="fill a database with pseudonymous demo data")
    demo.add_argument("--month", required=True, help="YYYY-MM: the month the data leads up to")
    demo.add_argument("--database-url", help="$LENSES_DATABASE_URL")
    demo.add_argument("--rules", help="rules folder")
    sweep = commands.add_parser("sweep", help="run the escalation sweep once")
    sweep.add_argument("--as-of", type=_date_flag, required=True)
    _server_flags(sweep)
    return parser


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", help="$LENSES_LISTEN (default 127.0.0.1:50051)")
    parser.add_argument("--database-url", help="$LENSES_DATABASE_URL (default sqlite:///var/lenses.db)")
    parser.add_argument("--rules", help="$LENSES_RULES_DIR (default rules)")
    parser.add_argument("--log-format", choices=("text", "json"), help="$LENSES_LOG_FORMAT")
    parser.add_argument("--tokens-file", help="$LENSES_TOKENS_FILE: client tokens and roles")
    parser.add_argument("--tls-cert", help="$LENSES_TLS_CERT: the server's certificate (PEM)")
    parser.add_argument("--tls-key", help="$LENSES_TLS_KEY: its private key (PEM)")
    parser.add_argument("--tls-client-ca", help="$LENSES_TLS_CLIENT_CA: require client certificates "
                                                "signed by this CA (mutual TLS)")
    parser.add_argument("--workers", type=int, help="$LENSES_WORKERS (default: one per CPU)")
    parser.add_argument("--metrics-listen", help="$LENSES_METRICS_LISTEN: host:port for /metrics")


def _date_flag(value: str) -> date:
    """A date flag read as the API reads dates: exactly YYYY-MM-DD, in the supported
    range (``date.fromisoformat`` alone also takes 20260101 and week dates)."""
    check = convert.Checker()
    day = check.date("date", value, required=True)
    if day is None:
        raise argparse.ArgumentTypeError(check.violations[0].description)
    return day


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lenses`` command."""
    args = _parser().parse_args(argv)
    handlers = {"eval": cmd_eval, "test": cmd_test, "check": cmd_check, "explain": cmd_explain,
                "serve": cmd_serve, "migrate": cmd_migrate, "sweep": cmd_sweep,
                "report": cmd_report, "demo-data": cmd_demo_data, "replay": cmd_replay}
    try:
        return handlers[args.command](args, sys.stdout)
    except BrokenPipeError:
        # The reader went away (``lenses eval … | head``): no traceback, and stdout now
        # points at /dev/null so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except RulesError as exc:
        print(f"lenses: rules error:\n{exc}", file=sys.stderr)
        return 2
    except inputs.InputFileError as exc:
        print(f"lenses: {exc}", file=sys.stderr)
        return 2
    except convert.InvalidInput as exc:
        print(f"lenses: {exc}", file=sys.stderr)
        return 2
    except (SettingsError, NotMigrated) as exc:
        print(f"lenses: {exc}", file=sys.stderr)
        return 2


# ----------------------------------------------------------------- eval


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    """One evaluation per file, in file order."""
    engine = RulesEngine.from_directory(_rules_dir(args.rules))
    history = inputs.read_history(args.history)
    as_of = args.as_of or today_in_england()
    for path in args.files:
        kind, _message, record = inputs.read_request(path)
        evaluation, response = _evaluate_file(engine, path, kind, record, history, as_of)
        if args.format == "json":
            out.write(json_format.MessageToJson(response, indent=None, sort_keys=True) + "\n")
        else:
            out.write(text_report(path, kind, record, evaluation))
    return 0


def _evaluate_file(engine: RulesEngine, path: Path, kind: str, record: object,
                   history: inputs.History, as_of: date) -> tuple[Evaluation, Message]:
    """:func:`evaluate_record`, with an input the engine refuses (a review area
    not in the catalogue, or judged twice) reported as a problem of ``path``:
    it is the file that is wrong, not the rules, and with several files the
    user must know which one."""
    try:
        return evaluate_record(engine, kind, record, history, as_of)
    except InputError as exc:
        raise inputs.InputFileError(f"{path}: invalid {kind}: {exc}") from exc


def text_report(path: Path, kind: str, record: object, evaluation: Evaluation) -> str:
    """A readable report of one evaluation."""
    lines = [f"{path}: {kind} {_record_id(kind, record)} — ruleset {evaluation.ruleset_version}"]
    if kind == "audit":
        lines.append(f"  effective grade: {evaluation.effective_grade or 'unset'}; "
                     f"ready to complete: {'yes' if evaluation.ready_to_complete else 'no'}")
    for score in evaluation.lens_scores:
        capped = f" (capped: {score.limited_by})" if score.limited_by else ""
        lines.append(f"  {score.lens}: {score.score:.2f} {score.judgement}{capped}")
    if evaluation.overall:
        o = evaluation.overall
        capped = f" (capped: {o.limited_by})" if o.limited_by else ""
        lines.append(f"  overall: {o.score:.2f} {o.judgement}{capped}")
    if not evaluation.findings:
        lines.append("  no findings")
    for finding in evaluation.findings:
        area = f" [{finding.area}]" if finding.area else ""
        lines.append(f"  {finding.severity or '':8} {finding.rule_id}{area}: {finding.message}")
        because = "; ".join(f"{k}={v}" for k, v in finding.because.items())
        lines.append(f"           because: {because}")
        lines.append(f"           source: {finding.framework_ref}")
    for action in evaluation.actions:
        owner = f"{action.owner_role or 'owner'} {action.owner_id}".strip()
        lines.append(f"  action   {action.rule_id} {action.kind} → {owner}, due {action.due_on}: "
                     f"{action.detail}")
    return "\n".join(lines) + "\n\n"


def _record_id(kind: str, record: object) -> str:
    attribute = {"audit": "audit_id", "inspection": "inspection_id", "placement": "placement_id",
                 "rating": "rating_id", "review": "review_id"}[kind]
    identifier = str(getattr(record, attribute))
    if hasattr(record, "revision"):
        identifier += f" rev {record.revision}"
    return identifier


# ----------------------------------------------------------------- test


def cmd_test(args: argparse.Namespace, out: TextIO) -> int:
    """Run every rule case; print each failure with the difference."""
    rules_dir, cases_dir = _test_folders(args.directory, args.rules)
    engine = RulesEngine.from_directory(rules_dir)
    results = rule_cases.run_all(engine, cases_dir)
    failed = [r for r in results if not r.passed]
    for result in results:
        if not result.passed:
            out.write(f"FAIL {result.title()}\n")
            for problem in result.problems:
                out.write(f"     {problem}\n")
        elif args.verbose:
            out.write(f"ok   {result.title()}\n")
    out.write(f"{len(results) - len(failed)} passed, {len(failed)} failed\n")
    if not results:
        # A mistyped folder must not pass silently.
        out.write(f"no test cases found in {cases_dir}\n")
        return 1
    return 1 if failed else 0


def _test_folders(directory: str | None, rules: str | None) -> tuple[Path, Path]:
    """(rules folder, folder of cases) for ``lenses test [DIR]``, which runs "the rule
    test cases in rules/tests/ (or DIR)". DIR may be a rules folder (its ``tests``
    run against it), the case folder inside one (``lenses test rules/tests``: run
    against the rules around it), or any other folder of cases (run against
    ``--rules``, or the default rules folder)."""
    if directory is None:
        rules_dir = _rules_dir(rules)
        return rules_dir, rules_dir / TESTS_DIR
    given = Path(directory)
    if _is_rules_folder(given):
        return given, given / TESTS_DIR
    resolved = given.resolve()  # "." inside rules/tests has no name of its own
    if resolved.name == TESTS_DIR and _is_rules_folder(resolved.parent):
        return resolved.parent, given
    return _rules_dir(rules), given


def _is_rules_folder(directory: Path) -> bool:
    """Whether a folder looks like a rules folder rather than a folder of cases (a
    rules folder missing its params must still be reported as a broken rules folder)."""
    return any((directory / name).exists() for name in (PARAMS_FILE, CATALOGUE_FILE, TESTS_DIR))


# ---------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Validate a rules folder (and its test cases); name file, line and problem."""
    directory = _rules_dir(args.directory or args.rules)
    try:
        ruleset = load_ruleset(directory)
        cases = list(rule_cases.load_cases(directory))
        rule_cases.check_cases(cases, ruleset)
    except RulesError as exc:
        errors = getattr(exc, "errors", [exc])
        for error in errors:
            out.write(f"{error}\n")
        out.write(f"{len(errors)} problem(s)\n")
        return 1
    out.write(f"{directory}: {len(ruleset.rules)} rules, {len(ruleset.params)} parameters, "
              f"{len(cases)} test cases — ok (version {ruleset.version})\n")
    return 0


# -------------------------------------------------------------- explain


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    """Print a rule, its parameters, its source and the cases that cover it."""
    directory = _rules_dir(args.rules)
    ruleset = load_ruleset(directory)
    try:
        rule = ruleset.rule(args.rule_id)
    except KeyError:
        known = ", ".join(r.rule_id for r in ruleset.rules)
        print(f"lenses: no rule {args.rule_id!r}; rules are {known}", file=sys.stderr)
        return 2
    out.write(f"{rule.rule_id} {rule.title} ({rule.lens}, {rule.severity or 'action only'})\n")
    out.write(f"  {rule.description}\n")
    out.write(f"  source: {rule.framework_ref}\n  file: {rule.source}\n")
    for trigger in rule.triggers:
        kinds = ", ".join(a.kind for a in trigger.actions) or "none"
        out.write(f"  on {trigger.applies_to}: finding {'yes' if trigger.message else 'no'}; "
                  f"actions {kinds}\n")
    for name in rule.params_used:
        out.write(f"  param {name} = {ruleset.params[name]}\n")
    covering = [c for c in rule_cases.load_cases(directory) if rule.rule_id in c.rule_ids()]
    out.write(f"  tests ({len(covering)}):\n")
    for case in covering:
        out.write(f"    {case.file}:{case.line} {case.note}\n")
    return 0


# --------------------------------------------------------------- server


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(listen=getattr(args, "listen", None), database_url=args.database_url,
                             rules_dir=getattr(args, "rules", None),
                             log_format=getattr(args, "log_format", None),
                             tokens_file=getattr(args, "tokens_file", None),
                             tls_cert=getattr(args, "tls_cert", None),
                             tls_key=getattr(args, "tls_key", None),
                             tls_client_ca=getattr(args, "tls_client_ca", None),
                             workers=getattr(args, "workers", None),
                             metrics_listen=getattr(args, "metrics_listen", None))


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """Run the supervised workers (the database must be migrated: ``lenses migrate``)."""
    from .app import StartupError, check_startup
    from .logs import configure
    from .supervisor import run

    settings = _settings(args)
    settings.check_serving()
    configure(settings.log_format)
    try:
        check_startup(settings)  # refuse before any worker starts
    except StartupError as exc:
        print(f"lenses: {exc}", file=sys.stderr)
        return 2
    return run(settings, out)


def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    """Apply the Alembic migrations to the configured database."""
    from .migrate import upgrade

    settings = _settings(args)
    upgrade(settings.database_url)
    out.write("lenses: database schema is up to date\n")
    return 0


def cmd_sweep(args: argparse.Namespace, out: TextIO) -> int:
    """Run ES-02 / ES-08 escalations once at ``--as-of``."""
    from . import actions, reviews
    from .store import Store

    settings = _settings(args)
    engine = RulesEngine.from_directory(settings.rules_dir)
    require_current(settings.database_url)
    store = Store(settings.database_url)
    actor = actions.Actor("lenses-sweep", today_in_england())
    created = store.run(lambda session: [
        (row.kind, row.action_id, row.due_on)
        for row in actions.sweep(session, engine, args.as_of, actor, reviews.sweep_panels(session))
    ])
    for kind, action_id, due_on in created:
        out.write(f"created {kind} {action_id} due {due_on}\n")
    out.write(f"{len(created)} action(s) created\n")
    store.close()
    return 0


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Print the month's compendium; ``--html`` also writes the charted report."""
    from . import report
    from .store import Store

    settings = _settings(args)
    require_current(settings.database_url)
    store = Store(settings.database_url)
    try:
        data = store.read(lambda session: report_data(session, args.month, args.service_area,
                                                      today_in_england()))
    finally:
        store.close()
    renderers = {"text": report.render_text, "json": report.render_json, "csv": report.render_csv}
    out.write(renderers[args.format](data))
    if args.html:
        try:
            args.html.write_text(report.render_html(data), encoding="utf-8")
        except OSError as exc:  # a missing folder or no permission: say so, no traceback
            print(f"lenses: cannot write {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"lenses: wrote {args.html}", file=sys.stderr)
    return 0


def report_data(session: Session, month: str, service_area: str, today: date) -> ReportData:
    """Everything ``lenses report`` shows for a month."""
    from . import reviews
    from .report import ReportData

    check = convert.Checker()
    start, end = reviews.month_bounds(month, check)
    check.done()
    assert start is not None and end is not None
    scores = reviews.latest_lens_scores(session)
    if service_area:
        scores = {k: v for k, v in scores.items() if k == service_area}
    return ReportData(
        month=month,
        compendium=reviews.compendium(session, month, start, end, service_area, today),
        lens_scores={area: lenses for area, (_, lenses) in scores.items()},
        review_dates={area: panel for area, (panel, _) in scores.items()},
        on_time=reviews.on_time_series(session, end, area=service_area),
    )


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    """Re-evaluate stored audits with ``--rules``; print what would change per rule."""
    from . import replay
    from .store import Store

    settings = Settings.from_env(database_url=args.database_url)  # the rules in service
    current = RulesEngine.from_directory(settings.rules_dir)
    other = RulesEngine.from_directory(args.rules)
    require_current(settings.database_url)
    store = Store(settings.database_url)
    try:
        changes = store.read(lambda session: replay.replay(session, current, other, args.since))
    finally:
        store.close()
    out.write(replay.report(changes))
    return 0


def cmd_demo_data(args: argparse.Namespace, out: TextIO) -> int:
    """Fill the configured database with pseudonymous demo data up to a month."""
    from .demo import seed

    settings = _settings(args)
    counts = seed(settings.database_url, settings.rules_dir, args.month)
    out.write("lenses: demo data " + ", ".join(f"{n} {what}" for what, n in counts.items()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
