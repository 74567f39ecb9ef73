"""Lens indicators and the compendium through real gRPC calls: which teams a
compendium lists, figures filtered by service area and team, and "open" counts
taken at the end of the period asked about."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from lenses.v1 import (
    action_pb2,
    common_pb2,
    provider_pb2,
    provider_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)
from server import actions as server_actions
from server.clock import today_in_england
from server.db import Action, ActionEvent
from tests.api import Client, audit, submit, unique
from tests.test_server_providers import placement

K = common_pb2
# Months still ahead whenever this runs: "open at the end" of them is open now.
AHEAD = "2090"



@pytest.fixture()
def reviews(client: Client) -> review_pb2_grpc.ReviewServiceStub:
    return review_pb2_grpc.ReviewServiceStub(client.channel)


@pytest.fixture()
def providers(client: Client) -> provider_pb2_grpc.ProviderServiceStub:
    return provider_pb2_grpc.ProviderServiceStub(client.channel)


def place(
    providers: provider_pb2_grpc.ProviderServiceStub, provider_id: str, area: str, team: str, start_on: str
) -> list[K.Action]:
    """A placement with every check done (so no ES-06) in ``area`` / ``team``; its actions."""
    message = placement(provider_id, start_on)
    message.team, message.service_area = team, area
    return list(providers.RecordPlacement(provider_pb2.RecordPlacementRequest(placement=message)).actions)


def deep_dive(client: Client, area: str, team: str, below: str, days: list[str]) -> None:
    """Three audits of distinct cases with ``below`` not good: ES-03 opens a deep dive."""
    for day in days:
        submit(client, audit((below,), serviceArea=area, team=team, completedOn=day))


def indicators(
    reviews: review_pb2_grpc.ReviewServiceStub, area: str, start: str, end: str
) -> review_pb2.LensIndicators:
    return reviews.GetLensIndicators(
        review_pb2.GetLensIndicatorsRequest(service_area=area, period_start=start, period_end=end)
    )


def one_area(
    reviews: review_pb2_grpc.ReviewServiceStub, month: str, area: str
) -> tuple[review_pb2.LensIndicators, dict[str, review_pb2.LensIndicators]]:
    (entry,) = reviews.GetCompendium(
        review_pb2.GetCompendiumRequest(month=month, service_area=area)
    ).service_areas
    return entry.indicators, {t.team: t.indicators for t in entry.teams}


def test_compendium_lists_every_team_with_figures_and_counts_each_teams_own(
    client: Client,
    reviews: review_pb2_grpc.ReviewServiceStub,
    providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    area, provider = unique("SA"), unique("SC")
    submit(client, audit(serviceArea=area, team="T-AUD", completedOn=f"{AHEAD}-05-10"))
    # Completed in April below good: its corrective action is due 31 May (team T-CA).
    submit(
        client,
        audit(overall="DOES_NOT_MEET_GOOD", serviceArea=area, team="T-CA", completedOn=f"{AHEAD}-04-20"),
    )
    # April audits open two deep dives, one per team, still open at the end of May.
    deep_dive(client, area, "T-D1", "PLANS", [f"{AHEAD}-04-0{d}" for d in (1, 2, 3)])
    deep_dive(client, area, "T-D2", "RISK", [f"{AHEAD}-04-0{d}" for d in (4, 5, 6)])
    # Children placed with a provider never inspected (ES-05: an exception each).
    place(providers, provider, area, "T-PL", f"{AHEAD}-05-03")
    place(providers, provider, area, "T-PL2", f"{AHEAD}-05-04")
    area_figures, teams = one_area(reviews, f"{AHEAD}-05", area)
    assert (
        area_figures.corrective_actions_due,
        area_figures.open_deep_dives,
        area_figures.active_placements,
        area_figures.open_provider_actions,
    ) == (1, 2, 2, 2)
    assert set(teams) == {"T-AUD", "T-CA", "T-D1", "T-D2", "T-PL", "T-PL2"}
    assert teams["T-AUD"].audits_completed == 1
    assert teams["T-CA"].corrective_actions_due == 1
    assert {t: i.open_deep_dives for t, i in teams.items()} == {
        "T-AUD": 0,
        "T-CA": 0,
        "T-D1": 1,
        "T-D2": 1,
        "T-PL": 0,
        "T-PL2": 0,
    }
    assert {t: (i.active_placements, i.open_provider_actions) for t, i in teams.items()} == {
        "T-AUD": (0, 0),
        "T-CA": (0, 0),
        "T-D1": (0, 0),
        "T-D2": (0, 0),
        "T-PL": (1, 1),
        "T-PL2": (1, 1),
    }
    # The per-team figures add up to the area's.
    for name in (
        "audits_completed",
        "corrective_actions_due",
        "open_deep_dives",
        "active_placements",
        "open_provider_actions",
    ):
        assert sum(getattr(i, name) for i in teams.values()) == getattr(area_figures, name), name


def test_open_provider_actions_are_the_service_areas(
    client: Client,
    reviews: review_pb2_grpc.ReviewServiceStub,
    providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    area, elsewhere, provider = unique("SA"), unique("SA"), unique("SC")
    mine = place(providers, provider, area, "T1", f"{AHEAD}-06-01")
    theirs = place(providers, provider, elsewhere, "T9", f"{AHEAD}-06-01")
    theirs += place(providers, provider, elsewhere, "T9", f"{AHEAD}-06-02")
    # Inadequate: a provider action plan (no service area), and a visit and a
    # decision for every child placed there (each of the child's service area).
    inspected = providers.RecordInspection(
        provider_pb2.RecordInspectionRequest(
            inspection=provider_pb2.Inspection(
                inspection_id=unique("INS"),
                provider_id=provider,
                provider_name="Oak House",
                grade=K.OFSTED_GRADE_INADEQUATE,
                inspected_on=f"{AHEAD}-06-05",
                published_on=f"{AHEAD}-06-05",
            )
        )
    )
    mine += [a for a in inspected.actions if a.service_area == area]
    assert len(mine) == 3 and len(theirs) == 2
    assert {a.kind for a in inspected.actions if not a.service_area} == {K.ACTION_KIND_PROVIDER_ACTION_PLAN}
    # The area's own three and the provider's action plan; not the other area's two.
    # A team counts its own only (the plan concerns no team).
    june = indicators(reviews, area, f"{AHEAD}-06-01", f"{AHEAD}-06-30")
    assert (june.active_placements, june.providers_inadequate, june.open_provider_actions) == (1, 1, 4)
    area_figures, teams = one_area(reviews, f"{AHEAD}-06", area)
    assert area_figures.open_provider_actions == 4 and teams["T1"].open_provider_actions == 3
    client.actions.CompleteAction(
        action_pb2.CompleteActionRequest(
            # Today: a completion date still ahead is refused (a typo like 2062 for 2026).
            action_id=mine[0].action_id, completed_by="hos-1", completed_on=date.today().isoformat()
        )
    )
    assert indicators(reviews, area, f"{AHEAD}-06-01", f"{AHEAD}-06-30").open_provider_actions == 3


def _created(client: Client, area: str, kind: int) -> list[K.Action]:
    return list(
        client.actions.ListActions(
            action_pb2.ListActionsRequest(filter=K.ActionFilter(service_area=area, kinds=[kind]))
        ).actions
    )  # type: ignore[list-item]


def test_open_deep_dives_are_those_open_at_the_end_of_the_period(
    client: Client, reviews: review_pb2_grpc.ReviewServiceStub
) -> None:
    area = unique("SA")
    today = today_in_england()  # the server's today, as created_on
    last_month_end = today.replace(day=1) - timedelta(days=1)
    days = [(last_month_end - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    deep_dive(client, area, "T1", "PLANS", days)
    (dive,) = _created(client, area, K.ACTION_KIND_DEEP_DIVE_AUDIT)
    created = date.fromisoformat(dive.created_on)  # today: after last month ended
    month = f"{last_month_end:%Y-%m}"
    if created <= last_month_end:  # the date turned between the calls
        pytest.skip("created on the last day of the month")
    last_month, teams = one_area(reviews, month, area)
    assert last_month.audits_completed == 3
    assert last_month.open_deep_dives == 0 and teams["T1"].open_deep_dives == 0
    before = indicators(reviews, area, days[0], (created - timedelta(days=1)).isoformat())
    assert before.open_deep_dives == 0
    now, teams = one_area(reviews, f"{created:%Y-%m}", area)
    assert now.open_deep_dives == 1 and teams["T1"].open_deep_dives == 1
    ahead = (created + timedelta(days=40)).isoformat()
    assert indicators(reviews, area, days[0], ahead).open_deep_dives == 1
    # Completed today: for a period not yet over, not open now.
    client.actions.CompleteAction(
        action_pb2.CompleteActionRequest(
            action_id=dive.action_id,
            completed_by="hos-1",
            completed_on=created.isoformat(),
        )
    )
    assert indicators(reviews, area, days[0], ahead).open_deep_dives == 0
    assert indicators(reviews, area, days[0], created.isoformat()).open_deep_dives == 0


def test_open_figures_follow_creation_completion_and_withdrawal_dates(
    server,
    client: Client,
    reviews: review_pb2_grpc.ReviewServiceStub,  # type: ignore[no-untyped-def]
    providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """Actions recorded through the API in early 2020, their dates set as if time
    had passed since (the server's clock is the real one): created 6 January,
    except the last, created 2 April; one completed 10 March; one withdrawn 10
    March (no RPC withdraws a placement action: ``actions.withdraw``, as the
    server does, then its event dated)."""
    area, provider = unique("SA"), unique("SC")
    found = [place(providers, provider, area, "T1", "2020-01-06")[0] for _ in range(4)]
    ids = [a.action_id for a in found]
    assert {a.kind for a in found} == {K.ACTION_KIND_PLACEMENT_EXCEPTION}
    engine = create_engine(server.database_url, poolclass=NullPool)
    try:
        with Session(engine) as session, session.begin():
            session.execute(
                update(Action).where(Action.action_id.in_(ids[:3])).values(created_on=date(2020, 1, 6))
            )
            session.execute(
                update(Action).where(Action.action_id == ids[3]).values(created_on=date(2020, 4, 2))
            )
        client.actions.CompleteAction(
            action_pb2.CompleteActionRequest(
                action_id=ids[1], completed_by="hos-1", completed_on="2020-03-10"
            )
        )
        with Session(engine) as session, session.begin():
            row = session.get(Action, ids[2])
            assert row is not None
            server_actions.withdraw(
                session, row, "placed in error", server_actions.Actor("test", date.today())
            )
        with Session(engine) as session, session.begin():
            (event,) = session.scalars(
                select(ActionEvent).where(ActionEvent.action_id == ids[2], ActionEvent.type == "WITHDRAWN")
            ).all()
            event.occurred_at = datetime(2020, 3, 10, 12, tzinfo=UTC)
    finally:
        engine.dispose()

    def open_at(start: str, end: str) -> int:
        return indicators(reviews, area, start, end).open_provider_actions

    assert open_at("2020-01-01", "2020-01-05") == 0  # none created yet
    assert open_at("2020-02-01", "2020-02-29") == 3  # the first three, not yet closed
    assert open_at("2020-03-01", "2020-03-31") == 1  # one completed, one withdrawn on 10 March
    assert open_at("2020-04-01", "2020-04-30") == 2  # and the fourth, created 2 April
    march, teams = one_area(reviews, "2020-03", area)
    assert march.open_provider_actions == 1 and teams["T1"].open_provider_actions == 1
    assert open_at("2020-04-01", (date.today() + timedelta(days=1)).isoformat()) == 2  # open now
