"""Provider calls racing each other (each on its own connection) end as some serial
order of them would: PostgreSQL once let each miss the other's uncommitted rows."""

from __future__ import annotations

import grpc

from lenses.v1 import action_pb2, common_pb2, provider_pb2, provider_pb2_grpc
from tests.api import Client, race, unique

K = common_pb2
RACES = 12
ALL_CHECKS = provider_pb2.PlacementChecks(
    ofsted_report=True, regulation_reports=True, la_references=True, insurance=True,
    statement_of_purpose=True, social_worker_visit=True)


def _inspection(provider_id: str, grade: int, on: str) -> provider_pb2.RecordInspectionRequest:
    return provider_pb2.RecordInspectionRequest(inspection=provider_pb2.Inspection(
        inspection_id=unique("INS"), provider_id=provider_id, provider_name="Oak House",
        grade=grade, inspected_on=on, published_on=on))  # type: ignore[arg-type]


def _placement(placement_id: str, provider_id: str, end_on: str = "") -> provider_pb2.RecordPlacementRequest:
    return provider_pb2.RecordPlacementRequest(placement=provider_pb2.Placement(
        placement_id=placement_id, case_ref="C-race", provider_id=provider_id, start_on="2026-06-01",
        end_on=end_on, social_worker_id="sw-race", team_manager_id="tm-race", team="LAC North",
        service_area="Looked After Children", checks=ALL_CHECKS))


def test_an_inadequate_inspection_racing_a_placement_acts_on_it_either_way(server) -> None:  # type: ignore[no-untyped-def]
    with server.channel() as channel:
        providers = provider_pb2_grpc.ProviderServiceStub(channel)
        actions = Client(channel).actions
        for _ in range(RACES):
            provider_id, placement_id = unique("SC"), unique("PL")
            good = _inspection(provider_id, K.OFSTED_GRADE_GOOD, "2026-01-10")
            providers.RecordInspection(good, timeout=30)
            inadequate = _inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-06-01")
            placement = _placement(placement_id, provider_id)
            inspected, placed = race(
                server,
                lambda c, request=inadequate: c.providers.RecordInspection(request, timeout=30),
                lambda c, request=placement: c.providers.RecordPlacement(request, timeout=30))
            assert not isinstance(inspected, grpc.RpcError), inspected
            assert not isinstance(placed, grpc.RpcError), placed
            listed = actions.ListActions(action_pb2.ListActionsRequest(
                filter=K.ActionFilter(placement_id=placement_id)))
            kinds = sorted(a.kind for a in listed.actions)
            # Placed on the rating date: the provider's grade that day is inadequate
            # (ES-05) and the child is placed there on that date (ES-04), whichever of
            # the two calls is recorded first.
            assert kinds == sorted([K.ACTION_KIND_PLACEMENT_EXCEPTION,
                                    K.ACTION_KIND_PLACEMENT_REVIEW_VISIT,
                                    K.ACTION_KIND_PLACEMENT_DECISION]), kinds


def test_two_racing_ends_of_one_placement_end_it_once(server) -> None:  # type: ignore[no-untyped-def]
    ends = ("2099-07-01", "2099-08-01")  # after today: the placement stays active and shown
    with server.channel() as channel:
        providers = provider_pb2_grpc.ProviderServiceStub(channel)
        for _ in range(RACES):
            provider_id, placement_id = unique("SC"), unique("PL")
            good = _inspection(provider_id, K.OFSTED_GRADE_GOOD, "2026-01-10")
            providers.RecordInspection(good, timeout=30)
            providers.RecordPlacement(_placement(placement_id, provider_id), timeout=30)
            endings = [_placement(placement_id, provider_id, end) for end in ends]
            results = race(server, *[
                lambda c, request=request: c.providers.RecordPlacement(request, timeout=30)
                for request in endings])
            codes = [r.code() if isinstance(r, grpc.RpcError) else grpc.StatusCode.OK for r in results]
            assert sorted(c.name for c in codes) == ["ALREADY_EXISTS", "OK"], codes  # last used to win
            winner = ends[codes.index(grpc.StatusCode.OK)]
            shown = providers.GetProvider(provider_pb2.GetProviderRequest(provider_id=provider_id))
            assert [(p.placement_id, p.end_on) for p in shown.active_placements] == [(placement_id, winner)]
