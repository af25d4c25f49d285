"""Real keys and certificates for the pulumi-tls resources of the offline mock engine.

The outputs mirror the pulumi-tls (terraform-provider-tls) provider: the same PEM flavours,
extensions built from `allowed_uses`, subject and SANs copied from the request, so rendered
chains verify with `openssl verify` exactly like the real ones would.

Deterministic by design, and therefore NOT secret: every key is derived from a hash of the
resource name and its algorithm parameters, serial numbers from the name, and the validity
window starts at a fixed instant (`SOURCE_DATE_EPOCH`, else 00:00 UTC of the current day).
The same program renders byte-identical certificates on every run; never use these keys for
anything real. RSA derivation is pure Python and slow (about 0.4 s per RSA-2048 key; ECDSA and
ED25519 are instant), so keys are cached per process by (resource name, algorithm, size/curve):
later runs in one process reuse them. RSA keys above `DETERMINISTIC_RSA_MAX_BITS` would take
5-10 s each, so they come from `cryptography`'s generator instead: random, cached per process
(byte-identical within a process, not between processes).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_SEED_LABEL = "k8s-dualstack-aws offline mock key, not secret"
_CURVES: dict[str, ec.EllipticCurve] = {
    "P224": ec.SECP224R1(),
    "P256": ec.SECP256R1(),
    "P384": ec.SECP384R1(),
    "P521": ec.SECP521R1(),
}
_KEY_USAGES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}
_EXTENDED_USAGES = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec_end_system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec_tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec_user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft_server_gated_crypto": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape_server_gated_crypto": ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoft_commercial_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoft_kernel_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}
# Go's pkix.Name order, which the provider uses for subjects.
_SUBJECT_FIELDS = (
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("emailAddress", NameOID.EMAIL_ADDRESS),
)

DETERMINISTIC_RSA_MAX_BITS = 2048
_KEY_CACHE: dict[tuple[str, str, str], PrivateKey] = {}
_KEY_OUTPUTS: dict[tuple[str, str, str], dict[str, str]] = {}
_CACHE_LOCK = threading.Lock()


def mock_now() -> dt.datetime:
    """The fixed 'now' of certificates: SOURCE_DATE_EPOCH if set, else today 00:00 UTC."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)


def _stream(seed: str) -> Iterator[bytes]:
    counter = 0
    while True:
        yield hashlib.sha512(f"{_SEED_LABEL}|{seed}|{counter}".encode()).digest()
        counter += 1


def _random_bits(stream: Iterator[bytes], bits: int) -> int:
    data = b""
    while len(data) * 8 < bits:
        data += next(stream)
    return int.from_bytes(data, "big") >> (len(data) * 8 - bits)


def _small_primes(limit: int) -> list[int]:
    sieve = bytearray([1]) * (limit + 1)
    for number in range(2, int(limit**0.5) + 1):
        if sieve[number]:
            sieve[number * number :: number] = bytes(len(range(number * number, limit + 1, number)))
    return [number for number in range(3, limit + 1) if sieve[number]]


_SMALL_PRIMES = _small_primes(1 << 14)
_WINDOW = 4096


def _probably_prime(candidate: int, stream: Iterator[bytes], rounds: int = 8) -> bool:
    """Miller-Rabin; 8 rounds after sieving is ample for random primes of 1024+ bits (FIPS 186-5 B.3)."""
    d, s = candidate - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for round_ in range(rounds):
        base = 2 if round_ == 0 else 2 + _random_bits(stream, candidate.bit_length()) % (candidate - 3)
        x = pow(base, d, candidate)
        if x in (1, candidate - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, candidate)
            if x == candidate - 1:
                break
        else:
            return False
    return True


def _prime(stream: Iterator[bytes], bits: int, exponent: int) -> int:
    """A prime with its top two bits set (so p*q has exactly 2*bits bits), found by sieving a window."""
    while True:
        start = _random_bits(stream, bits) | (3 << (bits - 2)) | 1
        composite = bytearray(_WINDOW)  # index i stands for start + 2i
        for small in _SMALL_PRIMES:
            first = (-start * pow(2, -1, small)) % small
            composite[first::small] = b"\x01" * len(range(first, _WINDOW, small))
        for index in range(_WINDOW):
            candidate = start + 2 * index
            if composite[index] or (candidate - 1) % exponent == 0:
                continue
            if candidate.bit_length() != bits:
                break
            if _probably_prime(candidate, stream):
                return candidate


def _rsa_key(seed: str, bits: int) -> rsa.RSAPrivateKey:
    exponent = 65537
    stream = _stream(seed)
    p = _prime(stream, bits // 2, exponent)
    q = _prime(stream, bits - bits // 2, exponent)
    while q == p:
        q = _prime(stream, bits - bits // 2, exponent)
    d = pow(exponent, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(exponent, p * q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public)
    return numbers.private_key()


def derive_key(name: str, algorithm: str, rsa_bits: int = 2048, ecdsa_curve: str = "P224") -> PrivateKey:
    """The (cached) deterministic key of a `tls.PrivateKey` resource."""
    parameter = str(rsa_bits) if algorithm == "RSA" else ecdsa_curve if algorithm == "ECDSA" else ""
    cache_key = (name, algorithm, parameter)
    with _CACHE_LOCK:
        cached = _KEY_CACHE.get(cache_key)
        if cached is not None:
            return cached
        seed = "|".join(cache_key)
        key: PrivateKey
        if algorithm == "RSA":
            if rsa_bits < 1024:
                raise ValueError(f"tls.PrivateKey {name}: rsaBits {rsa_bits} is too small")
            if rsa_bits <= DETERMINISTIC_RSA_MAX_BITS:
                key = _rsa_key(seed, rsa_bits)
            else:
                key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        elif algorithm == "ECDSA":
            if ecdsa_curve not in _CURVES:
                raise ValueError(f"tls.PrivateKey {name}: ecdsaCurve {ecdsa_curve!r} is not one of {sorted(_CURVES)}")
            curve = _CURVES[ecdsa_curve]
            # Any scalar below 2^(n-1) is below the group order of these NIST curves.
            key = ec.derive_private_key(_random_bits(_stream(seed), curve.key_size - 1) + 1, curve)
        elif algorithm == "ED25519":
            key = ed25519.Ed25519PrivateKey.from_private_bytes(next(_stream(seed))[:32])
        else:
            raise ValueError(f"tls.PrivateKey {name}: algorithm {algorithm!r} is not one of RSA, ECDSA, ED25519")
        _KEY_CACHE[cache_key] = key
        return key


def algorithm_of(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ECDSA"
    return "ED25519"


def _pem(data: bytes) -> str:
    return data.decode("ascii")


def private_key_outputs(name: str, inputs: Mapping[str, Any]) -> dict[str, str]:
    """Outputs of `tls:index/privateKey:PrivateKey` (cached with the key: OpenSSH output has a random check word)."""
    algorithm = inputs.get("algorithm", "RSA")
    rsa_bits, curve = int(inputs.get("rsaBits", 2048)), inputs.get("ecdsaCurve", "P224")
    cache_key = (name, algorithm, str(rsa_bits) if algorithm == "RSA" else curve if algorithm == "ECDSA" else "")
    key = derive_key(name, algorithm, rsa_bits, curve)
    with _CACHE_LOCK:
        if cache_key in _KEY_OUTPUTS:
            return dict(_KEY_OUTPUTS[cache_key])
    traditional = serialization.PrivateFormat.TraditionalOpenSSL
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    public = key.public_key()
    public_pem = _pem(public.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    outputs = {
        # Like the provider: PKCS#1 / SEC 1 PEM for RSA / ECDSA, PKCS#8 for ED25519.
        "privateKeyPem": _pem(key.private_bytes(pem, pkcs8 if algorithm == "ED25519" else traditional, none)),
        "privateKeyPemPkcs8": _pem(key.private_bytes(pem, pkcs8, none)),
        "publicKeyPem": public_pem,
        "privateKeyOpenssh": "",
        "publicKeyOpenssh": "",
        "publicKeyFingerprintMd5": "",
        "publicKeyFingerprintSha256": "",
        "id": hashlib.sha1(public_pem.encode()).hexdigest(),
    }
    if not (algorithm == "ECDSA" and curve == "P224"):  # OpenSSH has no P-224
        openssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        blob = base64.b64decode(openssh.split()[1])
        md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
        outputs.update(
            privateKeyOpenssh=_pem(key.private_bytes(pem, serialization.PrivateFormat.OpenSSH, none)),
            publicKeyOpenssh=openssh.decode() + "\n",
            publicKeyFingerprintMd5=":".join(md5[i : i + 2] for i in range(0, len(md5), 2)),
            publicKeyFingerprintSha256="SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
        )
    with _CACHE_LOCK:
        _KEY_OUTPUTS[cache_key] = outputs
    return dict(outputs)


def _public_der(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _load_key(pem_text: str, what: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem_text.encode(), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError(f"{what}: unsupported key type {type(key).__name__}")
    return key


def _subject(subject: Mapping[str, Any] | None) -> x509.Name:
    attributes = []
    for field_name, oid in _SUBJECT_FIELDS:
        value = (subject or {}).get(field_name)
        for item in value if isinstance(value, list) else [value] if value else []:
            attributes.append(x509.NameAttribute(oid, str(item)))
    return x509.Name(attributes)


def _sans(inputs: Mapping[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in inputs.get("dnsNames") or []]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in inputs.get("ipAddresses") or []]
    names += [x509.UniformResourceIdentifier(uri) for uri in inputs.get("uris") or []]
    return names


def _signature_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA512()
    return hashes.SHA256()


def _sign(builder: Any, key: PrivateKey) -> Any:
    algorithm = _signature_hash(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # RFC 6979 deterministic ECDSA keeps certificates byte-identical between runs.
        return builder.sign(key, algorithm, ecdsa_deterministic=True)
    return builder.sign(key, algorithm)


def _serial(name: str, *parts: str) -> int:
    digest = hashlib.sha256("|".join((_SEED_LABEL, name, *parts)).encode()).digest()
    return int.from_bytes(digest[:16], "big") >> 1 or 1


def _issue(
    name: str,
    inputs: Mapping[str, Any],
    *,
    subject: x509.Name,
    public_key: PublicKey,
    sans: list[x509.GeneralName],
    issuer: x509.Name,
    signing_key: PrivateKey,
    issuer_ski: bytes | None,
    now: dt.datetime,
) -> dict[str, Any]:
    hours = int(inputs["validityPeriodHours"])
    uses = list(inputs.get("allowedUses") or [])
    unknown = sorted(set(uses) - set(_KEY_USAGES) - set(_EXTENDED_USAGES))
    if unknown:
        raise ValueError(f"{name}: allowedUses {unknown} are not pulumi-tls usages")
    is_ca = bool(inputs.get("isCaCertificate"))
    max_path = inputs.get("maxPathLength")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(_serial(name, subject.rfc4514_string(), str(hours)))
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=max_path if is_ca and max_path else None), True)
    )
    flags = dict.fromkeys(_KEY_USAGES.values(), False)
    flags.update({_KEY_USAGES[use]: True for use in uses if use in _KEY_USAGES})
    if any(flags.values()):
        if not flags["key_agreement"]:
            flags["encipher_only"] = flags["decipher_only"] = False
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    extended = [_EXTENDED_USAGES[use] for use in uses if use in _EXTENDED_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    if is_ca or inputs.get("setSubjectKeyId"):
        builder = builder.add_extension(ski, critical=False)
    if issuer_ski is not None and issuer != subject:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier(issuer_ski, None, None), critical=False)
    certificate = _sign(builder, signing_key)
    end = now + dt.timedelta(hours=hours)
    return {
        "certPem": _pem(certificate.public_bytes(serialization.Encoding.PEM)),
        "validityStartTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "readyForRenewal": False,
        "id": str(certificate.serial_number),
    }


def self_signed_cert_outputs(name: str, inputs: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    key = _load_key(inputs["privateKeyPem"], f"tls.SelfSignedCert {name}")
    subject = _subject(inputs.get("subject"))
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    outputs = _issue(
        name,
        inputs,
        subject=subject,
        public_key=key.public_key(),
        sans=_sans(inputs),
        issuer=subject,
        signing_key=key,
        issuer_ski=ski,
        now=now,
    )
    return {**outputs, "keyAlgorithm": algorithm_of(key)}


def cert_request_outputs(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    key = _load_key(inputs["privateKeyPem"], f"tls.CertRequest {name}")
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(inputs.get("subject")))
    sans = _sans(inputs)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    request = _sign(builder, key)
    pem_text = _pem(request.public_bytes(serialization.Encoding.PEM))
    identity = hashlib.sha1(pem_text.encode()).hexdigest()
    return {"certRequestPem": pem_text, "keyAlgorithm": algorithm_of(key), "id": identity}


def locally_signed_cert_outputs(name: str, inputs: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    request = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
    ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
    ca_key = _load_key(inputs["caPrivateKeyPem"], f"tls.LocallySignedCert {name}")
    if _public_der(ca_key.public_key()) != _public_der(ca_cert.public_key()):
        raise ValueError(f"tls.LocallySignedCert {name}: caPrivateKeyPem is not the key of caCertPem")
    try:
        sans = list(request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = []
    try:
        ca_ski: bytes | None = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ca_ski = None
    public_key = request.public_key()
    if not isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise ValueError(f"tls.LocallySignedCert {name}: unsupported key type in the request")
    outputs = _issue(
        name,
        inputs,
        subject=request.subject,
        public_key=public_key,
        sans=sans,
        issuer=ca_cert.subject,
        signing_key=ca_key,
        issuer_ski=ca_ski,
        now=now,
    )
    return {**outputs, "caKeyAlgorithm": algorithm_of(ca_key)}
