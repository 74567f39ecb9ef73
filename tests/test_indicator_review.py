"""The numbers GetLensIndicators and GetCompendium give a panel, where a review found
them misleading: another child's placement actions counted as the area's provider
actions; "open at the end of the period" cut at UTC's midnight, not England's; and
compendium rows of zeros for teams with nothing the indicators count."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from lenses.v1 import audit_pb2, common_pb2, provider_pb2
from server import actions as server_actions
from server.db import Action, ActionEvent
from tests.api import Client, audit, submit, unique
from tests.test_indicators import indicators, one_area, place
from tests.test_server_providers import placement

K = common_pb2
AHEAD = "2090"  # months still ahead: "open at the end" of them is open now


def test_open_provider_actions_leave_out_another_childs_placement_actions(client: Client) -> None:
    area, provider = unique("SA"), unique("SC")
    # The area's child, with a provider never inspected: one ES-05 exception.
    (mine,) = place(client.providers, provider, area, "T1", f"{AHEAD}-03-02")
    assert mine.service_area == area
    # Another child at the same provider, recorded with no service area or team
    # (both optional in the API): its own exception, with service_area "".
    other = placement(provider, f"{AHEAD}-03-03")
    other.team, other.service_area = "", ""
    (theirs,) = client.providers.RecordPlacement(
        provider_pb2.RecordPlacementRequest(placement=other)).actions
    assert theirs.kind == K.ACTION_KIND_PLACEMENT_EXCEPTION and theirs.service_area == ""
    march = indicators(client.reviews, area, f"{AHEAD}-03-01", f"{AHEAD}-03-31")
    assert march.active_placements == 1
    # It had been 2: the other child's exception too.
    assert march.open_provider_actions == 1


def test_withdrawal_just_after_englands_midnight_is_still_open_at_the_period_end(
    server: Any, client: Client
) -> None:
    area, provider = unique("SA"), unique("SC")
    (found,) = place(client.providers, provider, area, "T1", "2020-06-01")
    engine = create_engine(server.database_url, poolclass=NullPool)
    try:
        with Session(engine) as session, session.begin():
            session.execute(update(Action).where(Action.action_id == found.action_id)
                            .values(created_on=date(2020, 6, 1)))
        with Session(engine) as session, session.begin():
            row = session.get(Action, found.action_id)
            assert row is not None
            server_actions.withdraw(session, row, "placed in error",
                                    server_actions.Actor("test", date.today()))
        with Session(engine) as session, session.begin():
            (event,) = session.scalars(select(ActionEvent).where(
                ActionEvent.action_id == found.action_id, ActionEvent.type == "WITHDRAWN")).all()
            # 00:30 on 1 July 2020 in England (BST): withdrawn on 1 July, the council's day.
            event.occurred_at = datetime(2020, 6, 30, 23, 30, tzinfo=UTC)
    finally:
        engine.dispose()
    assert indicators(client.reviews, area, "2020-07-01", "2020-07-31").open_provider_actions == 0
    # Open at the end of 30 June (England): it had been 0.
    assert indicators(client.reviews, area, "2020-06-01", "2020-06-30").open_provider_actions == 1


def test_compendium_lists_no_team_with_nothing_it_counts(client: Client) -> None:
    area = unique("SA")
    submit(client, audit(serviceArea=area, team="T1", completedOn=f"{AHEAD}-05-10"))
    # A draft with its completion date filled in: no figure counts it.
    submit(client, audit(serviceArea=area, team="T-DRAFT", completedOn=f"{AHEAD}-05-12",
                         status="AUDIT_STATUS_DRAFT"))
    # A red plan rated in April (T-RED): its response (ES-08) is due in May, and no May
    # figure counts it or the rating.
    client.audits.RecordPlanRating(audit_pb2.RecordPlanRatingRequest(rating=audit_pb2.PlanRating(
        rating_id=unique("R"), case_ref=unique("C"), plan_type=K.PLAN_TYPE_CP_PLAN,
        rating=K.RAG_RATING_RED, rated_on=f"{AHEAD}-04-28", team="T-RED", service_area=area,
        team_manager_id="tm-1")))
    figures, teams = one_area(client.reviews, f"{AHEAD}-05", area)
    assert figures.audits_completed == 1
    assert teams["T1"].audits_completed == 1
    assert all(getattr(teams[t], f) == 0 for t in ("T-DRAFT", "T-RED") if t in teams
               for f in ("audits_completed", "corrective_actions_due", "open_deep_dives",
                         "plan_ratings_red", "active_placements"))
    # It had listed T-DRAFT and T-RED too, rows of zeros.
    assert set(teams) == {"T1"}
