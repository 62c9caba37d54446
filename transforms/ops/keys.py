"""Pseudonymization keys: where they come from, their ids, and per-recipient derivation.

The secret never leaves this module as text: not in logs, exceptions, SQL, XCom or reports.
Only the key id is recorded. A key ring holds several versions so keys can be rotated; the
active one pseudonymizes, the id of each is published beside the pseudonyms.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from transforms.errors import KeyConfigError

MIN_KEY_BYTES = 32
ENV_SECRET = "PSEUDONYMIZATION_SECRET"  # noqa: S105 (a variable name, not a secret)
ENV_KEY_ID = "PSEUDONYMIZATION_KEY_ID"
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
#: Error messages quote a key id only up to this length: a secret is at least MIN_KEY_BYTES.
SHOWN_ID_CHARS = 12
#: Keys whose id starts with "demo" are for the embedded demo only (scripts/demo.sh sets this).
ENV_DEMO_MODE = "VIEWING_EXPORT_DEMO_MODE"
DERIVATION_LABEL = b"viewing-export/pseudonym/v1"
PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are negligible even at billions of people


@dataclass(frozen=True)
class Key:
    key_id: str
    secret: bytes = field(repr=False)

    def __repr__(self) -> str:  # never show the secret, even in a traceback's locals
        return f"Key(key_id={self.key_id!r}, secret=<{len(self.secret)} bytes>)"


@dataclass(frozen=True)
class KeyRing:
    active_id: str
    keys: dict[str, Key] = field(repr=False)

    @property
    def active(self) -> Key:
        return self.keys[self.active_id]

    def __repr__(self) -> str:
        return f"KeyRing(active_id={self.active_id!r}, key_ids={sorted(self.keys)})"


def _decode(text: str, where: str) -> bytes:
    """`base64:...` or `hex:...` decode; anything else is taken as UTF-8 text."""
    text = text.strip()
    try:
        if text.startswith("base64:"):
            return base64.b64decode(text[7:], validate=True)
        if text.startswith("hex:"):
            return bytes.fromhex(text[4:])
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{where}: the key is not valid {text.split(':')[0]}") from None
    return text.encode("utf-8")


def _shown(key_id: str) -> str:
    """A key id as an error message may quote it: only when it is too short to be key material
    itself (a secret and an id swapped by mistake must not reach a log or an alert)."""
    if len(key_id) <= SHOWN_ID_CHARS and _KEY_ID.match(key_id):
        return repr(key_id)
    return f"(an id of {len(key_id)} characters, not shown: it could be key material)"


def _checked(key_id: str, secret: bytes, where: str) -> Key:
    if not _KEY_ID.match(key_id):
        raise KeyConfigError(f"{where}: key id {_shown(key_id)} must be 1-32 letters, digits, '-' or '_'")
    if key_id.lower().startswith("demo") and os.environ.get(ENV_DEMO_MODE) != "1":
        raise KeyConfigError(
            f"{where}: key {_shown(key_id)} is a demo key and is refused outside demo mode; create a real "
            "key (see README, 'Keys') and store it in your secrets backend"
        )
    if len(secret) < MIN_KEY_BYTES:
        raise KeyConfigError(
            f"{where}: key {_shown(key_id)} is {len(secret)} bytes; use at least {MIN_KEY_BYTES} random "
            "bytes, e.g. `python -c \"import secrets; print('base64:' + "
            "__import__('base64').b64encode(secrets.token_bytes(32)).decode())\"`"
        )
    return Key(key_id, secret)


def ring_from_text(text: str, where: str, default_id: str = "k1") -> KeyRing:
    """A key file or variable: a JSON key ring, or a single secret.

    JSON form: {"active": "k2", "keys": {"k1": "base64:...", "k2": "base64:..."}}
    """
    stripped = text.strip()
    if not stripped:
        raise KeyConfigError(f"{where}: the key is empty")
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            raise KeyConfigError(f"{where}: looks like JSON but does not parse") from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict) or not data["keys"]:
            raise KeyConfigError(f'{where}: a key ring needs {{"active": ID, "keys": {{ID: SECRET}}}}')
        keys = {kid: _checked(kid, _decode(str(v), where), where) for kid, v in data["keys"].items()}
        active = str(data.get("active", ""))
        if active not in keys:
            ring = ", ".join(_shown(k) for k in sorted(keys))
            raise KeyConfigError(f"{where}: active key {_shown(active)} is not one of the ring's ids ({ring})")
        return KeyRing(active, keys)
    key = _checked(default_id, _decode(stripped, where), where)
    return KeyRing(key.key_id, {key.key_id: key})


def load_key_ring(key_file: str | Path | None = None, env: dict[str, str] | None = None) -> KeyRing:
    """The CLI's key: `--key-file` first, else the PSEUDONYMIZATION_SECRET variable."""
    env = dict(os.environ) if env is None else env
    default_id = env.get(ENV_KEY_ID, "k1")
    if key_file:
        path = Path(key_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyConfigError(f"cannot read key file {path}: {exc.strerror}") from None
        return ring_from_text(text, f"key file {path}", default_id)
    if env.get(ENV_SECRET):
        return ring_from_text(env[ENV_SECRET], f"${ENV_SECRET}", default_id)
    raise KeyConfigError(
        f"no pseudonymization key: set {ENV_SECRET} or pass --key-file FILE "
        "(in Airflow: the Variable pseudonymization_secret)"
    )


def pseudonym_pattern() -> str:
    """A published pseudonym: `<key id>:<first 128 bits of the HMAC, hex>`."""
    return rf"^{_KEY_ID.pattern[1:-1]}:[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}$"


def epoch_label(epoch: str, day: date) -> str:
    """The label of the pseudonym epoch a day falls in ("" when pseudonyms never roll)."""
    if epoch == "none":
        return ""
    if epoch == "year":
        return f"{day.year}"
    if epoch == "month":
        return f"{day.year}-{day.month:02d}"
    if epoch == "week":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if epoch == "day":
        return day.isoformat()
    raise KeyConfigError(f"unknown pseudonym epoch {epoch!r}; use none, year, month, week or day")


LINK_LABEL = b"viewing-export/link-token/v1"


def derive_link_key(master: Key, recipient: str) -> bytes:
    """The key of the private link token: stable across nights, never published.

    It lets the run measure how well an attacker could link a person's nights (and keep the
    per-epoch history) without ever storing a raw identifier in the private state."""
    return hmac.new(master.secret, LINK_LABEL + b"\x00" + recipient.encode(), hashlib.sha256).digest()


def derive_domain_key(master: Key, recipient: str, epoch: str = "") -> bytes:
    """Per-recipient (and per-epoch) key, so two recipients' pseudonyms cannot be joined."""
    info = DERIVATION_LABEL + b"\x00" + recipient.encode() + b"\x00" + epoch.encode()
    return hmac.new(master.secret, info, hashlib.sha256).digest()


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104 inner and outer pads for SHA-256 (64-byte blocks). These are key material."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\x00")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)
