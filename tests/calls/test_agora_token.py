"""Agora AccessToken2 ("007") RTC tokens against Agora's reference vectors. Pure: no DB.

Vectors come from AgoraIO/Tools at commit da06bfb83556c597bfcb7db65fa65c975165a130:
- DynamicKey/AgoraDynamicKey/python3/test/AccessToken2Test.py (the fixed inputs below and
  the expected tokens of test_service_rtc, test_service_rtc_uid_0, test_service_rtc_account
  and test_multi_service);
- DynamicKey/AgoraDynamicKey/python3/test/RtcTokenBuilder2Test.py (role semantics; it has
  no fixed token strings because it does not pin issue_ts or salt);
- the same RTC token as encoded by the Go and Rust references, for parsing only.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib

import pytest

from calls.agora_token import (
    AccessToken2,
    RtcPrivilege,
    RtcRole,
    ServiceRtc,
    build_rtc_token,
)

# AccessToken2Test.setUp.
APP_ID = "970CA35de60c44645bbae8a215061b33"
APP_CERTIFICATE = "5CFd2fd1755d40ecb72977518be15d3b"
CHANNEL = "7d72365eb983485397e3e3f9d460bdda"
UID = 2882341273
EXPIRE = 600
SALT = 1
ISSUE_TS = 1111111

# AccessToken2Test.test_service_rtc and test_service_rtc_account (identical: a numeric uid
# is signed as its decimal string): RTC service, join privilege only.
RTC_UID_TOKEN = (
    "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0"
    "SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYW"
    "RsYmhkbmxgDCaiTj"
)
# AccessToken2Test.test_service_rtc_uid_0: uid 0 is signed as the empty account.
RTC_UID_0_TOKEN = (
    "007eJxTYLhzZP08Lxa1Pg57+TcXb/3cZ3wi4V6kbpbOog0G2dOYk20UGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0"
    "SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiQwMADac"
    "Imo="
)
# AccessToken2Test.test_multi_service: an RTC service with all four privileges (what a
# publisher gets), then RTM, FPA, Chat and APaaS services. The reference has no token for
# a publisher RTC service alone, so this is the only vector that pins its bytes.
MULTI_SERVICE_TOKEN = (
    "007eJxTYHh8IPKzTvBdf9ce8bk7G61vs06oca1e815/ot4+x7rfjDIKDJbmBs6OxqYpqWYGySYmZiamSUmJqRa"
    "JRoamBmaGScbG7l8EGCKYGBgYGRgYWIEkCxCD+ExgkhlMsoBJBQbzFHMjYzPT1CRLC2MTC1NjS/NU41TjNMsU"
    "EzODpJSURC4GIwsLI2MTQyNzYyagORCTkEVZ4KKsWOXZgWIQm1HF//8HAL01L5I="
)
# RTC_UID_TOKEN's content as the Go reference encodes it (zlib with a sync flush;
# go/src/accesstoken2/accesstoken_test.go) and as the Rust one does (stored, uncompressed
# deflate blocks; rust/src/access_token.rs). Other bytes, same token.
RTC_UID_TOKEN_FROM_GO = (
    "007eJxSYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0"
    "SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYW"
    "RsYmhkbmxoAAAAD//8JqJOM="
)
RTC_UID_TOKEN_FROM_RUST = (
    "007eJwBigB1/yAAFqC4TFpegsv3T7gT0J9ZxUvaycBhIFgFOayXV46VixogADk3MENBMzVkZTYwYzQ0NjQ1YmJ"
    "hZThhMjE1MDYxYjMzR/QQAFgCAAABAAAAAQABAAEAAQBYAgAAIAA3ZDcyMzY1ZWI5ODM0ODUzOTdlM2UzZjlk"
    "NDYwYmRkYQoAMjg4MjM0MTI3M8JqJOM="
)

ALL_RTC_PRIVILEGES = {int(privilege): EXPIRE for privilege in RtcPrivilege}


def reference_token(account: str, privileges: dict[int, int]) -> AccessToken2:
    """A token with the reference tests' fixed app id, times and salt."""
    service = ServiceRtc(channel_name=CHANNEL, account=account, privileges=privileges)
    return AccessToken2(
        app_id=APP_ID, issue_ts=ISSUE_TS, expire=EXPIRE, salt=SALT, services=(service,)
    )


def payload(token: str) -> bytes:
    """The decompressed bytes after the "007" prefix: signature string + signing info."""
    return zlib.decompress(base64.b64decode(token[3:]))


def encode(raw_payload: bytes, version: str = "007") -> str:
    return version + base64.b64encode(zlib.compress(raw_payload)).decode("ascii")


def build_reference_rtc_token(uid: int, role: RtcRole) -> str:
    return build_rtc_token(
        APP_ID,
        APP_CERTIFICATE,
        CHANNEL,
        uid,
        role=role,
        token_expire=EXPIRE,
        privilege_expire=EXPIRE,
        issue_ts=ISSUE_TS,
        salt=SALT,
    )


class TestReferenceVectors:
    @pytest.mark.parametrize(
        ("account", "expected"),
        [("2882341273", RTC_UID_TOKEN), ("", RTC_UID_0_TOKEN)],
        ids=["uid", "uid-0"],
    )
    def test_access_token_builds_reference_token(self, account: str, expected: str) -> None:
        token = reference_token(account, {RtcPrivilege.JOIN_CHANNEL: EXPIRE})

        assert token.build(APP_CERTIFICATE) == expected

    @pytest.mark.parametrize(
        ("uid", "expected"), [(UID, RTC_UID_TOKEN), (0, RTC_UID_0_TOKEN)], ids=["uid", "uid-0"]
    )
    def test_subscriber_token_is_reference_token(self, uid: int, expected: str) -> None:
        # A subscriber gets the join privilege only: exactly the reference's RTC vectors.
        assert build_reference_rtc_token(uid, RtcRole.SUBSCRIBER) == expected

    def test_publisher_rtc_service_bytes_match_reference(self) -> None:
        ours = payload(build_reference_rtc_token(UID, RtcRole.PUBLISHER))
        reference = payload(MULTI_SERVICE_TOKEN)
        # Layout: signature (2 + 32 bytes), then signing info: app id (2 + 32), issue_ts,
        # expire, salt (3 * 4), service count (2), then services sorted by type, so the
        # RTC service (type 1) comes first in both.
        header_end = 34 + 34 + 12
        services_start = header_end + 2

        assert ours[34:header_end] == reference[34:header_end]
        assert struct.unpack("<H", ours[header_end:services_start]) == (1,)
        assert struct.unpack("<H", reference[header_end:services_start]) == (5,)
        assert reference[services_start:].startswith(ours[services_start:])
        # Our token ends where the reference's RTC service ends: next comes RTM (type 2).
        assert struct.unpack("<H", reference[len(ours) : len(ours) + 2]) == (2,)


class TestParse:
    def test_reads_channel_uid_and_expiries(self) -> None:
        token = AccessToken2.parse(RTC_UID_TOKEN)

        assert token == reference_token("2882341273", {RtcPrivilege.JOIN_CHANNEL: EXPIRE})
        (service,) = token.services
        assert service.channel_name == CHANNEL
        assert service.uid == UID
        assert dict(service.privileges) == {RtcPrivilege.JOIN_CHANNEL: EXPIRE}

    def test_uid_zero_is_the_empty_account(self) -> None:
        (service,) = AccessToken2.parse(RTC_UID_0_TOKEN).services

        assert service.account == ""
        assert service.uid == 0

    @pytest.mark.parametrize("vector", [RTC_UID_TOKEN, RTC_UID_0_TOKEN])
    def test_round_trip_rebuilds_the_same_token(self, vector: str) -> None:
        assert AccessToken2.parse(vector).build(APP_CERTIFICATE) == vector

    @pytest.mark.parametrize(
        "encoded", [RTC_UID_TOKEN_FROM_GO, RTC_UID_TOKEN_FROM_RUST], ids=["go", "rust"]
    )
    def test_reads_other_reference_encoders(self, encoded: str) -> None:
        assert encoded != RTC_UID_TOKEN
        assert AccessToken2.parse(encoded) == AccessToken2.parse(RTC_UID_TOKEN)

    def test_keeps_rtc_service_before_unknown_service_types(self) -> None:
        # RTM, FPA, Chat and APaaS are not decoded; like the reference parser we stop at
        # the first unknown type and keep the RTC service that precedes it.
        token = AccessToken2.parse(MULTI_SERVICE_TOKEN)

        assert token == reference_token("2882341273", ALL_RTC_PRIVILEGES)

    def test_string_account_has_no_uid(self) -> None:
        built = reference_token("alice", {RtcPrivilege.JOIN_CHANNEL: EXPIRE})

        (service,) = AccessToken2.parse(built.build(APP_CERTIFICATE)).services

        assert service.account == "alice"
        assert service.uid is None

    @pytest.mark.parametrize(
        ("token", "reason"),
        [
            ("", "prefix"),
            ("hello", "prefix"),
            ("007", "truncated"),
            ("007 not base64!", "base64"),
            ("007é", "base64"),
            ("007" + base64.b64encode(b"not zlib at all").decode(), "not zlib"),
            (RTC_UID_TOKEN[:-8], "truncated"),  # compressed stream cut short
            (RTC_UID_TOKEN + "AAAA", "trailing data"),  # bytes after the zlib stream
        ],
        ids=[
            "empty",
            "no-prefix",
            "prefix-only",
            "not-base64",
            "non-ascii",
            "not-zlib",
            "truncated-stream",
            "trailing-data",
        ],
    )
    def test_rejects_garbage(self, token: str, reason: str) -> None:
        with pytest.raises(ValueError, match=reason):
            AccessToken2.parse(token)

    @pytest.mark.parametrize("version", ["006", "008", ""])
    def test_rejects_other_versions(self, version: str) -> None:
        token = encode(payload(RTC_UID_TOKEN), version=version)

        with pytest.raises(ValueError, match="007"):
            AccessToken2.parse(token)

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            (payload(RTC_UID_TOKEN)[:-1], "truncated"),  # cut inside the account string
            (payload(RTC_UID_TOKEN)[:40], "truncated"),  # cut inside the app id
            (payload(RTC_UID_TOKEN) + b"\x00", "trailing bytes"),  # after the last service
            (b"\x04\x00abcd" + payload(RTC_UID_TOKEN)[34:], "signature"),  # 4-byte signature
            (b"\xff" * (64 * 1024 + 1), "too large"),  # decompresses past the size cap
        ],
        ids=["truncated-account", "truncated-app-id", "trailing-byte", "short-signature", "bomb"],
    )
    def test_rejects_malformed_payload(self, raw: bytes, reason: str) -> None:
        with pytest.raises(ValueError, match=reason):
            AccessToken2.parse(encode(raw))


class TestBuildRtcToken:
    def test_defaults_to_now_and_a_random_salt(self) -> None:
        before = int(time.time())
        encoded = build_rtc_token(
            APP_ID, APP_CERTIFICATE, "room-42", 7, token_expire=3600, privilege_expire=1800
        )
        after = int(time.time())

        token = AccessToken2.parse(encoded)
        assert before <= token.issue_ts <= after
        assert 1 <= token.salt <= 99_999_999
        assert token.expire == 3600
        (service,) = token.services
        assert service.channel_name == "room-42"
        assert service.uid == 7
        # The default role is publisher.
        assert dict(service.privileges) == {int(p): 1800 for p in RtcPrivilege}
        # And it is signed as the reference would sign those inputs.
        assert token.build(APP_CERTIFICATE) == encoded

    def test_subscriber_gets_join_only(self) -> None:
        # RtcTokenBuilder2Test.test_build_token_with_uid.
        encoded = build_rtc_token(
            APP_ID,
            APP_CERTIFICATE,
            CHANNEL,
            UID,
            role=RtcRole.SUBSCRIBER,
            token_expire=EXPIRE,
            privilege_expire=300,
        )

        token = AccessToken2.parse(encoded)
        assert token.app_id == APP_ID
        assert token.expire == EXPIRE
        assert dict(token.services[0].privileges) == {RtcPrivilege.JOIN_CHANNEL: 300}

    def test_publisher_gets_join_and_publish(self) -> None:
        # RtcTokenBuilder2Test.test_build_publisher_token.
        encoded = build_reference_rtc_token(UID, RtcRole.PUBLISHER)

        assert dict(AccessToken2.parse(encoded).services[0].privileges) == ALL_RTC_PRIVILEGES

    @pytest.mark.parametrize(
        ("app_id", "app_certificate"),
        [
            ("invalid", APP_CERTIFICATE),
            ("z" * 32, APP_CERTIFICATE),
            (APP_ID, "invalid"),
            (APP_ID, "z" * 32),
            (APP_ID, ""),
        ],
    )
    def test_rejects_invalid_app_id_or_certificate(self, app_id: str, app_certificate: str) -> None:
        # The reference returns "" here (AccessToken2Test.test_invalid_build_and_parse_inputs).
        with pytest.raises(ValueError, match="32 hexadecimal"):
            build_rtc_token(
                app_id, app_certificate, CHANNEL, UID, token_expire=EXPIRE, privilege_expire=EXPIRE
            )

    @pytest.mark.parametrize("uid", [-1, 2**32])
    def test_rejects_uid_outside_32_bits(self, uid: int) -> None:
        with pytest.raises(ValueError, match="uid"):
            build_rtc_token(
                APP_ID, APP_CERTIFICATE, CHANNEL, uid, token_expire=EXPIRE, privilege_expire=EXPIRE
            )

    def test_rejects_unknown_role(self) -> None:
        with pytest.raises(ValueError, match="RtcRole"):
            build_rtc_token(
                APP_ID,
                APP_CERTIFICATE,
                CHANNEL,
                UID,
                role=3,  # type: ignore[arg-type]
                token_expire=EXPIRE,
                privilege_expire=EXPIRE,
            )

    @pytest.mark.parametrize(
        ("channel", "token_expire"), [("x" * 65536, EXPIRE), (CHANNEL, 2**32), (CHANNEL, -1)]
    )
    def test_rejects_fields_that_do_not_fit(self, channel: str, token_expire: int) -> None:
        with pytest.raises(ValueError, match="does not fit"):
            build_rtc_token(
                APP_ID,
                APP_CERTIFICATE,
                channel,
                UID,
                token_expire=token_expire,
                privilege_expire=EXPIRE,
            )

    def test_access_token_needs_a_service(self) -> None:
        empty = AccessToken2(
            app_id=APP_ID, issue_ts=ISSUE_TS, expire=EXPIRE, salt=SALT, services=()
        )

        with pytest.raises(ValueError, match="service"):
            empty.build(APP_CERTIFICATE)
