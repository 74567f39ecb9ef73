"""Actions: created from rule intents, tracked, completed, withdrawn, escalated.

Every change writes an ``ActionEvent``; "one open action per dedupe key" is
the unique ``open_key`` column, so concurrent writers cannot both create one.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, bindparam, exists, or_, select
from sqlalchemy.orm import Session, aliased

from engine.evaluate import RulesEngine
from engine.facts import SWEPT_ACTION_KINDS
from engine.model import ActionIntent, OpenAction, ServiceAreaPanel, SweepInput
from lenses.v1 import action_pb2, common_pb2

from . import auth, convert, metrics
from .convert import MAX_ID, Checker
from .db import Action, ActionEvent
from .errors import Forbidden, NotFound, StaleRevision
from .store import after_commit, at_commit

OPEN, COMPLETED, WITHDRAWN = "OPEN", "COMPLETED", "WITHDRAWN"
DEFAULT_PAGE, MAX_PAGE = 100, 1000
DECISION_OUTCOMES = ("REMAIN", "MOVE")
# Open actions the sweep looks at (ES-02, ES-08): the kinds every sweep rule must
# name (the loader refuses an ``open_action`` rule on another kind).
ESCALATABLE = tuple(sorted(SWEPT_ACTION_KINDS))


@dataclass(frozen=True)
class Actor:
    """Who is writing (the client) and what "today" is for created_on."""

    client: str
    today: date


def now() -> datetime:
    """The wall clock, for event timestamps only (never for due dates)."""
    return datetime.now(UTC)


# ------------------------------------------------------------- conversion


def to_proto(row: Action | Row[Any], as_of: date | None) -> common_pb2.Action:
    """A stored action as the API's ``Action``; ``overdue`` as of ``as_of``."""
    return common_pb2.Action(
        action_id=row.action_id, kind=convert.enum_number(convert.ACTION_KIND, row.kind),  # type: ignore[arg-type]
        status=convert.enum_number(convert.ACTION_STATUS, row.status),  # type: ignore[arg-type]
        owner_role=convert.enum_number(convert.OWNER_ROLE, row.owner_role),  # type: ignore[arg-type]
        owner_id=row.owner_id, due_on=row.due_on.isoformat(),
        overdue=row.status == OPEN and as_of is not None and row.due_on < as_of,
        rule_id=row.rule_id, ruleset_version=row.ruleset_version,
        subject_type=convert.enum_number(convert.SUBJECT_TYPE, row.subject_type),  # type: ignore[arg-type]
        subject_id=row.subject_id, audit_id=row.audit_id, case_ref=row.case_ref,
        provider_id=row.provider_id, placement_id=row.placement_id,
        service_area=row.service_area, team=row.team, escalated_from=row.escalated_from,
        detail=row.detail, created_on=row.created_on.isoformat(),
        completed_on=row.completed_on.isoformat() if row.completed_on else "",
        completed_by=row.completed_by, outcome=row.outcome,
        withdrawn_reason=row.withdrawn_reason,
    )


# ----------------------------------------------------------------- writes


def _event(session: Session, row: Action, kind: str, actor: Actor) -> None:
    """Record an event; the events of a transaction are written last (``at_commit``).

    Event sequence numbers must follow commit order: a watcher resumes "after
    sequence N", and if a transaction holding sequence 10 committed after one
    holding 11, a watcher that had seen 11 would miss 10. Written at commit, under
    the store's commit-order lock, they do.
    """
    # The serialized message (base64): far cheaper than JSON for a thousand actions.
    snapshot = base64.b64encode(to_proto(row, None).SerializeToString()).decode()
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        at_commit(session, _write_events)
    pending.append(ActionEvent(
        action_id=row.action_id, type=kind, occurred_at=now(), client=actor.client, snapshot=snapshot))


_PENDING = "pending_action_events"


def _write_events(session: Session) -> None:
    session.add_all(session.info.pop(_PENDING))


def _new_row(intent: ActionIntent, ruleset_version: str, origin_on: date, actor: Actor) -> Action:
    return Action(
        action_id=str(uuid.uuid4()), kind=intent.kind, status=OPEN,
        owner_role=intent.owner_role, owner_id=intent.owner_id, due_on=intent.due_on,
        origin_on=origin_on, rule_id=intent.rule_id, ruleset_version=ruleset_version,
        subject_type=intent.subject_type, subject_id=intent.subject_id,
        audit_id=intent.audit_id, case_ref=intent.case_ref, provider_id=intent.provider_id,
        placement_id=intent.placement_id, service_area=intent.service_area, team=intent.team,
        escalated_from=intent.escalated_from, detail=intent.detail,
        dedupe_key=intent.dedupe_key, open_key=intent.dedupe_key, created_on=actor.today,
        client=actor.client,
    )


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def open_by_keys(session: Session, keys: list[str], for_update: bool = False) -> dict[str, Action]:
    """The open actions for some dedupe keys, by key (one query per 500 keys);
    ``for_update``: row-locked until the transaction ends (PostgreSQL)."""
    found: dict[str, Action] = {}
    for chunk in _chunks(keys):
        query = select(Action).where(Action.open_key.in_(chunk))
        for row in session.scalars(query.with_for_update() if for_update else query):
            found[row.dedupe_key] = row
    return found


# Plain rows of the actions table (its columns are named as Action's attributes),
# the statement built once: about a third of what the ORM query costs per call.
_OPEN_ROWS_BY_KEYS = select(Action.__table__).where(
    Action.__table__.c.open_key.in_(bindparam("keys", expanding=True)))


def open_rows_by_keys(session: Session, keys: list[str]) -> dict[str, Row[Any]]:
    """As ``open_by_keys``, as read-only rows rather than ORM objects: for a dry
    run, which shows the open actions and changes none. (A Core statement does not
    autoflush: within a transaction that has ORM changes pending, use ``open_by_keys``.)"""
    found: dict[str, Row[Any]] = {}
    for chunk in _chunks(keys):
        for row in session.execute(_OPEN_ROWS_BY_KEYS, {"keys": chunk}):
            found[row.dedupe_key] = row
    return found


def completed_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(keys):
        found.update(session.scalars(select(Action.dedupe_key).where(
            Action.dedupe_key.in_(chunk), Action.status == COMPLETED)))
    return found


# What a kept open action takes from the intent that keeps it: its due date, its
# owner, its subject and what it says about it. A later revision of an audit that
# names another service manager, team or completion date moves ES-01's corrective
# action to that manager and team, and its detail to that date (domain.md: the owner
# is "the audit's service_manager_id"), instead of leaving it with the first one; a
# review revised for another service area moves its REVIEW_ACTIONs' subject with it.
FOLLOWED = ("due_on", "owner_id", "detail", "case_ref", "service_area", "team", "subject_id")


def follow(row: Action, intent: ActionIntent) -> bool:
    """Bring a kept open action up to date with ``intent``; True if anything changed."""
    changed = False
    for name in FOLLOWED:
        value = getattr(intent, name)
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def followed_proto(row: Action | Row[Any], intent: ActionIntent, as_of: date) -> common_pb2.Action:
    """A kept open action as ``follow`` would leave it, unchanged in the store (a dry
    run shows what the save would return); ``overdue`` as of ``as_of``."""
    shown = to_proto(row, as_of)
    for name in FOLLOWED:
        value = getattr(intent, name)
        setattr(shown, name, value.isoformat() if isinstance(value, date) else value)
    shown.overdue = intent.due_on < as_of
    return shown


def apply_intents(session: Session, intents: Iterable[ActionIntent], ruleset_version: str,
                  origin_on: date, actor: Actor, once_per_key: bool = False) -> list[Action]:
    """Create what is new, keep what is open (it follows the intent: ``follow``).

    With ``once_per_key`` an action completed under the same key is not
    created again (ES-01: one corrective action per audit). Lookups and
    inserts are batched: an inspection of a large home makes a thousand actions.
    """
    intents = list(intents)
    if not intents:
        return []
    keys = [intent.dedupe_key for intent in intents]
    # Locked: a kept action is not changed after a concurrent completion.
    known = open_by_keys(session, keys, for_update=True)
    completed = completed_keys(session, keys) if once_per_key else set()
    touched: list[Action] = []
    created: list[Action] = []
    for intent in intents:
        row = known.get(intent.dedupe_key)
        if row is None and intent.dedupe_key in completed:
            continue
        if row is None:
            row = known[intent.dedupe_key] = _new_row(intent, ruleset_version, origin_on, actor)
            created.append(row)
        elif row not in created and follow(row, intent):
            _event(session, row, "UPDATED", actor)
        if row not in touched:
            touched.append(row)
    if created:
        session.add_all(created)
        session.flush()  # the unique open_key is checked here, inside the transaction
        for row in created:
            _event(session, row, "CREATED", actor)
            after_commit(session, metrics.ACTIONS.labels(kind=row.kind).inc)  # once it is stored
    return touched


def withdraw(session: Session, row: Action, reason: str, actor: Actor) -> None:
    """OPEN -> WITHDRAWN, kept with the reason; open escalations of it follow."""
    row.status, row.open_key, row.withdrawn_reason = WITHDRAWN, None, reason
    _event(session, row, "WITHDRAWN", actor)
    for child in session.scalars(select(Action).where(
            Action.escalated_from == row.action_id, Action.status == OPEN).with_for_update()):
        withdraw(session, child, f"the action it escalated was withdrawn: {reason}", actor)


# --------------------------------------------------------------- queries


def get(session: Session, action_id: str, for_update: bool = False) -> Action:
    """The action, or NOT_FOUND; PERMISSION_DENIED for a provider-monitoring
    client when it is not a provider or placement action. ``for_update``: row-locked
    until the transaction ends (PostgreSQL; SQLite has one writer anyway), and read
    as committed once any writer holding the lock is done."""
    row = (session.get(Action, action_id, with_for_update=True, populate_existing=True)
           if for_update else session.get(Action, action_id))
    if row is None:
        raise NotFound(f"no action {action_id!r}")
    if auth.CURRENT.get().provider_scoped and not (row.provider_id or row.placement_id):
        raise Forbidden("provider monitoring may only see provider and placement actions")
    return row


def check_scope(f: common_pb2.ActionFilter) -> None:
    """A provider-monitoring client lists only provider or placement actions."""
    if auth.CURRENT.get().provider_scoped and not (f.provider_id or f.placement_id):
        raise Forbidden("provider monitoring must filter by provider_id or placement_id")


def complete(session: Session, request: action_pb2.CompleteActionRequest, actor: Actor,
             first: Callable[[Action, date], None] | None = None,
             then: Callable[[Action], None] | None = None) -> Action:
    """OPEN -> COMPLETED; the same completion again is a no-op. Once the request is
    valid, ``first`` is given the action as read without a lock and the completion
    date (to take locks that come before the action's row); ``then`` runs, in the same
    transaction, once the action has changed to COMPLETED (not on a no-op)."""
    check = Checker()
    check.ident("action_id", request.action_id, required=True)
    completed_by = check.ident("completed_by", request.completed_by, required=True)
    completed_on = check.date("completed_on", request.completed_on, required=True)
    outcome = check.ident("outcome", request.outcome)
    # A date still ahead is a typo (2062 for 2026): a deep dive "completed" then would
    # count as open for every audit until that day, and ES-03 stay silent.
    check.not_after_today("completed_on", completed_on, actor.today,
                          "an action is recorded once it has been completed")
    # Read (unlocked) before the problems are reported: the outcome a PLACEMENT_DECISION
    # needs is listed with every other problem. An action's kind never changes.
    unlocked = session.get(Action, request.action_id) if not check.reported("action_id") else None
    if unlocked is not None and unlocked.kind == "PLACEMENT_DECISION" and outcome not in DECISION_OUTCOMES:
        check.add("outcome", "a PLACEMENT_DECISION is completed with REMAIN or MOVE")
    check.done()
    assert completed_on is not None  # required: check.done() raised otherwise
    if first is not None and unlocked is not None:
        first(unlocked, completed_on)
    # Locked: two completions, or a completion and a save that withdraws the action,
    # must not both change it (on PostgreSQL the second would overwrite the first).
    row = get(session, request.action_id, for_update=True)
    if row.status == WITHDRAWN:
        raise StaleRevision(f"action {row.action_id} was withdrawn: {row.withdrawn_reason}")
    if row.status == COMPLETED:
        if (row.completed_by, row.completed_on, row.outcome) == (completed_by, completed_on, outcome):
            return row
        raise StaleRevision(f"action {row.action_id} was already completed by {row.completed_by} "
                            f"on {row.completed_on}")
    row.status, row.open_key = COMPLETED, None
    row.completed_by, row.completed_on, row.outcome = completed_by, completed_on, outcome
    _event(session, row, "COMPLETED", actor)
    if then is not None:
        then(row)
    return row


def for_audit(session: Session, audit_id: str) -> Sequence[Action]:
    """Every action an audit has (withdrawn ones included), oldest first."""
    return session.scalars(select(Action).where(Action.audit_id == audit_id)
                           .order_by(Action.created_on, Action.action_id)).all()


# ------------------------------------------------------------ ListActions


def _page_token(row: Action) -> str:
    raw = json.dumps([row.due_on.isoformat(), row.action_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _after(token: str, check: Checker) -> tuple[date, str] | None:
    if not token:
        return None
    try:
        due, action_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = date.fromisoformat(due), action_id
    except (ValueError, TypeError, RecursionError):  # deeply nested JSON: RecursionError
        after = None
    # As issued: an id as the API takes ids (a NUL, or a lone surrogate no UTF-8 can
    # write, would reach the database and fail there).
    if after is None or not _storable_id(after[1]):
        check.add("page_token", "is not a token this server issued")
        return None
    return after


def _storable_id(value: object) -> bool:
    if type(value) is not str or len(value) > MAX_ID or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def list_actions(session: Session, request: action_pb2.ListActionsRequest,
                 today: date) -> action_pb2.ListActionsResponse:
    """Filtered actions in (due date, id) order, paged by a key, not an offset,
    so that pages neither skip nor repeat while actions are added."""
    check_scope(request.filter)
    check = Checker()
    as_of = check.date("as_of", request.as_of) or today
    if request.page_size < 0:
        check.add("page_size", "must not be negative")
    size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
    conditions = _filter(request.filter, as_of, check)
    after = _after(request.page_token, check)
    check.done()
    query = select(Action).where(*conditions)
    if after is not None:
        query = query.where(or_(Action.due_on > after[0],
                                and_(Action.due_on == after[0], Action.action_id > after[1])))
    rows = session.scalars(query.order_by(Action.due_on, Action.action_id).limit(size + 1)).all()
    response = action_pb2.ListActionsResponse(actions=[to_proto(r, as_of) for r in rows[:size]])
    if len(rows) > size:
        response.next_page_token = _page_token(rows[size - 1])
    return response


def _filter(f: common_pb2.ActionFilter, as_of: date, check: Checker) -> list[ColumnElement[bool]]:
    """The SQL conditions of a filter on the actions as they are now (``as_of``: the
    "today" of ``overdue_only``)."""
    fixed = _fixed_conditions(f, check)
    return fixed + _state_filter(f, check).conditions(as_of)


def _fixed_conditions(f: common_pb2.ActionFilter, check: Checker) -> list[ColumnElement[bool]]:
    """Conditions on what never changes once an action exists: its ids, owner role and kind."""
    conditions: list[ColumnElement[bool]] = []
    for name in ("provider_id", "placement_id", "audit_id"):
        value = check.ident(f"filter.{name}", getattr(f, name))
        if value:
            conditions.append(getattr(Action, name) == value)
    role = check.enum("filter.owner_role", convert.OWNER_ROLE, f.owner_role)
    if role:
        conditions.append(Action.owner_role == role)
    kinds = [check.enum(f"filter.kinds[{i}]", convert.ACTION_KIND, k, required=True)
             for i, k in enumerate(f.kinds)]
    if kinds:
        conditions.append(Action.kind.in_([k for k in kinds if k]))
    return conditions


# Filter fields a kept action can change (``follow``): its case, service area, team and
# owner. Tested, as status and due date, on each event's snapshot by WatchActions.
FOLLOWED_FILTERS = ("case_ref", "service_area", "team", "owner_id")
_UPDATE = aliased(ActionEvent)
_EVER_UPDATED = exists().where(_UPDATE.action_id == Action.action_id, _UPDATE.type == "UPDATED")


@dataclass(frozen=True)
class StateFilter:
    """The part of a filter on what changes: status, due date, and what ``follow`` moves."""

    statuses: frozenset[str]  # short names; empty: any
    due_before: date | None
    overdue_only: bool
    values: tuple[tuple[str, str], ...] = ()  # (a FOLLOWED_FILTERS field, its value)

    def prefilter(self) -> list[ColumnElement[bool]]:
        """SQL that every action an event of which may pass ``admits`` passes: the
        value it has now, or it was updated (and may have had the value then)."""
        return [or_(getattr(Action, name) == value, _EVER_UPDATED) for name, value in self.values]

    def conditions(self, as_of: date) -> list[ColumnElement[bool]]:
        """As SQL, on the actions as they are now."""
        conditions: list[ColumnElement[bool]] = [
            getattr(Action, name) == value for name, value in self.values]
        if self.statuses:
            conditions.append(Action.status.in_(sorted(self.statuses)))
        if self.due_before:
            conditions.append(Action.due_on < self.due_before)
        if self.overdue_only:
            conditions += [Action.status == OPEN, Action.due_on < as_of]
        return conditions

    def admits(self, action: common_pb2.Action, as_of: date) -> bool:
        """Whether an action as an event left it (a snapshot) passes."""
        if any(getattr(action, name) != value for name, value in self.values):
            return False
        status = convert.short_name(convert.ACTION_STATUS, common_pb2.ActionStatus.Name(action.status))
        due_on = date.fromisoformat(action.due_on)
        if self.statuses and status not in self.statuses:
            return False
        if self.due_before and not due_on < self.due_before:
            return False
        return not self.overdue_only or (status == OPEN and due_on < as_of)


def _state_filter(f: common_pb2.ActionFilter, check: Checker) -> StateFilter:
    statuses = [check.enum(f"filter.statuses[{i}]", convert.ACTION_STATUS, s, required=True)
                for i, s in enumerate(f.statuses)]
    due_before = check.date("filter.due_before", f.due_before)
    values = tuple((name, getattr(f, name)) for name in FOLLOWED_FILTERS
                   if check.ident(f"filter.{name}", getattr(f, name)))
    return StateFilter(frozenset(s for s in statuses if s), due_before, f.overdue_only, values)


# ------------------------------------------------------------------ sweep


def sweep(session: Session, engine: RulesEngine, as_of: date, actor: Actor,
          panels: Sequence[ServiceAreaPanel] = ()) -> list[Action]:
    """ES-02, ES-08's escalation and LS-08 at ``as_of``: idempotent for a given date."""
    # Locked (PostgreSQL): an action completed or withdrawn meanwhile is left out once
    # that commits, instead of being escalated after it closed.
    rows = session.scalars(select(Action).where(
        Action.status == OPEN, Action.kind.in_(ESCALATABLE), Action.due_on < as_of)
        .with_for_update()).all()
    escalated = set(session.scalars(select(Action.escalated_from).where(
        Action.escalated_from.in_([r.action_id for r in rows]))).all()) if rows else set()
    data = SweepInput(as_of, tuple(
        OpenAction(
            action_id=r.action_id, kind=r.kind, due_on=r.due_on, origin_on=r.origin_on,
            escalated=r.action_id in escalated, owner_id=r.owner_id, audit_id=r.audit_id,
            case_ref=r.case_ref, service_area=r.service_area, team=r.team,
            provider_id=r.provider_id, placement_id=r.placement_id,
        )
        for r in rows
    ), tuple(panels))
    evaluation = engine.evaluate_sweep(data)
    # What is open already stays as it is (its due date was set by an earlier sweep),
    # and what was completed under the same key is not raised again: a sweep run
    # twice for one as_of changes nothing, whatever was done in between.
    already_open = open_by_keys(session, [intent.dedupe_key for intent in evaluation.actions])
    new = [intent for intent in evaluation.actions if intent.dedupe_key not in already_open]
    return apply_intents(session, new, evaluation.ruleset_version, as_of, actor, once_per_key=True)


# ------------------------------------------------------------ WatchActions


@dataclass(frozen=True)
class EventFilter:
    """WatchActions' filter. An event passes when its action, as the event left it,
    matches: a client that reconnects then gets exactly the events a connected one
    got, whatever happened to the actions meanwhile. What never changes is tested
    in SQL (on the action); what can change (``StateFilter``) on the event's snapshot."""

    fixed: list[ColumnElement[bool]]
    state: StateFilter


def check_filter(f: common_pb2.ActionFilter) -> EventFilter:
    """The filter of a WatchActions request, or INVALID_ARGUMENT listing every problem."""
    check_scope(f)
    check = Checker()
    state = _state_filter(f, check)
    watch = EventFilter(_fixed_conditions(f, check) + state.prefilter(), state)
    check.done()
    return watch


@dataclass(frozen=True)
class EventPage:
    """What one read of the event log found."""

    events: list[common_pb2.ActionEvent]  # those that pass the filter
    scanned_to: int  # the highest sequence read (the ``after`` of the next read)
    at_end: bool  # fewer than ``limit`` events were left to read


def events_after(session: Session, after: int, watch: EventFilter, limit: int,
                 today: date) -> EventPage:
    """Up to ``limit`` events with a sequence above ``after``, in sequence (= commit)
    order, and those of them whose action passes ``watch`` as the event left it
    (``overdue`` and ``overdue_only`` as of ``today``)."""
    rows = session.execute(
        select(ActionEvent).join(Action, Action.action_id == ActionEvent.action_id)
        .where(ActionEvent.sequence > after, *watch.fixed)
        .order_by(ActionEvent.sequence).limit(limit)
    ).scalars().all()
    events = []
    for row in rows:
        action = common_pb2.Action.FromString(base64.b64decode(row.snapshot))
        if not watch.state.admits(action, today):
            continue
        action.overdue = action.status == common_pb2.ACTION_STATUS_OPEN and \
            date.fromisoformat(action.due_on) < today
        event = common_pb2.ActionEvent(
            sequence=row.sequence, action=action,
            type=convert.enum_number(_EVENT_TYPE, row.type),  # type: ignore[arg-type]
        )
        event.occurred_at.FromDatetime(row.occurred_at)
        events.append(event)
    return EventPage(events, rows[-1].sequence if rows else after, len(rows) < limit)


_EVENT_TYPE = common_pb2.DESCRIPTOR.enum_types_by_name["ActionEventType"]
