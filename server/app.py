"""The gRPC server: servicers, health, reflection, graceful shutdown.

Handlers are thin: validate at the edge (``convert``), run the work in a
thread inside one database transaction, map any error in one place
(``errors.to_status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import RulesError
from engine.evaluate import RulesEngine
from engine.loader import load_ruleset
from lenses.v1 import (
    action_pb2,
    action_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    diagnostics_pb2,
    diagnostics_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
    rules_pb2,
    rules_pb2_grpc,
)

from . import actions, auth, convert, daily, metrics, reviews
from .actions import Actor
from .audits import AuditService
from .clock import today_in_england
from .config import Settings
from .errors import to_status
from .migrate import NotMigrated, require_current
from .providers import ProviderService
from .store import Store

log = logging.getLogger("lenses.server")
calls_log = logging.getLogger("lenses.calls")
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("lenses_request_id", default="-")
WORKER_THREADS = 16
ORPHAN_CHECK_SECONDS = 1.0
DEADLINE_SLACK = 0.05  # seconds: a call cancelled this close to its deadline timed out
T = TypeVar("T")
SERVICES = (
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"],
    action_pb2.DESCRIPTOR.services_by_name["ActionService"],
    provider_pb2.DESCRIPTOR.services_by_name["ProviderService"],
    review_pb2.DESCRIPTOR.services_by_name["ReviewService"],
    rules_pb2.DESCRIPTOR.services_by_name["RulesService"],
    diagnostics_pb2.DESCRIPTOR.services_by_name["DiagnosticsService"],
)


def client_name(context: grpc.aio.ServicerContext) -> str:
    """Who is calling: the authenticated client's name, stored with every write."""
    return auth.CURRENT.get().name


class Lenses:
    """The application: rules engine, store and the logic behind every RPC."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients = _clients(settings, warn=False)  # check_startup has warned
        self.engine = RulesEngine.from_directory(settings.rules_dir)
        self.store = Store(settings.database_url)
        self.audits = AuditService(self.engine, settings.store_narrative)
        self.providers = ProviderService(self.engine)
        self.reviews = reviews.ReviewService(self.engine)
        self.bus = EventBus()

    async def call(self, context: grpc.aio.ServicerContext, work: Callable[[], T],
                   on_loop: bool = False) -> T:
        """Run blocking ``work`` off the event loop (or, ``on_loop``, on it); map any
        error to a status."""
        request_id = REQUEST_ID.get()
        try:
            return work() if on_loop else await asyncio.to_thread(work)
        except Exception as error:  # mapped in one place, never leaked
            code, message, status = to_status(error, request_id)
            if status is not None:
                await context.abort_with_status(rpc_status.to_status(status))
            await context.abort(code, message)
            raise  # unreachable: abort raises

    def write(self, context: grpc.aio.ServicerContext,
              work: Callable[[Session, Actor], T]) -> Callable[[], T]:
        """A transactional write, as ``work(session, actor)``; watchers are woken
        once it has committed."""
        actor = Actor(client_name(context), today_in_england())

        def run() -> T:
            try:
                return self.store.run(lambda session: work(session, actor))
            finally:
                self.bus.notify_threadsafe()
        return run

    def read(self, work: Callable[[Session], T]) -> Callable[[], T]:
        """A read-only transaction."""
        return lambda: self.store.read(work)

    async def short_read(self, context: grpc.aio.ServicerContext, work: Callable[[Session], T]) -> T:
        """A read of one audit or action and what it needs (a few indexed statements).

        Where reads never wait (SQLite, ``Store.reads_never_wait``) it runs on the
        event loop: it is CPU work under the GIL either way, and a thread only added
        its hand-off and contention (EvaluateAudit at 16 clients served about 1.4x
        the requests/s this way; ``make bench``). Elsewhere a read waits on the
        network, so it runs in a thread like any other call.
        """
        return await self.call(context, self.read(work), on_loop=self.store.reads_never_wait)


class StartupError(Exception):
    """The server must not start; the message says why."""


def check_startup(settings: Settings, warn: bool = True) -> None:
    """Everything that must hold before serving: tokens (or loopback), TLS files, a
    rules folder that loads, a database with every migration (health says SERVING
    only once it is ready). ``warn``: log what is allowed but worth knowing (the
    supervisor does, once; its workers check again without repeating it)."""
    _clients(settings, warn)
    _tls_credentials(settings)
    try:
        load_ruleset(settings.rules_dir)  # its problems named (file:line), not a traceback
    except RulesError as exc:
        raise StartupError(f"the rules in {settings.rules_dir} do not load:\n{exc}") from exc
    try:
        require_current(settings.database_url)
    except NotMigrated as exc:
        raise StartupError(str(exc)) from exc


def _clients(settings: Settings, warn: bool = True) -> auth.Clients | None:
    if settings.tokens_file:
        try:
            clients = auth.load_clients(settings.tokens_file)
        except auth.TokensFileError as exc:
            raise StartupError(str(exc)) from exc
        if warn and not settings.tls_client_ca:
            _warn_certificate_only(clients)
        return clients
    if not settings.is_loopback:
        raise StartupError(f"refusing to listen on {settings.listen} without LENSES_TOKENS_FILE: "
                           "without tokens only a loopback address is allowed")
    if warn:
        log.warning("no LENSES_TOKENS_FILE: accepting unauthenticated calls (loopback only)")
    return None


def _warn_certificate_only(clients: auth.Clients) -> None:
    """A client with no token can only present a certificate, which is never asked
    for without LENSES_TLS_CLIENT_CA: it could not make a single call."""
    with_tokens = {principal.name for principal in clients.by_digest.values()}
    stranded = sorted(set(clients.by_name) - with_tokens)
    if stranded:
        log.warning("client(s) %s have no token_sha256 and, without LENSES_TLS_CLIENT_CA, no "
                    "certificate is asked for: they cannot call", ", ".join(stranded))


def _tls_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS when a certificate is configured; mutual TLS when a client CA is too. A
    key or client CA without a certificate (or a certificate without its key) is
    refused: serving in plaintext then would be a silent downgrade."""
    if not settings.tls_cert:
        if settings.tls_key or settings.tls_client_ca:
            raise StartupError("LENSES_TLS_KEY and LENSES_TLS_CLIENT_CA need LENSES_TLS_CERT")
        return None
    if not settings.tls_key:
        raise StartupError("LENSES_TLS_CERT needs LENSES_TLS_KEY")
    try:
        key = Path(settings.tls_key).read_bytes()
        chain = Path(settings.tls_cert).read_bytes()
        client_ca = Path(settings.tls_client_ca).read_bytes() if settings.tls_client_ca else None
    except OSError as exc:
        raise StartupError(f"cannot read TLS files: {exc}") from exc
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


class EventBus:
    """Wakes this process's WatchActions streams when a write commits. Writes by
    other processes are seen by polling (every POLL seconds)."""

    POLL = 0.05

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def _current(self) -> asyncio.Event:
        if self._event is None:
            self._loop = asyncio.get_running_loop()
            self._event = asyncio.Event()
        return self._event

    def notify_threadsafe(self) -> None:
        """Called from a worker thread after a write."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        event = self._current()
        self._event = asyncio.Event()
        event.set()

    async def wait(self) -> None:
        """Until the next local write, or POLL seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._current().wait(), self.POLL)


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """AuditService: called by the case management system on every save."""

    def __init__(self, app: Lenses) -> None:
        self.app = app

    async def SubmitAudit(self, request: Any, context: Any) -> Any:  # noqa: N802
        audits = self.app.audits

        def save() -> Any:
            submission = audits.prepare(request.audit)  # before waiting for the turn to write
            return self.app.write(context, lambda s, a: audits.submit(s, submission, a))()
        return await self.app.call(context, save)

    async def EvaluateAudit(self, request: Any, context: Any) -> Any:  # noqa: N802
        actor = Actor(client_name(context), today_in_england())
        return await self.app.short_read(
            context, lambda s: self.app.audits.submit(s, request.audit, actor, dry_run=True))

    async def GetAudit(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.short_read(
            context, lambda s: self.app.audits.get(s, _required_id(request.audit_id, "audit_id"),
                                                   today_in_england()))

    async def ModerateAudit(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.write(
            context, lambda s, a: self.app.audits.moderate(s, request, a)))

    async def RecordPlanRating(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.write(
            context, lambda s, a: self.app.providers.record_plan_rating(s, request.rating, a)))


class ProviderServicer(provider_pb2_grpc.ProviderServiceServicer):
    """ProviderService: called by the provider monitoring system."""

    def __init__(self, app: Lenses) -> None:
        self.app = app

    async def RecordInspection(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.write(
            context, lambda s, a: self.app.providers.record_inspection(s, request.inspection, a)))

    async def RecordPlacement(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.write(
            context, lambda s, a: self.app.providers.record_placement(s, request.placement, a)))

    async def GetProvider(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.read(
            lambda s: self.app.providers.get_provider(
                s, _required_id(request.provider_id, "provider_id"), today_in_england())))


class ActionServicer(action_pb2_grpc.ActionServiceServicer):
    """ActionService: everyone who tracks follow-up."""

    def __init__(self, app: Lenses) -> None:
        self.app = app

    async def ListActions(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.read(
            lambda s: actions.list_actions(s, request, today_in_england())))

    async def GetAction(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.short_read(
            context, lambda s: actions.to_proto(
                actions.get(s, _required_id(request.action_id, "action_id")), today_in_england()))

    async def CompleteAction(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.write(
            context, lambda s, a: actions.to_proto(self.app.audits.complete_action(s, request, a),
                                                   a.today)))

    async def WatchActions(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Every event after ``after_sequence``, then new ones as they commit."""
        watch = await self.app.call(context, lambda: actions.check_filter(request.filter))
        after = request.after_sequence
        batch = 500
        while True:
            # "Today" (``overdue``) is taken at each read: a stream can stay open for days.
            page = await self.app.call(context, self.app.read(functools.partial(
                actions.events_after, after=after, watch=watch, limit=batch, today=today_in_england())))
            for event in page.events:
                yield event
            after = page.scanned_to
            if page.at_end:
                await self.app.bus.wait()

    async def RunEscalations(self, request: Any, context: Any) -> Any:  # noqa: N802
        def work(session: Session, actor: Actor) -> Any:
            as_of = _required_date(request.as_of, "as_of")
            created = actions.sweep(session, self.app.engine, as_of, actor,
                                    reviews.sweep_panels(session))
            return action_pb2.RunEscalationsResponse(
                created=[actions.to_proto(r, as_of) for r in created])
        response = await self.app.call(context, self.app.write(context, work))
        # Counted once it has committed (a retried transaction runs ``work`` again).
        metrics.SWEEPS.labels(result="requested").inc()
        metrics.SWEEP_ACTIONS.inc(len(response.created))
        return response


async def new_health_servicer() -> health.aio.HealthServicer:
    """The health service, NOT_SERVING for the whole server until ``serve`` has seen the
    database answer (operations.md: SERVING only once the rules and the database are
    ready). grpcio's servicer starts SERVING, which the port would answer at once."""
    servicer = health.aio.HealthServicer()
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    return servicer


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    """ReviewService: six-monthly service performance reviews, the monthly compendium."""

    def __init__(self, app: Lenses) -> None:
        self.app = app

    async def ScoreReview(self, request: Any, context: Any) -> Any:  # noqa: N802
        actor = Actor(client_name(context), today_in_england())
        return await self.app.call(context, self.app.read(
            lambda s: self.app.reviews.submit(s, request.review, actor, dry_run=True)))

    async def SubmitReview(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.write(
            context, lambda s, a: self.app.reviews.submit(s, request.review, a)))

    async def GetLensIndicators(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.read(
            lambda s: self.app.reviews.indicators(s, request, today_in_england())))

    async def GetCompendium(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self.app.call(context, self.app.read(
            lambda s: self.app.reviews.compendium(s, request, today_in_england())))


class RulesServicer(rules_pb2_grpc.RulesServiceServicer):
    """RulesService: what is loaded now."""

    def __init__(self, app: Lenses) -> None:
        self.app = app

    async def GetRuleset(self, request: Any, context: Any) -> Any:  # noqa: N802
        return convert.ruleset_to_proto(self.app.engine.ruleset)


class DiagnosticsServicer(diagnostics_pb2_grpc.DiagnosticsServiceServicer):
    """A trivial RPC: the floor that gRPC in Python allows (benchmarks)."""

    async def Echo(self, request: Any, context: Any) -> Any:  # noqa: N802
        return diagnostics_pb2.EchoResponse(payload=request.payload)


class Undecodable:
    """Stands for request bytes that are not the expected message."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def _safe_parser(message_class: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except DecodeError:
            return Undecodable(message_class.DESCRIPTOR.full_name)
    return parse


async def _admit(request: Any, context: grpc.aio.ServicerContext, authenticator: auth.Authenticator,
                 service: str, method: str) -> None:
    """Authenticate and authorise the call, then check the request decoded."""
    REQUEST_ID.set(uuid.uuid4().hex[:12])
    try:
        principal = authenticator.principal(tuple(context.invocation_metadata() or ()),
                                            _certificate_name(context))
        authenticator.check(principal, service, method)
    except auth.Denied as denied:
        code = grpc.StatusCode.PERMISSION_DENIED
        if denied.unauthenticated:
            code = grpc.StatusCode.UNAUTHENTICATED
        await context.abort(code, str(denied))
    # This call's task (and the threads it starts) see it, scoped to this method.
    auth.CURRENT.set(auth.for_call(principal, service, method))
    if isinstance(request, Undecodable):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"the request is not a valid {request.type_name} message")


def _certificate_name(context: grpc.aio.ServicerContext) -> str | None:
    names = (context.auth_context() or {}).get("x509_common_name") or []
    return names[0].decode() if names else None


def _log_call(context: grpc.aio.ServicerContext, service: str, method: str, started: float,
              ended_by: BaseException | None) -> None:
    """One line per call: ids, codes and timings only, never request content."""
    name = _status_name(context, ended_by)
    seconds = time.perf_counter() - started
    metrics.call(f"{service}.{method}", name, seconds)
    calls_log.info("%s.%s %s %.1f ms", service, method, name, seconds * 1000,
                   extra={"request_id": REQUEST_ID.get(), "rpc": f"{service}.{method}", "code": name,
                          "client": auth.CURRENT.get().name})


def _status_name(context: grpc.aio.ServicerContext, ended_by: BaseException | None) -> str:
    """The status the client got. An abort sets the context's code; a handler ended
    by the call's deadline or by the client's cancel sets none (it ends with
    CancelledError, or a stream's generator is closed), and neither does an exception
    that escapes (gRPC answers UNKNOWN): counted as OK, timeouts looked like successes."""
    code = context.code()
    if code is not None:
        return code.name if isinstance(code, grpc.StatusCode) else str(code)
    if ended_by is None:
        return "OK"
    if isinstance(ended_by, asyncio.CancelledError | GeneratorExit):  # a stream may be closed instead
        remaining = context.time_remaining()
        # gRPC's clock and Python's may differ a little: "at the deadline" has some slack.
        expired = remaining is not None and remaining < DEADLINE_SLACK
        return "DEADLINE_EXCEEDED" if expired else "CANCELLED"
    return "UNKNOWN"


def _guarded(behaviour: Callable[[Any, Any], Any], authenticator: auth.Authenticator, service: str,
             method: str) -> Callable[[Any, Any], Any]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        ended_by: BaseException | None = None
        try:
            await _admit(request, context, authenticator, service, method)
            return await behaviour(request, context)
        except BaseException as error:  # noted for the status, then raised as it was
            ended_by = error
            raise
        finally:
            _log_call(context, service, method, started, ended_by)
    return handle


def _guarded_stream(behaviour: Callable[[Any, Any], Any], authenticator: auth.Authenticator,
                    service: str, method: str) -> Callable[[Any, Any], Any]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        ended_by: BaseException | None = None
        try:
            await _admit(request, context, authenticator, service, method)
            async for item in behaviour(request, context):
                yield item
        except BaseException as error:  # noted for the status, then raised as it was
            ended_by = error
            raise
        finally:
            _log_call(context, service, method, started, ended_by)
    return handle


def handlers_for(service: ServiceDescriptor, servicer: object,
                 authenticator: auth.Authenticator) -> grpc.GenericRpcHandler:
    """gRPC handlers for every method the servicer implements, built from the
    descriptor: undecodable request bytes get INVALID_ARGUMENT (grpc's own
    deserializer would answer UNKNOWN with the parser's message)."""
    handlers = {}
    for method in service.methods:
        if method.name not in vars(type(servicer)):
            continue  # not implemented yet: gRPC answers UNIMPLEMENTED
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        if method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                _guarded_stream(getattr(servicer, method.name), authenticator, service.name, method.name),
                request_deserializer=_safe_parser(request_class),
                response_serializer=response_class.SerializeToString,
            )
            continue
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _guarded(getattr(servicer, method.name), authenticator, service.name, method.name),
            request_deserializer=_safe_parser(request_class),
            response_serializer=response_class.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _required_id(value: str, name: str) -> str:
    check = convert.Checker()
    check.ident(name, value, required=True)
    check.done()
    return value


def _required_date(value: str, name: str) -> date:
    check = convert.Checker()
    day = check.date(name, value, required=True)
    check.done()
    assert day is not None
    return day


async def _stop_when_orphaned(supervisor_pid: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once this worker's supervisor is gone (killed with SIGKILL, say,
    so it could not stop its workers): a worker left behind would go on serving
    the shared port with old settings and rules beside a new supervisor's workers."""
    while os.getppid() == supervisor_pid:
        await asyncio.sleep(ORPHAN_CHECK_SECONDS)
    log.error("the supervisor (pid %d) is gone: stopping", supervisor_pid)
    stop.set()


async def serve(settings: Settings, ready: Callable[[str], None] | None = None,
                supervisor_pid: int | None = None) -> None:
    """Run the server until SIGTERM or SIGINT (or, with ``supervisor_pid``, until that
    supervisor is gone), then drain in-flight calls."""
    # Again in each worker (one started later checks for itself), without repeating
    # the supervisor's warnings in every worker's log.
    check_startup(settings, warn=supervisor_pid is None)
    app = Lenses(settings)
    # Handlers wait on the database in threads; more threads than the default
    # (CPUs + 4) keep the PostgreSQL pool busy while others wait on locks.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=WORKER_THREADS))
    server = grpc.aio.server()
    servicers = (AuditServicer(app), ActionServicer(app), ProviderServicer(app), ReviewServicer(app),
                 RulesServicer(app), DiagnosticsServicer())
    authenticator = auth.Authenticator(app.clients)
    server.add_generic_rpc_handlers([
        handlers_for(descriptor, servicer, authenticator)
        for descriptor, servicer in zip(SERVICES, servicers, strict=True)
    ])
    health_servicer = await new_health_servicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [s.full_name for s in SERVICES] + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                               reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    credentials = _tls_credentials(settings)
    if credentials is None:
        port = server.add_insecure_port(settings.listen)
    else:
        port = server.add_secure_port(settings.listen, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {settings.listen}")
    # The database answers before the port opens, and health stays NOT_SERVING until
    # the statuses below are set: nothing reports SERVING before both are ready.
    app.store.read(lambda session: session.execute(text("SELECT 1")))
    await server.start()
    for name in ["", *(s.full_name for s in SERVICES)]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    address = f"{settings.listen.rsplit(':', 1)[0]}:{port}"
    log.info("serving on %s (rules %s, store %s)", address, app.engine.ruleset.version,
             app.store.engine.url.render_as_string(hide_password=True))
    if ready:
        ready(address)
    every = daily.interval()
    sweeper = None
    if every is not None:
        sweeper = asyncio.create_task(
            daily.daily_sweeps(app.store, app.engine, f"sweep:{os.getpid()}", every))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    orphaned = (asyncio.create_task(_stop_when_orphaned(supervisor_pid, stop))
                if supervisor_pid is not None else None)
    await stop.wait()
    log.info("shutting down: finishing in-flight calls")
    for task in (sweeper, orphaned):
        if task is not None:
            task.cancel()
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace=10)
    app.store.close()

