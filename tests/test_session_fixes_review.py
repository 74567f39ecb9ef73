"""What a review of the tenth session's fixes found they had missed or broken (each
test failed before its fix):

- A review moved to another service area left its old area's LS-08 reminder for
  the moved panel open: ``_withdraw_stale_reminders`` only looked at the area the
  review is saved under now. The stale reminder named a panel the area never held
  and blocked the reminder for its real latest panel (the same defect the session
  fixed for a revision that moves its panel date).
- A provider whose latest inspection came without a name (``provider_name`` is
  optional) no longer took the name an older inspection recorded late gives it:
  GetProvider answered "" although an inspection names it (a regression of the
  session's change).
- ListActions still answered INTERNAL for a page token whose id is a lone surrogate
  (``"\\ud800"`` in its JSON): ``_after`` refused a NUL but passed any other string
  the database cannot store, and the driver failed encoding it (SQLite and
  PostgreSQL alike)."""

from __future__ import annotations

import base64

import grpc
import pytest

from lenses.v1 import action_pb2, common_pb2, provider_pb2, review_pb2_grpc
from tests.api import Client, error_code, unique
from tests.test_review_lifecycle_review import reminders, review, save, sweep
from tests.test_server_providers import inspection, record

K = common_pb2


@pytest.mark.parametrize("area_keeps_an_older_review", [True, False])
def test_a_review_moved_to_another_area_leaves_no_stale_reminder_behind(
        client: Client, area_keeps_an_older_review: bool) -> None:
    stub = review_pb2_grpc.ReviewServiceStub(client.channel)
    area, other_area, moved = unique("SA"), unique("SA"), unique("SPR")
    if area_keeps_an_older_review:
        save(stub, review(unique("SPR"), area, 1, periodStart="2024-10-01",
                          periodEnd="2025-03-31", panelOn="2025-04-14"))
    save(stub, review(moved, area, 1, periodStart="2025-04-01", periodEnd="2025-09-30",
                      panelOn="2025-10-20"))
    sweep(client, "2026-04-21")
    (reminder,) = reminders(client, area)
    assert (reminder.status, reminder.due_on) == (K.ACTION_STATUS_OPEN, "2026-04-20")
    # The review was filed under the wrong service area: revision 2 moves it.
    save(stub, review(moved, other_area, 2, periodStart="2025-04-01", periodEnd="2025-09-30",
                      panelOn="2025-10-20"))
    sweep(client, "2026-04-22")
    open_now = [(a.due_on, a.detail) for a in reminders(client, area)
                if a.status == K.ACTION_STATUS_OPEN]
    assert not any("2025-10-20" in detail for _, detail in open_now), \
        f"{area} is still reminded of a panel only {other_area} held: {open_now}"
    if area_keeps_an_older_review:
        # Its latest panel is now 14 April 2025: the reminder for it is due.
        assert [due for due, detail in open_now if "2025-04-14" in detail] == ["2025-10-14"]
    else:
        assert open_now == []


def test_an_older_inspection_names_a_provider_whose_latest_gave_no_name(client: Client) -> None:
    providers = client.providers
    provider_id = unique("SC")
    newer = inspection(provider_id, K.OFSTED_GRADE_GOOD, "2026-03-02")
    newer.provider_name = ""  # optional in the API
    older = inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2024-03-04")
    older.provider_name = "Oak House"
    record(providers, newer)
    record(providers, older)
    shown = providers.GetProvider(provider_pb2.GetProviderRequest(provider_id=provider_id))
    # The only name any inspection gives (before the session's change: "Oak House").
    assert shown.provider_name == "Oak House"


def test_a_page_token_with_a_surrogate_id_is_invalid_argument(client: Client) -> None:
    forged = base64.urlsafe_b64encode(b'["2026-01-01", "\\ud800"]').decode()
    assert error_code(lambda: client.actions.ListActions(
        action_pb2.ListActionsRequest(page_token=forged), timeout=30)) == \
        grpc.StatusCode.INVALID_ARGUMENT
