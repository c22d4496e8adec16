"""Agora RTC tokens in the AccessToken2 ("007") format.

The output is byte-for-byte what Agora's reference builder produces (AgoraIO/Tools,
DynamicKey/AgoraDynamicKey/python3/src/AccessToken2.py and RtcTokenBuilder2.py), which
is what Agora's servers verify. Pure and stdlib-only: no Django, no settings, no clock
except the default `issue_ts`.

Wire format, every integer little-endian, every string a uint16 length then its bytes:

    token        = "007" + base64(zlib(string(signature) + signing_info))
    signing_info = string(app_id) uint32(issue_ts) uint32(expire) uint32(salt)
                   uint16(service_count) service...
    RTC service  = uint16(1) uint16(n) (uint16(privilege) uint32(expire))*n
                   string(channel_name) string(account)
    signature    = HMAC-SHA256(key, signing_info), where
    key          = HMAC-SHA256(uint32(salt), HMAC-SHA256(uint32(issue_ts), app_certificate))

`expire` and every privilege expiry are durations in seconds counted from `issue_ts`,
not absolute timestamps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import ClassVar, Self

VERSION = "007"

_UINT16_MAX = 0xFFFF
_UINT32_MAX = 0xFFFF_FFFF
# The reference draws its salt with randint(1, 99999999); keep the same range so our
# tokens are indistinguishable from the reference's.
_SALT_MAX = 99_999_999
# HMAC-SHA256 output. Anything else in the signature slot means the token is not ours.
_SIGNATURE_LENGTH = 32
# Real tokens decompress to a few hundred bytes. `parse` takes untrusted input, so cap
# the decompressed size instead of letting a zlib bomb allocate without bound.
_MAX_PAYLOAD_BYTES = 64 * 1024


class RtcRole(IntEnum):
    """The reference's Role_Publisher / Role_Subscriber."""

    # Join plus publish audio, video and data: what a caller in a 1:1 call needs.
    PUBLISHER = 1
    # Join only. Agora treats it as PUBLISHER unless co-host authentication is enabled.
    SUBSCRIBER = 2


class RtcPrivilege(IntEnum):
    """Privilege ids inside the RTC service (the reference's ServiceRtc.kPrivilege*)."""

    JOIN_CHANNEL = 1
    PUBLISH_AUDIO_STREAM = 2
    PUBLISH_VIDEO_STREAM = 3
    PUBLISH_DATA_STREAM = 4


@dataclass(frozen=True)
class ServiceRtc:
    """The RTC service of a token: one channel, one user, privilege -> expiry seconds.

    `account` is the signed user identity: "" admits any uid, a numeric uid is signed as
    its decimal string, so uid 2882341273 and account "2882341273" give the same token.
    """

    SERVICE_TYPE: ClassVar[int] = 1

    channel_name: str
    account: str
    privileges: Mapping[int, int]

    def __post_init__(self) -> None:
        # Copy into a read-only, id-sorted mapping: the value stays immutable even if the
        # caller keeps mutating the dict it passed, and IntEnum keys become plain ints so
        # a built value and a parsed one compare and print the same.
        frozen = {int(privilege): int(expire) for privilege, expire in self.privileges.items()}
        object.__setattr__(self, "privileges", MappingProxyType(dict(sorted(frozen.items()))))

    @property
    def uid(self) -> int | None:
        """The numeric uid: 0 for "any user", None when the account is not a uid."""
        if self.account == "":
            return 0
        # Only the canonical decimal form is a uid: "007" or "+5" are string accounts,
        # and would not be what build_rtc_token signs for that number.
        if self.account.isascii() and self.account.isdigit():
            uid = int(self.account)
            if str(uid) == self.account and 0 < uid <= _UINT32_MAX:
                return uid
        return None

    def _pack(self) -> bytes:
        return (
            _pack_uint16(self.SERVICE_TYPE)
            + _pack_privileges(self.privileges)
            + _pack_text(self.channel_name)
            + _pack_text(self.account)
        )

    @classmethod
    def _unpack(cls, reader: _Reader) -> Self:
        # The service type has already been read by the caller, which dispatches on it.
        privileges = reader.uint32_map()
        channel_name = reader.text()
        account = reader.text()
        return cls(channel_name=channel_name, account=account, privileges=privileges)


# Service types this module can decode. The reference knows more (RTM, chat, ...); see
# AccessToken2.parse for what happens when a token carries one of those.
_SERVICE_TYPES: dict[int, type[ServiceRtc]] = {ServiceRtc.SERVICE_TYPE: ServiceRtc}


@dataclass(frozen=True)
class AccessToken2:
    """The signed content of a "007" token.

    The certificate is not part of the value: `parse` cannot recover it, and a secret
    does not belong in a value that gets compared, printed and logged. Pass it to `build`.
    """

    app_id: str
    issue_ts: int
    expire: int
    salt: int
    services: tuple[ServiceRtc, ...]

    def build(self, app_certificate: str) -> str:
        """Sign with `app_certificate` and encode; raises ValueError on invalid input.

        Where the reference returns "" (bad app id or certificate, no service) this raises,
        so a misconfigured deployment fails loudly instead of handing out empty tokens.
        """
        _check_hex_id("app_id", self.app_id)
        _check_hex_id("app_certificate", app_certificate)
        if not self.services:
            raise ValueError("a token needs at least one service")

        # The reference signs services ordered by type (stable, so insertion order within
        # a type); keep that invariant for when a second service type is added.
        services = sorted(self.services, key=lambda service: service.SERVICE_TYPE)
        signing_info = (
            _pack_text(self.app_id)
            + _pack_uint32(self.issue_ts)
            + _pack_uint32(self.expire)
            + _pack_uint32(self.salt)
            + _pack_uint16(len(services))
            + b"".join(service._pack() for service in services)
        )
        signature = hmac.digest(
            _signing_key(app_certificate, self.issue_ts, self.salt), signing_info, hashlib.sha256
        )
        # zlib's default level, as the reference uses: another level is still a valid
        # token but no longer byte-identical to the reference's.
        payload = zlib.compress(_pack_bytes(signature) + signing_info)
        return VERSION + base64.b64encode(payload).decode("ascii")

    @classmethod
    def parse(cls, token: str) -> Self:
        """Decode a "007" token without verifying its signature; ValueError if malformed.

        Like the reference parser, decoding stops at the first service type this module
        does not know (its length is not self-describing), keeping the services before it.
        Services are sorted by type and RTC is type 1, so an RTC+RTM token still yields
        its RTC service; `build` of such a value signs only what was decoded.
        """
        if not token.startswith(VERSION):
            raise ValueError(f"not an AccessToken2: expected the {VERSION!r} prefix")
        try:
            compressed = base64.b64decode(token[len(VERSION) :], validate=True)
        except ValueError as error:  # binascii.Error is a ValueError
            raise ValueError(f"token is not valid base64: {error}") from None
        reader = _Reader(_decompress(compressed))

        if len(reader.length_prefixed()) != _SIGNATURE_LENGTH:
            raise ValueError("token signature has the wrong length")
        app_id = reader.text()
        issue_ts = reader.uint32()
        expire = reader.uint32()
        salt = reader.uint32()
        service_count = reader.uint16()
        services: list[ServiceRtc] = []
        for _ in range(service_count):
            service_class = _SERVICE_TYPES.get(reader.uint16())
            if service_class is None:
                break
            services.append(service_class._unpack(reader))
        else:
            if reader.remaining:
                raise ValueError("token has trailing bytes after its services")
        return cls(
            app_id=app_id, issue_ts=issue_ts, expire=expire, salt=salt, services=tuple(services)
        )


def build_rtc_token(
    app_id: str,
    app_certificate: str,
    channel_name: str,
    uid: int,
    *,
    role: RtcRole = RtcRole.PUBLISHER,
    token_expire: int,
    privilege_expire: int,
    issue_ts: int | None = None,
    salt: int | None = None,
) -> str:
    """An RTC token, as the reference's RtcTokenBuilder.build_token_with_uid builds it.

    `token_expire` and `privilege_expire` are seconds from now (from `issue_ts`). uid 0
    admits any user. `issue_ts` and `salt` default to now and a random salt; pass them
    only to reproduce a known token.
    """
    if not 0 <= uid <= _UINT32_MAX:
        raise ValueError(f"uid must be a 32-bit unsigned integer, got {uid}")
    role = RtcRole(role)  # an int outside the enum would silently mean "subscriber"
    privileges: dict[int, int] = {RtcPrivilege.JOIN_CHANNEL: privilege_expire}
    if role is RtcRole.PUBLISHER:
        privileges[RtcPrivilege.PUBLISH_AUDIO_STREAM] = privilege_expire
        privileges[RtcPrivilege.PUBLISH_VIDEO_STREAM] = privilege_expire
        privileges[RtcPrivilege.PUBLISH_DATA_STREAM] = privilege_expire
    token = AccessToken2(
        app_id=app_id,
        issue_ts=int(time.time()) if issue_ts is None else issue_ts,
        expire=token_expire,
        salt=secrets.randbelow(_SALT_MAX) + 1 if salt is None else salt,
        services=(
            ServiceRtc(
                channel_name=channel_name,
                account="" if uid == 0 else str(uid),
                privileges=privileges,
            ),
        ),
    )
    return token.build(app_certificate)


def _signing_key(app_certificate: str, issue_ts: int, salt: int) -> bytes:
    # Chained so the signature is bound to this issue time and salt: the certificate
    # itself never keys the final HMAC.
    key = hmac.digest(_pack_uint32(issue_ts), app_certificate.encode("utf-8"), hashlib.sha256)
    return hmac.digest(_pack_uint32(salt), key, hashlib.sha256)


def _check_hex_id(name: str, value: str) -> None:
    # Agora app ids and certificates are 32 hex digits; the reference refuses anything
    # else, and a typo here would otherwise produce tokens Agora rejects at join time.
    try:
        valid = len(value) == 32 and len(bytes.fromhex(value)) == 16
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"{name} must be 32 hexadecimal characters")


def _decompress(compressed: bytes) -> bytes:
    decompressor = zlib.decompressobj()
    try:
        payload = decompressor.decompress(compressed, _MAX_PAYLOAD_BYTES)
    except zlib.error as error:
        raise ValueError(f"token payload is not zlib data: {error}") from None
    if decompressor.unconsumed_tail:
        raise ValueError("token payload is too large")
    if not decompressor.eof:
        raise ValueError("token payload is truncated")
    if decompressor.unused_data:
        raise ValueError("token has trailing data after its payload")
    return payload


def _pack_uint16(value: int) -> bytes:
    if not 0 <= value <= _UINT16_MAX:
        raise ValueError(f"{value} does not fit in an unsigned 16-bit field")
    return struct.pack("<H", value)


def _pack_uint32(value: int) -> bytes:
    if not 0 <= value <= _UINT32_MAX:
        raise ValueError(f"{value} does not fit in an unsigned 32-bit field")
    return struct.pack("<I", value)


def _pack_bytes(value: bytes) -> bytes:
    return _pack_uint16(len(value)) + value


def _pack_text(value: str) -> bytes:
    return _pack_bytes(value.encode("utf-8"))


def _pack_privileges(privileges: Mapping[int, int]) -> bytes:
    # Sorted by privilege id, as the reference packs its map: the order is signed.
    return _pack_uint16(len(privileges)) + b"".join(
        _pack_uint16(privilege) + _pack_uint32(expire)
        for privilege, expire in sorted(privileges.items())
    )


class _Reader:
    """Reads the little-endian fields of a token payload; ValueError when it runs out."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def _take(self, size: int) -> bytes:
        if size > self.remaining:
            raise ValueError("token payload is truncated")
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return chunk

    def uint16(self) -> int:
        value: int = struct.unpack("<H", self._take(2))[0]
        return value

    def uint32(self) -> int:
        value: int = struct.unpack("<I", self._take(4))[0]
        return value

    def length_prefixed(self) -> bytes:
        return self._take(self.uint16())

    def text(self) -> str:
        try:
            return self.length_prefixed().decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("token contains a string that is not UTF-8") from None

    def uint32_map(self) -> dict[int, int]:
        entries: dict[int, int] = {}
        for _ in range(self.uint16()):
            key = self.uint16()
            entries[key] = self.uint32()
        return entries
