"""Which partition of the events topic an account's records land on (Kafka's default
partitioner for keyed records: murmur2 of the key, as the Java and kafka-python clients)."""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def partition_of(account: str, partitions: int) -> int:
    hashed: int = murmur2(account.encode())
    return (hashed & 0x7FFFFFFF) % partitions
