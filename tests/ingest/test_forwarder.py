from __future__ import annotations

from services.ingest.forwarder import contacts_part, metrics_part
from xobito.ingest.v1 import events_pb2


def test_metrics_takes_every_kind_of_event() -> None:
    batch = events_pb2.EventBatch(
        quality_updates=[events_pb2.PhoneQualityUpdate(waba_id="2")]
    )

    assert metrics_part(batch) is batch


def test_contacts_takes_messages_preferences_and_statuses_only() -> None:
    batch = events_pb2.EventBatch(
        statuses=[events_pb2.StatusEvent(wamid="wamid.1")],
        messages=[events_pb2.InboundMessage(wamid="wamid.2")],
        user_preferences=[events_pb2.UserPreference(wa_id="15550001")],
        errors=[events_pb2.ChangeError(phone_number_id="1")],
        template_updates=[events_pb2.TemplateStatusUpdate(waba_id="2")],
    )

    part = contacts_part(batch)

    assert part == events_pb2.EventBatch(
        statuses=batch.statuses,
        messages=batch.messages,
        user_preferences=batch.user_preferences,
    )


def test_contacts_is_not_called_for_account_events_alone() -> None:
    batch = events_pb2.EventBatch(
        account_updates=[events_pb2.AccountUpdate(waba_id="2")],
        errors=[events_pb2.ChangeError(phone_number_id="1")],
    )

    assert contacts_part(batch) is None


def test_no_service_is_called_for_an_empty_batch() -> None:
    batch = events_pb2.EventBatch()

    assert metrics_part(batch) is None
    assert contacts_part(batch) is None
