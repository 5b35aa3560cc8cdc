"""Encryption of personal data at rest, keyed by DATA_KEY.

DATA_KEY holds one or more Fernet keys separated by commas. The first encrypts and makes
keyed hashes; every key decrypts, and a keyed hash made with any of them is still recognised
(and re-made with the first key when its value is typed again). To rotate: put a new key
first, keep the old ones after it, restart, run `vatandosh db reencrypt`, then drop the old
keys once it reports no keyed hash still under them (a hash cannot be re-encrypted: a code
word or an unused code moves to the new key only when it is used).
"""

import base64
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DataKeyError(ValueError):
    pass


def parse_data_key(value: str) -> list[Fernet]:
    keys = [part.strip() for part in value.split(",") if part.strip()]
    if not keys:
        raise DataKeyError("no key given")
    try:
        return [Fernet(key.encode("ascii")) for key in keys]
    except (ValueError, UnicodeEncodeError) as error:
        raise DataKeyError("each key must be 32 url-safe base64-encoded bytes") from error


def generate_data_key() -> str:
    return Fernet.generate_key().decode("ascii")


# Domain separation: each hashing key is derived from its DATA_KEY key, never the key itself,
# so a hash can never help with the encryption.
_KEYED_HASH_CONTEXT = b"vatandosh keyed hash v1"
_KEY_TAG_CONTEXT = b"vatandosh keyed hash tag"
_TAG_LENGTH = 8  # hex characters naming the key, then 56 of the HMAC: 64 in all


class _HashKey:
    def __init__(self, data_key: str) -> None:
        self.secret = hmac.digest(
            base64.urlsafe_b64decode(data_key.encode("ascii")), _KEYED_HASH_CONTEXT, "sha256"
        )
        self.tag = hmac.digest(self.secret, _KEY_TAG_CONTEXT, "sha256").hex()[:_TAG_LENGTH]

    def forms(self, text: str) -> tuple[str, str]:
        """The hash of `text` as stored now (the key's tag, then the HMAC), and as stored
        before hashes named their key (the whole HMAC): both 64 hex characters."""
        digest = hmac.digest(self.secret, text.encode("utf-8"), "sha256").hex()
        return self.tag + digest[: len(digest) - _TAG_LENGTH], digest


class DataCipher:
    def __init__(self, data_key: str) -> None:
        self._fernet = MultiFernet(parse_data_key(data_key))
        self._hash_keys = [_HashKey(part.strip()) for part in data_key.split(",") if part.strip()]

    def keyed_hash(self, text: str) -> str:
        """HMAC-SHA256 of `text`, keyed by the first DATA_KEY key: for a value that must be
        recognised later but never stored (a one-time code, a code word). Without the key
        the hash cannot be reversed by trying every value. 64 hex characters: the key's tag
        (8, which name the key and reveal nothing else), then 56 of the HMAC.

        Store this; look a value up with `keyed_hashes` (a hash cannot be re-made without
        the value, so one stored before a rotation stays under its older key until the
        value is typed again)."""
        return self._hash_keys[0].forms(text)[0]

    def keyed_hashes(self, text: str) -> tuple[str, ...]:
        """Every form a stored hash of `text` may have, the first key's (`keyed_hash`)
        first, then the older keys' (also the untagged form of before tags): a lookup
        matches any of them, and a stored one that is not the first should be replaced by
        `keyed_hash(text)` once found."""
        forms = [key.forms(text) for key in self._hash_keys]
        return tuple(tagged for tagged, _ in forms) + tuple(untagged for _, untagged in forms)

    def matching_hash(self, stored: str | None, text: str) -> str | None:
        """Which of `keyed_hashes(text)` equals `stored` (compared in constant time), or
        None when none does."""
        if stored is None:
            return None
        found = None
        for candidate in self.keyed_hashes(text):
            if hmac.compare_digest(stored.encode("ascii", "replace"), candidate.encode("ascii")):
                found = found or candidate
        return found

    @property
    def current_hash_prefix(self) -> str:
        """How every hash made with the first key begins: a stored hash without it was
        made with an older key (or before hashes named their key; one of those starts so
        by chance once in 4 billion)."""
        return self._hash_keys[0].tag

    @property
    def has_older_keys(self) -> bool:
        return len(self._hash_keys) > 1

    def is_current_hash(self, stored: str) -> bool:
        return stored.startswith(self.current_hash_prefix)

    def encrypt_text(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt_text(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as error:
            raise DataKeyError("data was encrypted with a key that is not in DATA_KEY") from error

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def decrypt_json(self, token: str) -> Any:
        return json.loads(self.decrypt_text(token))

    def rotate(self, token: str) -> str:
        """Re-encrypt a token with the first key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")
