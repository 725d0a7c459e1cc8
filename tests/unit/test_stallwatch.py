"""StallWatch: which partitions to seek back, and when not to."""

from __future__ import annotations

from streams.stallwatch import PartitionProgress, StallWatch

STUCK = PartitionProgress(committed=3668, read=25017, high=25018)  # seen in a SIGKILL run


def test_a_partition_read_to_the_end_but_never_committed_is_sought_back() -> None:
    watch = StallWatch(after_s=30)
    assert watch.stalled({"orders-0": STUCK}, now=0, flow_active=True) == []
    assert watch.stalled({"orders-0": STUCK}, now=29, flow_active=True) == []
    assert watch.stalled({"orders-0": STUCK}, now=30, flow_active=True) == [("orders-0", 3668)]
    # once sought back, the clock starts again
    assert watch.stalled({"orders-0": STUCK}, now=31, flow_active=True) == []


def test_commit_progress_resets_the_clock() -> None:
    watch = StallWatch(after_s=30)
    watch.stalled({"p": STUCK}, now=0, flow_active=True)
    moved = PartitionProgress(committed=5000, read=25017, high=25018)
    assert watch.stalled({"p": moved}, now=25, flow_active=True) == []
    assert watch.stalled({"p": moved}, now=50, flow_active=True) == []
    assert watch.stalled({"p": moved}, now=55, flow_active=True) == [("p", 5000)]


def test_healthy_partitions_are_left_alone() -> None:
    watch = StallWatch(after_s=1)
    caught_up = PartitionProgress(committed=25018, read=25017, high=25018)
    still_reading = PartitionProgress(committed=3668, read=9000, high=25018)
    never_read = PartitionProgress(committed=None, read=None, high=10)
    for now in (0, 5, 10):
        assert (
            watch.stalled(
                {"a": caught_up, "b": still_reading, "c": never_read}, now=now, flow_active=True
            )
            == []
        )


def test_nothing_is_sought_while_flow_is_suspended() -> None:
    watch = StallWatch(after_s=1)
    watch.stalled({"p": STUCK}, now=0, flow_active=True)
    assert watch.stalled({"p": STUCK}, now=5, flow_active=False) == []
    # suspension (a rebalance, recovery) restarts the clock
    assert watch.stalled({"p": STUCK}, now=6, flow_active=True) == []
    assert watch.stalled({"p": STUCK}, now=7, flow_active=True) == [("p", 3668)]
