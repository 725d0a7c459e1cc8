"""The contract's closed vocabularies: event kinds, reason codes and signal codes.

A reader finds any rule by grepping its reason code; the code's meaning is documented here once.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    CREATED = "created"
    AMENDED = "amended"  # replaces the order's lines; tallies move by the difference
    CANCELLED = "cancelled"  # releases everything the order held


class ConsigneeKind(StrEnum):
    END_USER = "end_user"
    DISTRIBUTOR = "distributor"
    CLOUD_PROVIDER = "cloud_provider"
    FREIGHT_FORWARDER = "freight_forwarder"


class VeuKind(StrEnum):
    UNIVERSAL = "universal"
    NATIONAL = "national"


class ShipmentStatus(StrEnum):
    BOOKED = "booked"
    DEPARTED = "departed"
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"
    DELIVERED = "delivered"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class DecisionKind(StrEnum):
    APPROVED = "approved"
    HELD = "held"


class AlertSubject(StrEnum):
    ORDER = "order"
    SHIPMENT = "shipment"


class ReasonCode(StrEnum):
    # -- approvals
    NOT_CONTROLLED = "NOT_CONTROLLED"  # no line is a controlled (3A090.a / 4A090.a / .z) item
    TIER1_AIA = "TIER1_AIA"  # License Exception AIA: Tier 1 destination and headquarters
    LPP = "LPP"  # License Exception LPP: within the consignee's yearly allowance
    LICENSED_WITHIN_CAP = "LICENSED_WITHIN_CAP"  # licensed, and the country cap has room
    UVEU_WITHIN_ALLOCATION = "UVEU_WITHIN_ALLOCATION"  # universal VEU within its shares
    NVEU_WITHIN_ALLOCATION = "NVEU_WITHIN_ALLOCATION"  # national VEU within its allowance
    # chipscreen extension: a controlled item to a destination and parties that the pack in force
    # does not restrict (post-rescission: anywhere outside D:5/Macau).
    NO_LICENSE_REQUIRED = "NO_LICENSE_REQUIRED"
    # -- holds
    TIER3_DESTINATION = "TIER3_DESTINATION"  # D:5 or Macau destination
    HEADQUARTERS_RESTRICTED = "HEADQUARTERS_RESTRICTED"  # a party or its parent in D:5/Macau
    AIA_HEADQUARTERS_INELIGIBLE = "AIA_HEADQUARTERS_INELIGIBLE"  # Tier 1 site, non-Tier-1 parent
    LICENSE_REQUIRED = "LICENSE_REQUIRED"  # no exception applies and there is no license
    COUNTRY_CAP_EXCEEDED = "COUNTRY_CAP_EXCEEDED"  # the licence would cross the country cap
    LPP_EXCEEDED = "LPP_EXCEEDED"  # over the consignee's LPP allowance, with no license
    UVEU_ALLOCATION_EXCEEDED = "UVEU_ALLOCATION_EXCEEDED"
    NVEU_ALLOCATION_EXCEEDED = "NVEU_ALLOCATION_EXCEEDED"
    UNCLASSIFIED_ITEM = "UNCLASSIFIED_ITEM"  # a line neither looked up nor classifiable
    RESTRICTED_PARTY_MATCH = "RESTRICTED_PARTY_MATCH"  # a party matches a restricted-party list
    PRC_ADVANCED_IC = "PRC_ADVANCED_IC"  # PRC-made 3A090 IC (May 2025 guidance)
    # chipscreen extension: the order was cancelled; nothing may ship against it.
    ORDER_CANCELLED = "ORDER_CANCELLED"


APPROVAL_CODES: frozenset[ReasonCode] = frozenset(
    {
        ReasonCode.NOT_CONTROLLED,
        ReasonCode.TIER1_AIA,
        ReasonCode.LPP,
        ReasonCode.LICENSED_WITHIN_CAP,
        ReasonCode.UVEU_WITHIN_ALLOCATION,
        ReasonCode.NVEU_WITHIN_ALLOCATION,
        ReasonCode.NO_LICENSE_REQUIRED,
    }
)
HOLD_CODES: frozenset[ReasonCode] = frozenset(set(ReasonCode) - APPROVAL_CODES)


class SignalCode(StrEnum):
    TRANSSHIPMENT_HUB = "TRANSSHIPMENT_HUB"  # route via a reported diversion hub
    TIER3_TRANSIT = "TIER3_TRANSIT"  # route via Hong Kong, Macau or a D:5 country
    FORWARDER_CONSIGNEE = "FORWARDER_CONSIGNEE"  # a freight forwarder named as consignee
    DESTINATION_MISMATCH = "DESTINATION_MISMATCH"  # shipment goes elsewhere than the order
    CONSIGNEE_MISMATCH = "CONSIGNEE_MISMATCH"  # shipment consignee differs from the order's
    OVER_SHIPMENT = "OVER_SHIPMENT"  # more units shipped (cumulatively) than ordered
    SHIPMENT_OF_HELD_ORDER = "SHIPMENT_OF_HELD_ORDER"  # a held order is being shipped
    ORPHAN_SHIPMENT = "ORPHAN_SHIPMENT"  # no order behind the shipment after the grace period
    SPLIT_ORDERS = "SPLIT_ORDERS"  # orders each under LPP, together over it, in a window
    RESIDENTIAL_ADDRESS = "RESIDENTIAL_ADDRESS"  # commercial quantities to a residence
    RESTRICTED_PARTY_MATCH = "RESTRICTED_PARTY_MATCH"
    PRC_ADVANCED_IC = "PRC_ADVANCED_IC"
    COUNTRY_CAP_NEARING = "COUNTRY_CAP_NEARING"  # a country's cap use crossed 80% or 95%
