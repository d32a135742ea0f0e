"""SM2/SM3 against the standards' known answers and a third-party verifier (OpenSSL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gmalglib.sm2 import SM2

from helpers import openssl_verifies
from pharmatrace.kernel import crypto

# GB/T 32918.5-2017 / GM/T 0003.5 example: recommended curve, user ID 1234567812345678.
SK = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
PK = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
K = bytes.fromhex("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21")
R = int("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3", 16)
S = int("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA", 16)


@pytest.mark.clause("TJ-10.2")
def test_sm3_known_answers() -> None:
    # GB/T 32905-2016 Appendix A examples.
    assert crypto.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert (
        crypto.sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


@pytest.mark.clause("TJ-10.2")
def test_sm2_signature_known_answer_with_the_standards_nonce() -> None:
    assert crypto.KeyPair.from_private(SK).public_key == PK
    raw = SM2(SK, rnd_fn=lambda n: K[::-1]).sign(b"message digest")  # gmalglib takes k little-endian
    assert (int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")) == (R, S)
    assert crypto.verify(PK, b"message digest", crypto.der_signature(R, S))
    assert not crypto.verify(PK, b"message digesT", crypto.der_signature(R, S))


@pytest.mark.clause("TJ-10.2")
def test_nonces_are_fresh_so_signatures_differ() -> None:
    first, second = crypto.sign(SK, b"same"), crypto.sign(SK, b"same")
    assert first != second
    assert crypto.verify(PK, b"same", first) and crypto.verify(PK, b"same", second)


@pytest.mark.clause("TJ-10.2", "SH-7.1.4.d")
@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d + b"\x00",  # trailing byte
        lambda d: d[:-1],  # truncated
        lambda d: b"\x31" + d[1:],  # wrong tag
        lambda d: d[:4] + bytes([d[4] ^ 1]) + d[5:],  # flipped bit in r
        lambda d: b"",
    ],
)
def test_malformed_signatures_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    good = crypto.sign(SK, b"record")
    assert crypto.verify(PK, b"record", good)
    assert not crypto.verify(PK, b"record", mangle(good))


@pytest.mark.clause("TJ-10.2")
def test_openssl_verifies_our_der_signatures(tmp_path: Path) -> None:
    keys = crypto.KeyPair.generate()
    message = "批记录 DH-2611001 已审核".encode()
    signature = crypto.sign(keys.private_key, message)
    assert openssl_verifies(keys.public_key, message, signature, tmp_path)
    assert not openssl_verifies(keys.public_key, message + b"!", signature, tmp_path)
