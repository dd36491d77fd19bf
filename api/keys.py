"""API keys: who may ingest for which accounts and read which accounts' data.

A key is a random secret given to one producing service or one account reader; the server
keeps only its SHA-256 (hex) with the key's rights:

    keys:
      - name: checkout-service
        sha256: 6f0a...            # sha256 of the key's UTF-8 bytes, hex
        write: ["acme", "globex"]  # accounts it may ingest events for ("*": any)
        read: []                   # accounts whose data it may read ("*": any)

A presented key is hashed and compared with every stored digest by
`hmac.compare_digest` (no early exit), so timing does not tell how much of a digest
matched nor which entry did.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

KEY_PREFIX = "mtr_"
ANY = "*"
AccountGrant = Annotated[str, Field(min_length=1, max_length=256)]


class KeyConfigError(ValueError):
    """The configured keys cannot be used; the message says what to fix."""


class ApiKey(BaseModel):
    """One key's entry: its name (for logs), its digest and its rights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    sha256: str = Field(description="Hex SHA-256 of the key; never the key itself.")
    write: list[AccountGrant] = Field(default_factory=list,
                                      description='Accounts it may ingest for; "*" any.')
    read: list[AccountGrant] = Field(default_factory=list,
                                     description='Accounts it may read; "*" any.')

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, v: str) -> str:
        v = v.strip().lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("sha256 must be 64 hex digits (the digest, not the key)")
        return v

    def can_write(self, account: str) -> bool:
        return ANY in self.write or account in self.write

    def can_read(self, account: str) -> bool:
        return ANY in self.read or account in self.read

    @property
    def ops(self) -> bool:
        """May read every account: sees Kafka offsets (which reveal every tenant's volume
        on a partition) and the operator routes."""
        return ANY in self.read


class KeysDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[ApiKey] = Field(default_factory=list)


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, as the keys file stores it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self._keys: list[tuple[bytes, ApiKey]] = []
        seen: dict[str, str] = {}
        for key in keys:
            if key.sha256 in seen:
                raise KeyConfigError(f"keys {seen[key.sha256]!r} and {key.name!r} have the "
                                     "same sha256: give each service its own key")
            seen[key.sha256] = key.name
            self._keys.append((bytes.fromhex(key.sha256), key))

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def names(self) -> list[str]:
        return [key.name for _, key in self._keys]

    def authenticate(self, presented: str) -> ApiKey | None:
        """The entry of the presented key, or None; every digest is compared."""
        digest = hashlib.sha256(presented.encode("utf-8", errors="surrogatepass")).digest()
        found: ApiKey | None = None
        for stored, key in self._keys:
            if hmac.compare_digest(stored, digest):
                found = key
        return found


def parse_keys(doc: Any, origin: str) -> list[ApiKey]:
    """Entries of a parsed keys document: `{"keys": [...]}` or a bare list."""
    if isinstance(doc, list):
        doc = {"keys": doc}
    if doc is None:
        doc = {}
    try:
        return KeysDocument.model_validate(doc).keys
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:5])
        raise KeyConfigError(f"{origin}: {problems}") from exc


def load_keys(path: Path | None, inline: Sequence[ApiKey] = ()) -> KeyStore:
    """The key store of a keys file (YAML or JSON) plus keys given inline."""
    keys = list(inline)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyConfigError(f"cannot read keys file {path}: {exc}") from exc
        try:
            doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise KeyConfigError(f"keys file {path} is not valid "
                                 f"{'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") \
                from exc
        keys += parse_keys(doc, str(path))
    return KeyStore(keys)
