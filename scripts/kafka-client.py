#!/usr/bin/env python3
"""A third-party Kafka client (Python confluent-kafka) for Sluice's Kafka tests and examples.

    kafka-client.py BOOTSTRAP create TOPIC PARTITIONS      # creates the topic
    kafka-client.py BOOTSTRAP produce TOPIC [PARTITIONS [KEY]]
                        # JSON lines on stdin, one record each, round-robin over the partitions;
                        # with KEY, keyed by that field (murmur2, as Java clients place keys)
    kafka-client.py BOOTSTRAP consume TOPIC COUNT [SECS [txn]]
                        # read_committed from the beginning of every partition; prints values
                        # until COUNT came and SECS (2) more passed; with `txn`, each line is
                        # the record's `sluice.txn` header, a tab, and the value
    kafka-client.py BOOTSTRAP committed TOPIC GROUP   # GROUP's committed offsets of TOPIC:
                        # one line per partition: PARTITION OFFSET METADATA

Install the client with `scripts/kafka-broker.sh client` (pip, into ~/.cache/sluice/pykafka) and
run with that directory on PYTHONPATH. Exits non-zero on any delivery or consume error.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def produce(bootstrap, topic, partitions, key=None):
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "partitioner": "murmur2_random"})
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(str(err))

    for i, line in enumerate(sys.stdin):
        line = line.rstrip("\n")
        if not line:
            continue
        if key is None:
            producer.produce(topic, value=line.encode(), partition=i % partitions, on_delivery=report)
        else:
            k = str(json.loads(line)[key]).encode()
            producer.produce(topic, value=line.encode(), key=k, on_delivery=report)
        producer.poll(0)
    remaining = producer.flush(30)
    if remaining or failures:
        sys.exit(f"kafka-client: {remaining} undelivered, errors: {failures[:3]}")


def consume(bootstrap, topic, count, settle, txn=False):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"kafka-client-{time.time_ns()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = metadata.topics[topic].partitions
    if not partitions:
        sys.exit(f"kafka-client: topic {topic} does not exist")
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    seen = 0
    deadline = time.time() + 60
    stop = time.time() + settle if count <= 0 else None
    while time.time() < deadline and (stop is None or time.time() < stop):
        msg = consumer.poll(0.1)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        if txn:
            header = dict(msg.headers() or []).get("sluice.txn", b"").decode()
            print(f"{header}\t{msg.value().decode()}")
        else:
            print(msg.value().decode())
        seen += 1
        if seen >= count and stop is None:
            stop = time.time() + settle
    consumer.close()


def committed(bootstrap, topic, group):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    for tp in consumer.committed([TopicPartition(topic, p) for p in sorted(partitions)], timeout=10):
        print(f"{tp.partition} {tp.offset} {tp.metadata or ''}")
    consumer.close()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    bootstrap, command, topic = sys.argv[1:4]
    if command == "create":
        create(bootstrap, topic, int(sys.argv[4]))
    elif command == "produce":
        produce(
            bootstrap, topic, int(sys.argv[4]) if len(sys.argv) > 4 else 1, sys.argv[5] if len(sys.argv) > 5 else None
        )
    elif command == "consume":
        settle = float(sys.argv[5]) if len(sys.argv) > 5 else 2.0
        consume(bootstrap, topic, int(sys.argv[4]), settle, len(sys.argv) > 6 and sys.argv[6] == "txn")
    elif command == "committed":
        committed(bootstrap, topic, sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
