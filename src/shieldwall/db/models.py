"""Imports every model so the metadata is complete (migrations, create_all in tests)."""

from shieldwall.audit.models import AuditEntry, AuditHead
from shieldwall.auth.models import ApiKey, Organisation, Role, User
from shieldwall.auth.ratelimit import FailureWindow
from shieldwall.correlation.models import (  # noqa: F401
    CorrelationExclusion,
    CorrelationNetwork,
    CorrelationSsdeep,
)
from shieldwall.db.base import Base
from shieldwall.detection.models import Sensor, SensorKey  # noqa: F401
from shieldwall.exchange.feed_models import Feed, FeedEventState, TaxiiFeedSource  # noqa: F401
from shieldwall.intel.collab_models import EventReport, ShadowAttribute  # noqa: F401
from shieldwall.intel.models import (
    Attribute,
    AttributeAttachment,
    AttributeTag,
    Event,
    EventTag,
    MispObject,
    ObjectReference,
    SharingGroup,
    SharingGroupOrg,
    SharingGroupServer,
    Sighting,
    Tag,
)
from shieldwall.knowledge.models import Galaxy, GalaxyCluster, Taxonomy, Warninglist  # noqa: F401
from shieldwall.lifecycle.models import LifecycleSetting  # noqa: F401
from shieldwall.response.models import Alert  # noqa: F401
from shieldwall.server_settings import RuntimeSetting  # noqa: F401
from shieldwall.taxii.models import (  # noqa: F401
    StixEventState,
    StixObject,
    StixObjectEvent,
    TaxiiCollection,
    TaxiiCollectionOrg,
    TaxiiStatus,
)

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Attribute",
    "AttributeAttachment",
    "AttributeTag",
    "AuditEntry",
    "AuditHead",
    "Event",
    "EventTag",
    "FailureWindow",
    "MispObject",
    "ObjectReference",
    "Organisation",
    "Role",
    "SharingGroup",
    "SharingGroupOrg",
    "SharingGroupServer",
    "Sighting",
    "Tag",
    "User",
    "metadata",
]
