"""mayfly's own exceptions; each docstring is the message a user sees.

    MayflyError
    ├── InvalidInput            400  a value is malformed (carries the field and why)
    ├── PayloadTooLarge         413  the ciphertext is over the operator's limit
    ├── Unauthorized            401  no manage token was given
    ├── Forbidden               403  a proof does not match
    │   └── WrongPassphrase     403  the access proof failed; an attempt was counted
    ├── SecretGone              404  missing, expired, burned: all look the same
    ├── NoRepliesLeft           409  every reply this message allows was sent
    ├── AlreadyAnswered         409  a request takes one answer, and it came
    ├── StorageUnavailable      503  the storage backend cannot be reached
    │   └── StorageTooNew       503  (start-up) the data was written by a newer mayfly
    ├── DecryptionFailed             (client side) the link is damaged or the key is wrong
    └── ConfigError                  (start-up) a setting is wrong; names the key
"""

from __future__ import annotations


class MayflyError(Exception):
    """Something went wrong."""

    status = 500
    slug = "error"

    def __init__(self, detail: str | None = None, **extra):
        self.detail = detail or (self.__doc__ or "").strip()
        self.extra = extra
        super().__init__(self.detail)

    @property
    def title(self) -> str:
        return (type(self).__doc__ or "").strip()


class InvalidInput(MayflyError):
    """The request is malformed."""

    status = 400
    slug = "invalid-input"


class PayloadTooLarge(MayflyError):
    """The message is larger than this server accepts."""

    status = 413
    slug = "payload-too-large"


class Unauthorized(MayflyError):
    """A manage token is required."""

    status = 401
    slug = "unauthorized"


class Forbidden(MayflyError):
    """The proof or token does not match."""

    status = 403
    slug = "forbidden"


class WrongPassphrase(Forbidden):
    """Wrong passphrase."""

    slug = "wrong-passphrase"


class SecretGone(MayflyError):
    """This message has already been read, has expired, or never existed."""

    status = 404
    slug = "gone"


class NoRepliesLeft(MayflyError):
    """Every reply this message allows has been sent."""

    status = 409
    slug = "no-replies-left"


class AlreadyAnswered(MayflyError):
    """This request has already been answered."""

    status = 409
    slug = "already-answered"


class StorageUnavailable(MayflyError):
    """The storage is unavailable; nothing was changed. Try again shortly."""

    status = 503
    slug = "storage-unavailable"


class StorageTooNew(StorageUnavailable):
    """The stored data was written by a newer mayfly; upgrade mayfly to use it."""


class DecryptionFailed(MayflyError):
    """The message cannot be decrypted: the link is incomplete or damaged."""

    slug = "decryption-failed"


class ConfigError(MayflyError):
    """A setting is invalid."""

    slug = "config"
