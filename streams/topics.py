"""The contract's topics, their partition counts and their explicit creation.

Faust creates only its own internal topics; a topic the broker auto-created would get the broker's
default partition count and break co-partitioning, so every topic chipscreen reads or writes is
created here, before the worker starts, with the count it needs.
"""

from __future__ import annotations

import dataclasses
import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.settings import Settings

log = logging.getLogger(__name__)

ORDERS = "orders"
SHIPMENTS = "shipments"
POLICY = "policy"
APPROVALS = "screening.approvals"
HOLDS = "screening.holds"
ALERTS = "screening.alerts"
DEAD_LETTER = "screening.dead-letter"
# Internal repartition topics, named after the app id (never the agent: two apps must not share).
ORDERS_BY_COUNTRY = "orders-by-country"
ORDERS_BY_VEU = "orders-by-veu"
SHIPMENTS_BY_ORDER = "shipments-by-order"


def internal(settings: Settings, name: str) -> str:
    return settings.topic(f"{settings.app_id}.{name}")


@dataclasses.dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = dataclasses.field(default_factory=dict)


def contract_topics(settings: Settings) -> list[TopicSpec]:
    """Every contract topic with its configured name and partition count."""
    n = settings.partitions
    compacted = {"cleanup.policy": "compact"}
    # Dead letters carry the original bytes, which may be up to the broker's message limit.
    big = {"max.message.bytes": str(8 * 1024 * 1024)}
    return [
        TopicSpec(settings.topic(ORDERS), n, big),
        TopicSpec(settings.topic(SHIPMENTS), n, big),
        # One partition: the policy log is small and every worker reads all of it in order.
        TopicSpec(settings.topic(POLICY), 1, compacted),
        TopicSpec(settings.topic(APPROVALS), n),
        TopicSpec(settings.topic(HOLDS), n),
        TopicSpec(settings.topic(ALERTS), n),
        TopicSpec(settings.topic(DEAD_LETTER), n, big),
        # co-partitioned with each other and the output topics: same count n
        TopicSpec(internal(settings, ORDERS_BY_COUNTRY), n, big),
        TopicSpec(internal(settings, ORDERS_BY_VEU), n, big),
        TopicSpec(internal(settings, SHIPMENTS_BY_ORDER), n, big),
    ]


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; returns the names it created. Existing topics are left alone."""
    specs = specs if specs is not None else contract_topics(settings)
    admin = KafkaAdminClient(**settings.kafka_python_config())
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            spec.name,
                            spec.partitions,
                            settings.replication_factor,
                            topic_configs=spec.config,
                        )
                    ]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another worker created it between our list and create
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()
