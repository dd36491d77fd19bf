"""Authentication (API keys) and per-account authorization, as FastAPI dependencies.

The key comes in `Authorization: Bearer <key>` or `X-API-Key: <key>`. No key, an unknown
key, or no keys configured at all: 401. A known key without the right on the account of
the request: 403. The account check comes before any lookup, so a key learns nothing of
accounts it may not see (not even whether they exist).
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependencies
# in the routes' annotations (closures) when the routes are defined.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Path, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.keys import ApiKey, KeyStore

log = structlog.get_logger(__name__)

BEARER = HTTPBearer(auto_error=False, scheme_name="bearerKey",
                    description="`Authorization: Bearer <API key>`")
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKeyHeader",
                              description="`X-API-Key: <API key>` (same keys as bearer)")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metering"'}
NO_KEYS = ("no API keys are configured, so every request is refused: create a key with "
           "`metering api-key new --name dev --read '*' --write '*'` and point "
           "METERING_API_KEYS_FILE at a file holding its entry (see api/README.md)")

AccountId = Annotated[str, Path(min_length=1, max_length=256, description="The account id.")]
KeyDependency = Callable[[HTTPAuthorizationCredentials | None, str | None], Awaitable[ApiKey]]


def require_write(key: ApiKey, account: str) -> None:
    if not key.can_write(account):
        log.info("api.forbidden", key=key.name, account=account, right="write")
        raise ApiError(403, "account_not_writable",
                       f"key {key.name!r} may not send events for account {account!r}")


def require_read(key: ApiKey, account: str) -> None:
    if not key.can_read(account):
        log.info("api.forbidden", key=key.name, account=account, right="read")
        raise ApiError(403, "account_not_readable",
                       f"key {key.name!r} may not read account {account!r}")


def authenticator(store: KeyStore) -> KeyDependency:
    async def authenticated(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
        header_key: Annotated[str | None, Security(API_KEY_HEADER)],
    ) -> ApiKey:
        if not len(store):
            raise ApiError(401, "no_api_keys_configured", NO_KEYS, headers=CHALLENGE)
        presented = credentials.credentials if credentials is not None else header_key
        if not presented:
            raise ApiError(401, "missing_api_key", "an API key is required: send "
                           "`Authorization: Bearer <key>` or `X-API-Key: <key>`",
                           headers=CHALLENGE)
        key = store.authenticate(presented)
        if key is None:
            log.info("api.unknown_key")
            raise ApiError(401, "unknown_api_key", "the API key is not known",
                           headers=CHALLENGE)
        return key

    return authenticated


@dataclass(frozen=True)
class Access:
    """The dependencies of the routes: any valid key, or one that may read / write the
    account of the path."""

    key: KeyDependency
    readable: Callable[[str, ApiKey], Awaitable[str]]
    writable: Callable[[str, ApiKey], Awaitable[str]]


def access(store: KeyStore) -> Access:
    key = authenticator(store)

    async def readable(account: AccountId, k: Annotated[ApiKey, Depends(key)]) -> str:
        require_read(k, account)
        return account

    async def writable(account: AccountId, k: Annotated[ApiKey, Depends(key)]) -> str:
        require_write(k, account)
        return account

    return Access(key, readable, writable)
