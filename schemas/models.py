"""The wire contract (CONTRACT.md v1) as pydantic v2 models.

Rules that every model shares: unknown fields are ignored (consumers must tolerate what they do not
know), countries are ISO 3166-1 alpha-2 codes from a real list, timestamps are RFC 3339 strings
that carry an offset, TPP figures are non-negative integers. Field order is wire order: encoding
is stable, so equal models give equal bytes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from schemas.codes import (
    APPROVAL_CODES,
    HOLD_CODES,
    AlertSubject,
    ConsigneeKind,
    DecisionKind,
    EventType,
    ReasonCode,
    Severity,
    ShipmentStatus,
    SignalCode,
    VeuKind,
)

SUPPORTED_SCHEMA_VERSION = 1
MAX_LINES_PER_ORDER = 1000

COUNTRY_CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


class UnsupportedSchemaVersion(ValueError):
    """A record written against a newer contract than this build understands."""


def _check_country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


Country = Annotated[
    str,
    AfterValidator(_check_country),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(COUNTRY_CODES),
            "description": "ISO 3166-1 alpha-2",
        }
    ),
]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def _check_timestamp(value: Any) -> Any:
    # pydantic alone would also take epoch numbers and offset-less strings; the contract does not.
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a UTC offset")
        return value
    if not isinstance(value, str):
        raise ValueError("timestamp must be an RFC 3339 string")
    if not _RFC3339.match(value):
        raise ValueError("timestamp must be RFC 3339 with an offset, e.g. 2025-03-01T09:00:00Z")
    return value


Timestamp = Annotated[
    dt.datetime,
    BeforeValidator(_check_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _RFC3339.pattern}),
]
Tpp = Annotated[StrictInt, Field(ge=0)]
Quantity = Annotated[StrictInt, Field(gt=0)]
Identifier = Annotated[str, Field(min_length=1, max_length=128)]
Name = Annotated[str, Field(min_length=1, max_length=512)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False)


class _Versioned(_Model):
    schema_version: StrictInt = Field(
        ge=1,
        le=SUPPORTED_SCHEMA_VERSION,
        description="Contract version the record was written against.",
    )

    @field_validator("schema_version", mode="before")
    @classmethod
    def _not_newer(cls, value: Any) -> Any:
        if isinstance(value, int) and value > SUPPORTED_SCHEMA_VERSION:
            raise UnsupportedSchemaVersion(
                f"schema_version {value} is newer than the supported {SUPPORTED_SCHEMA_VERSION}"
            )
        return value


# -- parties and lines -------------------------------------------------------------------------


class Exporter(_Model):
    id: Identifier
    name: Name
    country: Country
    hq_country: Country
    parent_hq_country: Country


class Consignee(_Model):
    id: Identifier
    name: Name
    country: Country
    hq_country: Country
    parent_hq_country: Country
    kind: ConsigneeKind
    address: str | None = Field(default=None, max_length=1024)
    operator_id: Identifier | None = Field(
        default=None,
        description="chipscreen extension: the entity that will operate the chips. A consignee "
        "headquartered in Tier 1 may charge LPP to this entity's allowance instead of its own.",
    )


class Veu(_Model):
    id: Identifier
    kind: VeuKind


class OrderLine(_Model):
    part_number: Identifier
    quantity: Quantity
    tpp_per_unit: Tpp | None = None
    die_area_mm2: Annotated[float, Field(gt=0)] | None = None
    eccn: Annotated[str, Field(min_length=1, max_length=32)] | None = None


class ShipmentConsignee(_Model):
    id: Identifier
    name: Name
    country: Country
    kind: ConsigneeKind
    address: str | None = Field(default=None, max_length=1024)


class ShipmentLine(_Model):
    part_number: Identifier
    quantity: Quantity


# -- input events ------------------------------------------------------------------------------


class OrderEvent(_Versioned):
    """Topic ``orders``, key ``order_id``."""

    event_type: EventType
    order_id: Identifier
    occurred_at: Timestamp
    exporter: Exporter
    consignee: Consignee
    destination_country: Country
    end_use: str | None = Field(default=None, max_length=256)
    veu: Veu | None = None
    license_id: Identifier | None = None
    lines: list[OrderLine] = Field(max_length=MAX_LINES_PER_ORDER)
    event_version: Annotated[StrictInt, Field(ge=0)] | None = Field(
        default=None,
        description="chipscreen extension: a number that grows with each event of one order. "
        "Tallies count each (order_id, event_version) once; without it the source offset is used.",
    )

    @model_validator(mode="after")
    def _lines_unless_cancelled(self) -> OrderEvent:
        if self.event_type is not EventType.CANCELLED and not self.lines:
            raise ValueError(f"a {self.event_type.value} order needs at least one line")
        return self


class ShipmentEvent(_Versioned):
    """Topic ``shipments``, key ``shipment_id``."""

    shipment_id: Identifier
    order_id: Identifier
    occurred_at: Timestamp
    status: ShipmentStatus
    origin_country: Country
    destination_country: Country
    route: list[Country] = Field(default_factory=list, max_length=64)
    carrier: str | None = Field(default=None, max_length=256)
    forwarder: str | None = Field(default=None, max_length=256)
    consignee: ShipmentConsignee
    lines: list[ShipmentLine] = Field(min_length=1, max_length=MAX_LINES_PER_ORDER)


class PolicyChange(_Versioned):
    """Topic ``policy`` (compacted), key ``change_id``: one country's tier from a date on."""

    change_id: Identifier
    pack: Identifier
    country: Country
    tier: Literal[1, 2, 3]
    cap_tpp: Tpp | None = None
    effective_from: Timestamp
    note: str | None = Field(default=None, max_length=1024)


# -- outputs -----------------------------------------------------------------------------------


class Reason(_Model):
    code: ReasonCode
    detail: str
    figures: dict[str, int | float] = Field(
        default_factory=dict, description="The numbers behind this reason (TPP, limits, shares)."
    )


class Tallies(_Model):
    country_used_tpp: Tpp | None = None
    country_cap_tpp: Tpp | None = None
    lpp_used_tpp: Tpp | None = None
    lpp_limit_tpp: Tpp | None = None
    veu_used_tpp: Tpp | None = None
    veu_limit_tpp: Tpp | None = None


class Decision(_Model):
    """Topics ``screening.approvals`` / ``screening.holds``, key ``order_id``."""

    order_id: Identifier
    decision: DecisionKind
    reasons: list[Reason] = Field(min_length=1)
    destination_country: Country
    tier: Literal[1, 2, 3] | None
    order_tpp: Tpp
    tallies: Tallies
    policy_version: str
    screened_at: Timestamp
    decision_id: str = Field(
        default="",
        description="chipscreen extension: stable id of (order_id, event version); a consumer "
        "that sees it twice drops the second.",
    )
    event_type: EventType = EventType.CREATED
    occurred_at: Timestamp | None = None
    consignee_id: Identifier | None = Field(
        default=None, description="chipscreen extension: shipments are checked against it."
    )
    lines: list[ShipmentLine] = Field(
        default_factory=list,
        description="chipscreen extension: the order's lines (part, quantity) as decided, so "
        "shipment screening needs only the decision topics.",
    )

    @model_validator(mode="after")
    def _reasons_fit_decision(self) -> Decision:
        codes = {r.code for r in self.reasons}
        if self.decision is DecisionKind.APPROVED and not codes <= APPROVAL_CODES:
            bad = sorted(c.value for c in codes - APPROVAL_CODES)
            raise ValueError(f"an approval cannot carry hold codes: {', '.join(bad)}")
        if self.decision is DecisionKind.HELD and not codes & HOLD_CODES:
            raise ValueError("a hold needs at least one hold reason code")
        return self


class Signal(_Model):
    code: SignalCode
    detail: str
    weight: float | None = Field(default=None, ge=0)


class Alert(_Model):
    """Topic ``screening.alerts``, key ``order_id`` or ``shipment_id``."""

    alert_id: Identifier
    subject: AlertSubject
    subject_id: Identifier
    order_id: Identifier | None
    severity: Severity
    risk_score: Annotated[float, Field(ge=0, le=1)]
    signals: list[Signal] = Field(min_length=1)
    raised_at: Timestamp
    policy_version: str | None = None


class DeadLetter(_Model):
    """Topic ``screening.dead-letter``, key: the original key."""

    source_topic: str
    source_partition: Annotated[StrictInt, Field(ge=0)]
    source_offset: Annotated[StrictInt, Field(ge=0)]
    original_key_b64: str | None
    original_value_b64: str
    error: str
    error_kind: Literal[
        "too_large", "not_json", "invalid", "unsupported_version", "rejected", "processing"
    ] = Field(
        description="too_large/not_json/invalid/unsupported_version: the record could not be "
        "decoded; rejected: it decoded but cannot be screened (e.g. an amendment of an unknown "
        "order, a second order with a used id); processing: an unexpected error."
    )
    failed_at: Timestamp
    headers: dict[str, str] = Field(default_factory=dict)


INPUT_MODELS: dict[str, type[_Versioned]] = {
    "OrderEvent": OrderEvent,
    "ShipmentEvent": ShipmentEvent,
    "PolicyChange": PolicyChange,
}
OUTPUT_MODELS: dict[str, type[_Model]] = {
    "Decision": Decision,
    "Alert": Alert,
    "DeadLetter": DeadLetter,
}
