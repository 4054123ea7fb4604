"""Transit through Envoy with each agent's own keys, over REST and MCP."""

import asyncio
import base64

import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def post(stack, path, body, key="dev-key"):
    return requests.post(f"{stack.envoy_url}{path}", json=body, headers={"X-API-Key": key}, timeout=10)


def test_encrypt_decrypt_rewrap_round_trip(stack):
    encrypted = post(stack, "/transit/encrypt", {"text": "the launch code"})
    assert encrypted.status_code == 200, encrypted.text
    ciphertext = encrypted.json()["ciphertext"]
    assert ciphertext.startswith("vault:v1:") and "launch" not in ciphertext
    decrypted = post(stack, "/transit/decrypt", {"ciphertext": ciphertext}).json()
    launch = base64.b64encode(b"the launch code").decode()
    assert decrypted == {"text": "the launch code", "base64": launch, "plaintext": launch}
    rewrapped = post(stack, "/transit/rewrap", {"ciphertext": ciphertext}).json()["ciphertext"]
    assert post(stack, "/transit/decrypt", {"ciphertext": rewrapped}).json()["text"] == "the launch code"
    binary = post(stack, "/transit/encrypt", {"base64": base64.b64encode(b"\x00\xff").decode()}).json()
    assert post(stack, "/transit/decrypt", binary).json() == {"base64": "AP8=", "plaintext": "AP8=", "text": None}


def test_another_agents_ciphertext_does_not_decrypt(stack):
    ciphertext = post(stack, "/transit/encrypt", {"text": "mine"}).json()["ciphertext"]
    other = post(stack, "/transit/decrypt", {"ciphertext": ciphertext}, key="dev-key-b")
    assert other.status_code == 400
    assert other.json()["error"] == "vault_rejected"
    assert "mine" not in other.text


def test_sign_and_verify_with_algorithm_options(stack):
    for options in ({}, {"hash_algorithm": "sha2-512", "signature_algorithm": "pkcs1v15"}):
        signed = post(stack, "/transit/sign", {"input": {"text": "release 1.0"}, **options})
        assert signed.status_code == 200, signed.text
        signature = signed.json()["signature"]
        good = post(stack, "/transit/verify", {"input": {"text": "release 1.0"}, "signature": signature, **options})
        assert good.json() == {"valid": True}
        bad = post(stack, "/transit/verify", {"input": {"text": "release 1.1"}, "signature": signature, **options})
        assert bad.json() == {"valid": False}
    # agent_b's key does not vouch for agent_api's signature.
    signature = post(stack, "/transit/sign", {"input": {"text": "x"}}).json()["signature"]
    assert post(stack, "/transit/verify", {"input": {"text": "x"}, "signature": signature},
                key="dev-key-b").json() == {"valid": False}
    refused = post(stack, "/transit/sign", {"input": {"text": "x"}, "hash_algorithm": "md5"})
    assert refused.status_code == 400


def test_random_bytes_are_bounded(stack):
    get = lambda **params: requests.get(f"{stack.envoy_url}/transit/random", params=params,  # noqa: E731
                                        headers={"X-API-Key": "dev-key-ro"}, timeout=10)
    response = get(bytes=16, format="hex")
    assert response.status_code == 200
    body = response.json()
    assert body["bytes"] == 16 and body["format"] == "hex" and len(body["random"]) == 32
    assert len(base64.b64decode(get().json()["random"])) == 32
    for bytes_ in (0, 1025, 10_000_000):
        response = get(bytes=bytes_)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), bytes_


def test_payload_must_be_exactly_one_of_text_and_base64(stack):
    for body in ({}, {"text": "a", "base64": "YQ=="}, {"base64": "***"}, {"plaintext": "x"}):
        response = post(stack, "/transit/encrypt", body)
        assert response.status_code == 400, body


def test_read_only_agent_may_decrypt_but_not_encrypt(stack):
    ciphertext = post(stack, "/transit/encrypt", {"text": "x"}, key="dev-key-ro")
    assert ciphertext.status_code == 403


async def transit_over_mcp(url):
    http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
    async with http:
        async with Client(streamable_http_client(url, http_client=http), mode="2026-07-28") as client:
            encrypted = await client.call_tool("transit.encrypt", {"text": "over mcp"})
            ciphertext = encrypted.structured_content["ciphertext"]
            decrypted = await client.call_tool("transit.decrypt", {"ciphertext": ciphertext})
            rewrapped = await client.call_tool("transit.rewrap", {"ciphertext": ciphertext})
            signed = await client.call_tool("transit.sign", {"input": {"text": "m"}})
            verified = await client.call_tool("transit.verify", {
                "input": {"text": "m"}, "signature": signed.structured_content["signature"]})
            random = await client.call_tool("transit.random", {"bytes": 8, "format": "hex"})
            huge = await client.call_tool("transit.random", {"bytes": 1 << 30})
            return decrypted, rewrapped, verified, random, huge


def test_transit_tools_over_mcp(stack):
    decrypted, rewrapped, verified, random, huge = asyncio.run(transit_over_mcp(f"{stack.envoy_url}/mcp"))
    assert decrypted.structured_content["text"] == "over mcp"
    assert rewrapped.structured_content["ciphertext"].startswith("vault:v1:")
    assert verified.structured_content == {"valid": True}
    assert len(random.structured_content["random"]) == 16
    assert huge.is_error and "invalid_request" in huge.content[0].text
