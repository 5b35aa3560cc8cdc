"""Encryption of personal data at rest, keyed by DATA_KEY.

DATA_KEY holds one or more Fernet keys separated by commas. The first encrypts; every key
decrypts. To rotate: put a new key first, keep the old ones after it, restart, run
`vatandosh db reencrypt`, then drop the old keys.
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


# Domain separation: the hashing key is derived from the first DATA_KEY key, never the key
# itself, so a hash can never help with the encryption.
_KEYED_HASH_CONTEXT = b"vatandosh keyed hash v1"


class DataCipher:
    def __init__(self, data_key: str) -> None:
        self._fernet = MultiFernet(parse_data_key(data_key))
        first = next(part.strip() for part in data_key.split(",") if part.strip())
        self._hash_key = hmac.digest(
            base64.urlsafe_b64decode(first.encode("ascii")), _KEYED_HASH_CONTEXT, "sha256"
        )

    def keyed_hash(self, text: str) -> str:
        """HMAC-SHA256 of `text` (64 hex characters), keyed by the first DATA_KEY key: for a
        value that must be recognised later but never stored (a one-time code). Without the
        key the hash cannot be reversed by trying every value. Rotating the first key changes
        every hash."""
        return hmac.digest(self._hash_key, text.encode("utf-8"), "sha256").hex()

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
