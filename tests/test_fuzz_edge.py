"""10,000 fuzzed requests at the gRPC edge, over every RPC: random and mutated
bytes, and well-formed messages with random fields. Only OK or documented error
codes come back, never INTERNAL or UNKNOWN, and the server keeps serving."""

from __future__ import annotations

import os
import random
import threading
from collections import Counter

import grpc
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lenses.v1 import audit_pb2
from tests.api import audit
from tests.test_contract import DESCRIPTORS

REQUESTS = int(os.environ.get("LENSES_EDGE_FUZZ_REQUESTS", "10000"))
THREADS = 8
ALLOWED = {
    "OK",
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
    "ALREADY_EXISTS",
    "NOT_FOUND",
    "DEADLINE_EXCEEDED",
}  # a WatchActions stream simply runs until its deadline
SEED = audit_pb2.SubmitAuditRequest(audit=audit()).SerializeToString()


def _methods() -> list[tuple[str, bool, type]]:
    found = []
    for service in DESCRIPTORS:
        for method in service.methods:
            request = message_factory.GetMessageClass(method.input_type)
            found.append((f"/{service.full_name}/{method.name}", method.server_streaming, request))
    return found


def _payload(rng: random.Random, request_class: type) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return rng.randbytes(rng.randrange(0, 200))
    if choice == 1:
        mutated = bytearray(SEED)
        for _ in range(rng.randrange(1, 10)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        return bytes(mutated[: rng.randrange(len(mutated) + 1)])
    message = request_class()
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated or field.message_type is not None:
            continue
        if field.type == field.TYPE_STRING:
            setattr(
                message,
                field.name,
                rng.choice(
                    ["", "x" * rng.randrange(300), "2026-02-30", "A\u00e9\U0001f600", "nul\x00", "2026-01-15"]
                ),
            )
        elif field.type in (field.TYPE_INT64, field.TYPE_INT32):
            setattr(message, field.name, rng.choice([0, -1, 1, 2**31 - 1]))
        elif field.type == field.TYPE_BOOL:
            setattr(message, field.name, rng.random() < 0.5)
        elif field.type == field.TYPE_ENUM:
            setattr(message, field.name, rng.randrange(-2, 30))
    return message.SerializeToString()


def test_ten_thousand_fuzzed_requests(server) -> None:  # type: ignore[no-untyped-def]
    methods = _methods()
    codes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        with server.channel() as channel:
            for _ in range(REQUESTS // THREADS):
                path, streaming, request_class = rng.choice(methods)
                payload = _payload(rng, request_class)
                code = "OK"
                try:
                    if streaming:
                        call = channel.unary_stream(
                            path, request_serializer=bytes, response_deserializer=bytes
                        )
                        for _ in call(payload, timeout=0.3):
                            pass
                    else:
                        channel.unary_unary(path, request_serializer=bytes, response_deserializer=bytes)(
                            payload, timeout=30
                        )
                except grpc.RpcError as error:
                    code = error.code().name
                with lock:
                    codes[code] += 1

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert sum(codes.values()) == REQUESTS // THREADS * THREADS
    assert set(codes) <= ALLOWED, codes
    assert codes["INVALID_ARGUMENT"] > REQUESTS // 4  # the fuzzing reached validation
    with server.channel() as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    assert server.alive()
