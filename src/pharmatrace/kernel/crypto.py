"""Chinese commercial cryptography (PRC Cryptography Law, TJ-10.2): SM3 hashing, SM2 signatures.

* SM3 (GB/T 32905) through OpenSSL (``hashlib.new("sm3")``).
* SM2 (GB/T 32918) through gmalglib (C extension): signatures over ZA‖M with the default user ID
  ``1234567812345678``, nonces from the operating system's CSPRNG (never Python's ``random``), and the
  signature DER-encoded as ``SEQUENCE { r INTEGER, s INTEGER }`` so third-party tools (OpenSSL,
  BouncyCastle, GmSSL) verify it. Public keys travel as uncompressed points ``04‖X‖Y`` or as PEM
  SubjectPublicKeyInfo.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from gmalglib.sm2 import SM2

DEFAULT_UID = b"1234567812345678"
SM3_SIZE = 32


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _random_le(n: int) -> bytes:
    """gmalglib asks for little-endian random bytes; from the OS CSPRNG (GB/T 32918 needs a fresh k)."""
    return os.urandom(n)


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_key: bytes  # 32 bytes, big-endian d
    public_key: bytes  # 65 bytes, 04‖X‖Y

    @classmethod
    def generate(cls) -> KeyPair:
        sk, pk = SM2(rnd_fn=_random_le).generate_keypair()
        return cls(private_key=sk, public_key=pk)

    @classmethod
    def from_private(cls, private_key: bytes) -> KeyPair:
        if not SM2.is_sk_valid(private_key):
            raise ValueError("not an SM2 private key")
        return cls(private_key=private_key, public_key=SM2.get_pk(private_key))


def sign(private_key: bytes, message: bytes, *, uid: bytes = DEFAULT_UID) -> bytes:
    """DER-encoded SM2 signature of ``message`` (ZA computed with ``uid``)."""
    raw = SM2(private_key, uid=uid, rnd_fn=_random_le).sign(message)
    return der_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def verify(public_key: bytes, message: bytes, signature: bytes, *, uid: bytes = DEFAULT_UID) -> bool:
    try:
        r, s = parse_der_signature(signature)
        if not SM2.is_pk_valid(public_key):
            return False
    except ValueError:
        return False
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return bool(SM2(pk=public_key, uid=uid).verify(message, raw))


# --- DER ------------------------------------------------------------------------------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")  # leading 0x00 keeps it positive
    return b"\x02" + _der_length(len(body)) + body


def der_signature(r: int, s: int) -> bytes:
    body = _der_integer(r) + _der_integer(s)
    return b"\x30" + _der_length(len(body)) + body


def _read(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("bad DER tag")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or pos + count > len(data):
            raise ValueError("bad DER length")
        length, pos = int.from_bytes(data[pos : pos + count], "big"), pos + count
        if length < 0x80:
            raise ValueError("non-minimal DER length")
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return data[pos : pos + length], pos + length


def _parse_integer(body: bytes) -> int:
    if not body or (body[0] & 0x80) or (len(body) > 1 and body[0] == 0 and not (body[1] & 0x80)):
        raise ValueError("non-canonical DER integer")
    return int.from_bytes(body, "big")


def parse_der_signature(signature: bytes) -> tuple[int, int]:
    """Strict DER: exactly one SEQUENCE of two positive minimal INTEGERs, nothing trailing."""
    seq, end = _read(signature, 0, 0x30)
    if end != len(signature):
        raise ValueError("trailing bytes after signature")
    r_body, pos = _read(seq, 0, 0x02)
    s_body, pos = _read(seq, pos, 0x02)
    if pos != len(seq):
        raise ValueError("trailing bytes inside signature")
    r, s = _parse_integer(r_body), _parse_integer(s_body)
    if not (0 < r < 2**256 and 0 < s < 2**256):
        raise ValueError("signature value out of range")
    return r, s


# SubjectPublicKeyInfo: id-ecPublicKey (1.2.840.10045.2.1) with the SM2 curve (1.2.156.10197.1.301).
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def public_key_pem(public_key: bytes) -> str:
    if len(public_key) != 65 or public_key[0] != 4:
        raise ValueError("expected an uncompressed SM2 public key")
    body = base64.encodebytes(_SPKI_PREFIX + public_key).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def public_key_from_pem(pem: str) -> bytes:
    """The uncompressed point of an SM2 SubjectPublicKeyInfo PEM (as :func:`public_key_pem` writes it)."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----" or lines[-1] != "-----END PUBLIC KEY-----":
        raise ValueError("not a PEM public key")
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError:
        raise ValueError("not a PEM public key") from None
    if len(der) != len(_SPKI_PREFIX) + 65 or not der.startswith(_SPKI_PREFIX):
        raise ValueError("not an SM2 public key")
    public_key = der[len(_SPKI_PREFIX) :]
    if not SM2.is_pk_valid(public_key):
        raise ValueError("not a point of the SM2 curve")
    return public_key


# --- secrets at rest: SM4-GCM under a key derived from a passphrase (PBKDF2-HMAC-SM3) -----------------


def passphrase_key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    """The 128-bit SM4 key for ``passphrase`` (PBKDF2-HMAC-SM3)."""
    return hashlib.pbkdf2_hmac("sm3", passphrase.encode(), salt, iterations, 16)


def sm4_gcm_encrypt(
    secret: bytes, passphrase: str, *, salt: bytes, nonce: bytes, iterations: int, aad: bytes
) -> bytes:
    """``secret`` encrypted with SM4-GCM under the PBKDF2-HMAC-SM3 key of ``passphrase``: ciphertext + 16-byte tag.
    The one implementation behind the users' signing keys (esign) and the site key (:func:`seal`)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(
        algorithms.SM4(passphrase_key(passphrase, salt, iterations)), modes.GCM(nonce)
    ).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(secret) + encryptor.finalize() + encryptor.tag


def sm4_gcm_decrypt(
    sealed: bytes, passphrase: str, *, salt: bytes, nonce: bytes, iterations: int, aad: bytes
) -> bytes:
    """The secret :func:`sm4_gcm_encrypt` sealed; ValueError for a wrong passphrase, ``aad`` or altered data."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(
        algorithms.SM4(passphrase_key(passphrase, salt, iterations)), modes.GCM(nonce, sealed[-16:])
    ).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(sealed[:-16]) + decryptor.finalize()
    except InvalidTag:
        raise ValueError("wrong passphrase or altered data") from None


def seal(secret: bytes, passphrase: str, *, aad: bytes, iterations: int) -> dict[str, object]:
    """``secret`` encrypted with SM4-GCM under ``passphrase``; ``aad`` is bound to it, not stored."""
    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = sm4_gcm_encrypt(secret, passphrase, salt=salt, nonce=nonce, iterations=iterations, aad=aad)
    return {"kdf": "pbkdf2-hmac-sm3", "iterations": iterations, "salt": salt.hex(), "cipher": "sm4-gcm",
            "nonce": nonce.hex(), "sealed": sealed.hex()}  # fmt: skip


def unseal(sealed: dict[str, object], passphrase: str, *, aad: bytes) -> bytes:
    """The secret :func:`seal` encrypted; ValueError for a wrong passphrase, ``aad`` or altered data."""
    if sealed.get("kdf") != "pbkdf2-hmac-sm3" or sealed.get("cipher") != "sm4-gcm":
        raise ValueError("unknown key protection")
    iterations = sealed["iterations"]
    if type(iterations) is not int or iterations < 1:
        raise ValueError("bad iteration count")
    salt, nonce = bytes.fromhex(str(sealed["salt"])), bytes.fromhex(str(sealed["nonce"]))
    body = bytes.fromhex(str(sealed["sealed"]))
    return sm4_gcm_decrypt(body, passphrase, salt=salt, nonce=nonce, iterations=iterations, aad=aad)


def fingerprint(public_key: bytes) -> str:
    """Short identifier of a public key: the first 16 hex digits of its SM3 hash."""
    return sm3(public_key).hex()[:16]
