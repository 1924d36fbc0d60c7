"""The API's unit of work: authenticate, run the endpoint, store the idempotent response, commit once.

A request has two phases (docs/deploy.md, "SQLite: one writer at a time"). The read phase looks up
its API key and, with an `Idempotency-Key`, a stored response to replay: a wrong key or a retry is
answered without waiting for SQLite's write lock. The write phase is the request's session, whose
first statement (in the endpoint) waits for the process's turn to write; the turn is held until the
commit. What follows the endpoint in that phase (the audit entry, the stored response, the commit or
rollback) runs in a thread of its own rather than one of the shared request threads, which may all be
taken by writers waiting for this very turn.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from tenure.api import idempotency
from tenure.api.errors import AuthenticationFailed, IdempotencyError, InvalidRequest, NotFound, TenureError
from tenure.api.forms import request_params
from tenure.api.responses import client_disconnected, error_response, json_response
from tenure.audit.api import audited, record_api_request
from tenure.keys.models import ApiKey
from tenure.keys.service import find_active_key
from tenure.ratelimit import api_rate_limited
from tenure.runtime import Runtime

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
T = TypeVar("T")


def presented_secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        raise AuthenticationFailed(
            "You did not provide an API key. You need to provide your API key in the Authorization "
            "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    if scheme.lower() == "bearer":
        secret = value.strip()
    elif scheme.lower() == "basic":
        try:
            secret = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationFailed("Invalid Basic authorization header.") from None
    else:
        raise AuthenticationFailed("Invalid authorization header: use Bearer auth with your secret key.")
    if not secret:
        raise AuthenticationFailed("You did not provide an API key.")
    return secret


def _authenticate(runtime: Runtime, secret: str) -> ApiKey:
    with runtime.read_session() as session:
        key = find_active_key(session, secret, now=runtime.clock.now())
        if key is None:
            shown = secret[:8] + "*" * 8 + secret[-4:] if len(secret) > 12 else "*" * len(secret)
            raise AuthenticationFailed(f"Invalid API Key provided: {shown}")
        session.expunge(key)
        return key


def request_session(request: Request) -> Session:
    """The request's one session, opened on first use and committed by `ApiRoute`."""
    session: Session | None = getattr(request.state, "db", None)
    if session is None:
        runtime: Runtime = request.app.state.runtime
        session = runtime.sessionmaker()
        request.state.db = session
    return session


async def _holding_the_turn(func: Callable[..., T], *args: Any) -> T:
    """Run `func` in a thread of its own, outside the request threads' shared limit (as FastAPI runs a
    dependency's exit). For the steps of a write phase that come after the endpoint: the turn to
    write is held until the commit, and waiting for a request thread then could last until every
    writer queued behind it had given up."""
    return await anyio.to_thread.run_sync(func, *args, limiter=CapacityLimiter(1))


class ApiRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        endpoint_handler = super().get_route_handler()

        async def handler(request: Request) -> Response:
            runtime: Runtime = request.app.state.runtime
            try:
                if "\x00" in request.url.path or "%00" in request.url.path:
                    raise NotFound(f"Unrecognized request URL ({request.method}: {request.url.path}).")
                key = await run_in_threadpool(_authenticate, runtime, presented_secret(request))
                request.state.api_key = key
                limited = await api_rate_limited(request, key.id)
                if limited is not None:
                    return limited
                idem_key = request.headers.get("idempotency-key") if request.method == "POST" else None
                if idem_key is not None:
                    return await _idempotent(request, runtime, key, idem_key, endpoint_handler)
                return await _run(request, endpoint_handler)
            except TenureError as exc:
                return error_response(exc)
            except ClientDisconnect:
                return client_disconnected(request)

        return handler


async def _run(request: Request, endpoint_handler: Handler) -> Response:
    try:
        response = await endpoint_handler(request)
        if audited(request, response):  # in the request's transaction: both commit or neither
            await _holding_the_turn(record_api_request, request_session(request), request, response)
        session: Session | None = getattr(request.state, "db", None)
        if session is not None:
            await _holding_the_turn(session.commit)
        return response
    except TenureError as exc:
        await _rollback(request)
        return error_response(exc)
    except BaseException:
        await _rollback(request)
        raise
    finally:
        await _close(request)


async def _idempotent(
    request: Request, runtime: Runtime, key: ApiKey, idem_key: str, endpoint_handler: Handler
) -> Response:
    if not idem_key or len(idem_key) > idempotency.MAX_KEY_LENGTH:
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_LENGTH} characters.", param="Idempotency-Key"
        )
    # Parameters that do not parse are refused before anything is stored: as on Stripe, a result is
    # saved only once the endpoint has begun, and the key stays free for the corrected request.
    params = await request_params(request)
    print_ = idempotency.fingerprint(request.method, request.url.path, params)
    legacy_print = idempotency.legacy_fingerprint(request.method, request.url.path, await request.body())
    now = runtime.clock.now()
    not_before = now - runtime.settings.idempotency_ttl_seconds

    # A retry is answered in the read phase, without a turn to write.
    stored = await run_in_threadpool(_stored_response, runtime, idem_key)
    if stored is not None and stored.created >= not_before:
        return _replay(runtime, stored, (print_, legacy_print), idem_key)

    session = request_session(request)
    try:
        try:
            response = await endpoint_handler(request)  # its first statement waits for the turn
            if audited(request, response):
                await _holding_the_turn(record_api_request, session, request, response)
        except TenureError as exc:
            await _rollback(request)
            response = error_response(exc)
            if exc.status_code >= 500:
                return response
        body_bytes = bytes(response.body)
        record = idempotency.IdempotencyRecord(
            api_key_id=key.id,
            key=idem_key,
            fingerprint=print_,
            status_code=response.status_code,
            body=runtime.response_box.encrypt(body_bytes.decode("utf-8")),
            created=now,
        )
        try:
            # An expired record under the key (seen above, or since) makes way for this one.
            await _holding_the_turn(_store, session, record, not_before)
        except IntegrityError:
            # A concurrent request with the same key committed first: undo ours, replay theirs.
            await _rollback(request)
            winner = await run_in_threadpool(_stored_response, runtime, idem_key)
            if winner is None or winner.created < not_before:
                raise
            return _replay(runtime, winner, (print_,), idem_key)
        return response
    except BaseException:
        await _rollback(request)
        raise
    finally:
        await _close(request)


def _stored_response(runtime: Runtime, idem_key: str) -> idempotency.IdempotencyRecord | None:
    """The response stored under the key, however old (a read phase)."""
    with runtime.read_session() as session:
        record = idempotency.find_record(session, key=idem_key, not_before=-(2**62))
        if record is not None:
            session.expunge(record)
        return record


def _store(session: Session, record: idempotency.IdempotencyRecord, not_before: int) -> None:
    idempotency.forget_expired(session, key=record.key, not_before=not_before)
    session.add(record)
    session.commit()


def _replay(
    runtime: Runtime, record: idempotency.IdempotencyRecord, prints: tuple[str, ...], idem_key: str
) -> Response:
    if record.fingerprint not in prints:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were first used "
            f"with. Try using a key other than '{idem_key}' if you meant to execute a different request."
        )
    body = runtime.response_box.decrypt(record.body)
    response = Response(content=body, status_code=record.status_code, media_type="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


async def _rollback(request: Request) -> None:
    session: Session | None = getattr(request.state, "db", None)
    if session is not None:
        await _holding_the_turn(session.rollback)


async def _close(request: Request) -> None:
    session: Session | None = getattr(request.state, "db", None)
    if session is not None:
        await _holding_the_turn(session.close)
        request.state.db = None


__all__ = ["ApiRoute", "json_response", "request_session"]
