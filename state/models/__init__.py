"""SQLAlchemy 2 models: the ledger of what was gathered, composed, approved and sent.

Tables are plural nouns of the domain. Statuses are StrEnums, each with its table of allowed
transitions (`Lifecycle`, beside the enums), changed only by the ledger's functions in `state/`.
Times are stored in UTC (`UTCDateTime` makes them timezone-aware on every backend).

One module per part of the work: `base` (the base, statuses, lifecycles), `gathering`,
`editorial`, `delivery`, `operations`, `clicks`. Import from `state.models`; a new table goes
in the module of its part and is named here.
"""

from state.models.base import (
    BATCH_LIFECYCLE,
    DELIVERY_LIFECYCLE,
    EDITION_LIFECYCLE,
    LIFECYCLES,
    POST_LIFECYCLE,
    SUBSCRIBER_LIFECYCLE,
    THREAD_LIFECYCLE,
    Base,
    BatchStatus,
    DeliveryStatus,
    EditionStatus,
    Lifecycle,
    PostStatus,
    SubscriberStatus,
    ThreadStatus,
    UTCDateTime,
)
from state.models.clicks import (
    ClickRow,
    ReaderClickRow,
    ReaderOpenRow,
)
from state.models.delivery import (
    DeliveryBatchRow,
    DeliveryRow,
    EditionCountersRow,
    ErasedAddressRow,
    ProviderEventRow,
    ReputationTripRow,
    SubscriberChangeRow,
    SubscriberRow,
    SuppressionRow,
)
from state.models.editorial import (
    ApprovalRow,
    EditionItemRow,
    EditionRow,
    PostRow,
    ThreadRow,
)
from state.models.gathering import (
    ItemRow,
    SourceRow,
)
from state.models.operations import (
    ApiTokenRow,
    AuditRow,
    CalendarFeedRow,
    EventRow,
    PauseRow,
    QuietMoveRow,
    StaffRow,
    ThreadSlotRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebSubSubscriptionRow,
    WeeklyNoteRow,
)

__all__ = [
    "UTCDateTime",
    "Base",
    "EditionStatus",
    "ThreadStatus",
    "PostStatus",
    "SubscriberStatus",
    "DeliveryStatus",
    "BatchStatus",
    "Lifecycle",
    "EDITION_LIFECYCLE",
    "THREAD_LIFECYCLE",
    "POST_LIFECYCLE",
    "SUBSCRIBER_LIFECYCLE",
    "DELIVERY_LIFECYCLE",
    "BATCH_LIFECYCLE",
    "LIFECYCLES",
    "SourceRow",
    "ItemRow",
    "EditionRow",
    "EditionItemRow",
    "ThreadRow",
    "PostRow",
    "ApprovalRow",
    "SubscriberChangeRow",
    "SubscriberRow",
    "DeliveryBatchRow",
    "DeliveryRow",
    "ProviderEventRow",
    "EditionCountersRow",
    "ErasedAddressRow",
    "SuppressionRow",
    "ReputationTripRow",
    "EventRow",
    "StaffRow",
    "AuditRow",
    "WebSubSubscriptionRow",
    "PauseRow",
    "QuietMoveRow",
    "ThreadSlotRow",
    "CalendarFeedRow",
    "WeeklyNoteRow",
    "ClickRow",
    "ReaderClickRow",
    "ReaderOpenRow",
    "ApiTokenRow",
    "WebhookEndpointRow",
    "WebhookDeliveryRow",
]
