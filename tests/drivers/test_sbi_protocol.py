"""The shared SBI protocol helpers: JWS, images, messages (no network)."""
import json

import numpy as np
import pytest

from drivers.fingerprint import sbi_protocol as sbi


@pytest.fixture(scope="module", params=["EC", "RSA"])
def device_key(request):
    key = sbi.generate_device_key(request.param)
    return key, sbi.self_signed_certificate(key, "SBI-TEST-1")


def test_jws_round_trip_and_header_certificate(device_key):
    key, cert = device_key
    token = sbi.jws_sign({"a": 1, "b": "x"}, key, cert)
    public = sbi.load_public_key(cert.public_bytes(sbi.serialization.Encoding.PEM))
    assert sbi.jws_verify(token, public) == {"a": 1, "b": "x"}
    header, payload = sbi.jws_unverified(token)
    assert header["alg"] in ("ES256", "RS256") and header["x5c"] and payload == {"a": 1, "b": "x"}
    assert sbi.jws_verify(token, sbi.load_public_key(sbi.public_key_pem(key.public_key()))) == payload


def test_jws_rejects_another_key_a_changed_payload_and_alg_none(device_key):
    key, cert = device_key
    token = sbi.jws_sign({"qualityScore": 40}, key, cert)
    other = sbi.generate_device_key("EC" if sbi._alg(key.public_key()) == "ES256" else "RSA")
    with pytest.raises(sbi.SignatureMismatch):
        sbi.jws_verify(token, other.public_key())
    head, _, sig = token.split(".")
    forged = f"{head}.{sbi.b64url_encode(json.dumps({'qualityScore': 99}).encode())}.{sig}"
    with pytest.raises(sbi.SignatureMismatch):
        sbi.jws_verify(forged, key.public_key())
    none_header = sbi.b64url_encode(json.dumps({"alg": "none"}).encode())
    none = f"{none_header}.{token.split('.')[1]}."
    with pytest.raises(sbi.SignatureMismatch):
        sbi.jws_verify(none, key.public_key())


@pytest.mark.parametrize("token", [None, 5, "", "a.b", "a.b.c.d", "!!.??.==", "e30.W10.AA"])
def test_malformed_jws_is_a_protocol_violation(token):
    key = sbi.generate_device_key("EC")
    with pytest.raises(sbi.ProtocolViolation):
        sbi.jws_verify(token, key.public_key())


def test_public_keys_must_be_pem_of_an_accepted_kind():
    for bad in (b"", b"hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        with pytest.raises(ValueError):
            sbi.load_public_key(bad)


def test_image_round_trip_is_lossless_and_checked():
    image = np.random.default_rng(1).integers(0, 256, (400, 320), dtype=np.uint8)
    assert np.array_equal(sbi.decode_image(sbi.encode_image(image)), image)
    with pytest.raises(sbi.ProtocolViolation):
        sbi.decode_image(sbi.b64url_encode(b"GIF89a not a png at all, really not"))
    big = np.zeros((10, 4000), np.uint8)  # refused from the header, before decoding
    with pytest.raises(sbi.ProtocolViolation):
        sbi.decode_image(sbi.encode_image(big))
    colour = sbi.cv2.imencode(".png", np.zeros((100, 100, 3), np.uint8))[1].tobytes()
    with pytest.raises(sbi.ProtocolViolation):
        sbi.decode_image(sbi.b64url_encode(colour))


def test_capture_request_round_trip():
    request = sbi.CaptureRequest(transaction_id="t-1", bio_sub_type="Left Thumb", device_id="1", device_sub_id=1,
                                 timeout_ms=5000, requested_score=40, capture_time=sbi.now_timestamp())
    parsed = sbi.parse_capture_request(sbi.dumps(request.to_json()))
    assert parsed.transaction_id == "t-1" and parsed.bio_sub_type == "Left Thumb" and parsed.timeout_ms == 5000


@pytest.mark.parametrize("body", [b"", b"[]", b"{}", b'{"bio": []}', b'{"bio": [{"type": "Iris"}]}',
                                  b'\xff\xfe', b'{"bio": [{"type": "Finger", "count": 1, "bioSubType": ["Left Thumb"],'
                                  b' "requestedScore": 40}], "timeout": "soon", "transactionId": "x"}'])
def test_bad_capture_requests(body):
    with pytest.raises(sbi.ProtocolViolation):
        sbi.parse_capture_request(body)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"biometrics": []}', b'{"biometrics": [1]}',
                                  b'{"biometrics": [{"data": "x"}]}',
                                  b'{"biometrics": [{"data": "", "error": {"errorCode": "0"}}]}',
                                  b'{"biometrics": [{"data": "x", "error": {"errorCode": true}}]}',
                                  b'{"error": {"errorCode": "0"}}'])
def test_bad_capture_answers(body):
    with pytest.raises(sbi.ProtocolViolation):
        sbi.parse_capture_response(body)


def test_error_answers_carry_code_and_info():
    result = sbi.parse_capture_response(sbi.capture_response(None, sbi.ErrorCode.DEVICE_BUSY))
    assert (result.code, result.info, result.data) == (501, "Device busy", "")
    assert sbi.parse_capture_response(b'{"error": {"errorCode": 101, "errorInfo": "no finger"}}').code == 101


def test_timestamps():
    stamp = sbi.now_timestamp()
    assert stamp.endswith("Z") and sbi.parse_timestamp(stamp).tzinfo is not None
    for bad in (None, "yesterday", "2024-01-01T00:00:00"):
        with pytest.raises(sbi.ProtocolViolation):
            sbi.parse_timestamp(bad)
