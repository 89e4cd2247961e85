#!/usr/bin/env python3
"""Publish musicmeta fetch jobs with pika, as any AMQP client may (docs/jobs.md).

    python3 tests/python/publish_jobs.py --url amqp://guest:guest@127.0.0.1:5672/%2f \
        --job artist:db92a151-1ac2-438b-bc43-b82e149ddd50 --job label:46f0f4cd-8aab-4b33-b698-f459faf64190

Prints one JSON line per job confirmed by the broker ({"job_id", "entity_type",
"mbid"}). Every publish is persistent, mandatory and confirmed: a nack or an
unroutable job (no queue bound to the routing key) exits with status 1.
"""

import argparse
import json
import sys
import uuid

import pika
import pika.exceptions

ENTITY_TYPES = ("artist", "release-group", "release", "recording", "label")


def job_arg(value):
    entity_type, sep, mbid = value.partition(":")
    if not sep or entity_type not in ENTITY_TYPES:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected TYPE:MBID with TYPE one of {', '.join(ENTITY_TYPES)}"
        )
    return entity_type, mbid


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2f",
                        help="AMQP URL of the broker")
    parser.add_argument("--exchange", default="musicmeta.jobs",
                        help="the jobs exchange (amqp.exchange)")
    parser.add_argument("--routing-key", default="fetch.backfill",
                        choices=("fetch.interactive", "fetch.refresh", "fetch.backfill"),
                        help="the lane; bulk work from outside belongs on fetch.backfill")
    parser.add_argument("--job", action="append", type=job_arg, required=True,
                        metavar="TYPE:MBID", help="a job to publish; repeat for more")
    parser.add_argument("--depth", type=int, default=0, choices=range(0, 4))
    parser.add_argument("--force", action="store_true", help="fetch even if fresh")
    parser.add_argument("--contract-version", type=int, default=1,
                        help="the body's v (tests write others to reach the dead-letter queue)")
    args = parser.parse_args()

    try:
        return publish(args)
    except pika.exceptions.AMQPError as error:
        # Cannot connect, no such exchange (the broker closes the channel), ...
        print(f"publish failed: {error!r}", file=sys.stderr)
        return 1


def publish(args):
    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    status = 0
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for entity_type, mbid in args.job:
            job_id = str(uuid.uuid4())
            body = {"v": args.contract_version, "job_id": job_id,
                    "entity_type": entity_type, "mbid": mbid,
                    "depth": args.depth, "force": args.force}
            try:
                channel.basic_publish(
                    exchange=args.exchange,
                    routing_key=args.routing_key,
                    body=json.dumps(body).encode(),
                    properties=pika.BasicProperties(
                        delivery_mode=pika.DeliveryMode.Persistent,
                        content_type="application/json",
                        message_id=job_id,
                    ),
                    mandatory=True,
                )
            except pika.exceptions.UnroutableError:
                print(f"unroutable: no queue bound to {args.routing_key!r} on "
                      f"{args.exchange!r}", file=sys.stderr)
                status = 1
                break
            except pika.exceptions.NackError:
                print(f"broker refused job {job_id} (nack)", file=sys.stderr)
                status = 1
                break
            print(json.dumps({"job_id": job_id, "entity_type": entity_type, "mbid": mbid}),
                  flush=True)
    finally:
        if connection.is_open:
            connection.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
