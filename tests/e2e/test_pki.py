"""Client certificates from Vault PKI (`pki.issue`, `POST /pki/issue`): an agent sends a CSR made
by `cryptography` (its key never leaves it), gets a certificate naming only itself, and from then
on is that agent at the edge's mTLS listener. CSRs for other names, weak keys, lifetimes beyond
the role are refused, and Vault itself refuses the agent's token any other name."""

import asyncio
import datetime
import json
import time
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from support import UNLIMITED, agent_token, agents_cli, call_tool, root_session, start_stack, wait_for


@pytest.fixture(scope="module")
def edge(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "pki", filter_overrides=UNLIMITED, edge=True)
    yield running
    running.stop()


def csr(common_name: str | None = "agent_api", *, key=None, sans: list[str] = ()) -> tuple[str, object]:
    """A PEM CSR and its private key."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "agents")]
    if common_name is not None:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    request = builder.sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode(), key


def post(edge, path: str, key: str, body: dict) -> requests.Response:
    return requests.post(f"{edge.envoy_url}{path}", json=body, headers={"X-API-Key": key},
                         verify=str(edge.certs / "ca.crt"), timeout=30)


def files_for(tmp_path, issued: dict, key) -> tuple[str, str]:
    """The certificate and key as files, for requests' `cert=`: the leaf alone (Envoy trusts
    the PKI chain itself)."""
    cert, key_file = tmp_path / f"{uuid.uuid4().hex}.crt", tmp_path / f"{uuid.uuid4().hex}.key"
    cert.write_text(issued["certificate"])
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert), str(key_file)


def over_mtls(edge, method: str, path: str, cert: tuple[str, str], **kwargs) -> requests.Response:
    return requests.request(method, f"{edge.mtls_url}{path}", cert=cert, verify=str(edge.certs / "ca.crt"),
                            timeout=10, **kwargs)


def issued_serials(edge) -> set[str]:
    listed = root_session().request("LIST", f"{edge.openbao_url}/v1/pki_int/certs", timeout=10)
    assert listed.status_code in (200, 404), listed.text  # 404: none issued yet
    return set(listed.json()["data"]["keys"]) if listed.status_code == 200 else set()


def test_a_certificate_from_a_csr_is_the_agent_at_the_mtls_listener(edge, tmp_path):
    pem, key = csr("agent_api")
    response = post(edge, "/pki/issue", "dev-key", {"csr": pem, "ttl": "10m"})
    assert response.status_code == 200, response.text
    issued = response.json()
    cert = x509.load_pem_x509_certificate(issued["certificate"].encode())
    # One name, the agent's own; a client certificate and nothing else; the lifetime asked for.
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "agent_api"
    assert issued["common_name"] == "agent_api"
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(minutes=9) < lifetime <= datetime.timedelta(minutes=11), lifetime
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert issued["serial_number"].replace(":", "") == f"{cert.serial_number:x}".zfill(len(issued["serial_number"].replace(":", "")))
    # The chain it is issued under is the one /pki/ca gives.
    chain = requests.get(f"{edge.envoy_url}/pki/ca", headers={"X-API-Key": "dev-key"},
                         verify=str(edge.certs / "ca.crt"), timeout=10).json()["ca_chain"]
    assert chain[0].strip() == issued["issuing_ca"].strip() and len(chain) == 2
    # At the mTLS listener the certificate is the credential: agent_api, its scopes, its corner.
    files = files_for(tmp_path, issued, key)
    who = over_mtls(edge, "GET", "/whoami", files)
    assert who.status_code == 200, who.text
    assert who.json()["subject"] == "agent_api"
    path = f"/secrets/pki/{uuid.uuid4().hex[:8]}"
    assert over_mtls(edge, "PUT", path, files, json={"data": {"via": "pki"}}).status_code == 200
    read = requests.get(f"{edge.envoy_url}{path}", headers={"X-API-Key": "dev-key"},
                        verify=str(edge.certs / "ca.crt"), timeout=10)
    assert read.json()["data"] == {"via": "pki"}


def test_the_official_mcp_sdk_issues_one_too(edge, tmp_path):
    pem, key = csr(None)  # no name: Vault writes the agent's own
    tools, result = asyncio.run(call_tool(f"{edge.envoy_url}/mcp", "dev-key", "pki.issue", {"csr": pem},
                                          ca=str(edge.certs / "ca.crt")))
    assert {"pki.issue", "pki.ca"} <= set(tools)
    assert not result.is_error, result.content
    issued = result.structured_content
    assert x509.load_pem_x509_certificate(issued["certificate"].encode()).subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value == "agent_api"
    who = over_mtls(edge, "GET", "/whoami", files_for(tmp_path, issued, key))
    assert who.json()["subject"] == "agent_api"


def test_without_a_csr_vault_generates_the_key_and_only_a_wrapping_token_carries_it(edge, tmp_path):
    response = post(edge, "/pki/issue", "dev-key", {"ttl": "10m", "wrap_ttl": "2m"})
    assert response.status_code == 200, response.text
    issued = response.json()
    assert "PRIVATE KEY" not in response.text
    assert 0 < issued["wrap_ttl"] <= 120 and issued["wrap_accessor"]
    # The token unwraps once, from Vault, with itself as the credential.
    unwrap = lambda: requests.post(f"{edge.openbao_url}/v1/sys/wrapping/unwrap",  # noqa: E731
                                   headers={"X-Vault-Token": issued["wrap_token"]}, timeout=10)
    bundle = unwrap().json()["data"]
    assert bundle["serial_number"] == issued["serial_number"]
    assert bundle["certificate"].strip() == issued["certificate"].strip()
    assert unwrap().status_code == 400
    key = serialization.load_pem_private_key(bundle["private_key"].encode(), password=None)
    cert = x509.load_pem_x509_certificate(issued["certificate"].encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert key.key_size >= 2048
    who = over_mtls(edge, "GET", "/whoami", files_for(tmp_path, issued, key))
    assert who.json()["subject"] == "agent_api"
    # The key was in the bridge's hands for one call: never in its logs.
    for log in (edge.logs / "backend").glob("*.log*"):
        assert "PRIVATE KEY" not in log.read_text(errors="replace"), log


@pytest.mark.parametrize("case, status, code, fragment", [
    ("another agent's name", 403, "not_allowed", "names only"),
    ("a wildcard", 403, "not_allowed", "wildcard"),
    ("a subject alternative name", 403, "not_allowed", "subject alternative names"),
    ("not a CSR", 400, "invalid_request", "csr must be one PEM certificate request"),
    ("a 1024-bit RSA key", 400, "invalid_request", "too weak"),
    ("a lifetime beyond the role", 400, "invalid_request", "longer than the role"),
    ("a role not allowed", 403, "not_allowed", "not one this agent may use"),
    ("an unknown field", 400, "invalid_request", "unknown field"),
    ("a CSR with a wrap_ttl", 400, "invalid_request", "wrap_ttl is for keys Vault generates"),
])
def test_what_is_refused_issues_nothing(edge, case, status, code, fragment):
    pem, _ = csr("agent_api")
    body = {
        "another agent's name": {"csr": csr("agent_ops")[0]},
        "a wildcard": {"csr": csr("*")[0]},
        "a subject alternative name": {"csr": csr("agent_api", sans=["agent_ops"])[0]},
        "not a CSR": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"},
        "a 1024-bit RSA key": {"csr": csr(key=rsa.generate_private_key(public_exponent=65537, key_size=1024))[0]},
        "a lifetime beyond the role": {"csr": pem, "ttl": "25h"},
        "a role not allowed": {"csr": pem, "role": "server"},
        "an unknown field": {"csr": pem, "alt_names": "agent_ops"},
        "a CSR with a wrap_ttl": {"csr": pem, "wrap_ttl": "5m"},
    }[case]
    before = issued_serials(edge)
    response = post(edge, "/pki/issue", "dev-key", body)
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert fragment in response.json()["message"], response.text
    assert issued_serials(edge) == before


def test_the_dev_role_takes_rsa_keys_only(edge):
    """Vault's role decides the key type (the dev role: RSA of 2048 bits or more)."""
    response = post(edge, "/pki/issue", "dev-key", {"csr": csr(key=ec.generate_private_key(ec.SECP256R1()))[0]})
    assert (response.status_code, response.json()["error"]) == (400, "vault_rejected"), response.text


def test_vault_refuses_the_agents_token_any_other_name(edge):
    """Not only the bridge: the role's `allowed_domains` is templated on the token's entity, so
    agent_api's own token cannot have a certificate signed for agent_ops (nor any SAN)."""
    token = agent_token(edge, "agent_api")
    pem, _ = csr(None)

    def sign(**fields):
        return requests.post(f"{edge.openbao_url}/v1/pki_int/sign/agent", headers={"X-Vault-Token": token},
                             json={"csr": pem, **fields}, timeout=10)

    assert sign(common_name="agent_ops").status_code == 400
    assert sign(common_name="*.agent_api").status_code == 400
    for other_names in ({"uri_sans": "spiffe://bridge/agent_ops"}, {"ip_sans": "127.0.0.1"},
                        {"other_sans": "1.3.6.1.4.1.311.20.2.3;UTF8:agent_ops"}, {"user_ids": "agent_ops"}):
        assert sign(common_name="agent_api", **other_names).status_code == 400, other_names
    # DNS names the role does not take from the request either: the certificate names none.
    signed = sign(common_name="agent_api", alt_names="agent_ops", exclude_cn_from_sans=False)
    assert signed.status_code == 200, signed.text
    cert = x509.load_pem_x509_certificate(signed.json()["data"]["certificate"].encode())
    assert cert.subject.rfc4514_string() == "CN=agent_api"
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    # Nor another role, nor the CA's own endpoints.
    assert requests.post(f"{edge.openbao_url}/v1/pki/root/sign-intermediate", headers={"X-Vault-Token": token},
                         json={"csr": pem}, timeout=10).status_code == 403


def revocation_time(edge, serial: str) -> int:
    """What Vault itself says of the certificate (0: not revoked)."""
    found = requests.get(f"{edge.openbao_url}/v1/pki_int/cert/{serial}", timeout=10)
    assert found.status_code == 200, found.text
    return found.json()["data"]["revocation_time"]


def test_an_agent_revokes_its_own_certificates_and_no_one_elses(edge):
    issued = post(edge, "/pki/issue", "dev-key", {"csr": csr("agent_api")[0]}).json()
    serial = issued["serial_number"]
    # agent_b holds write and delete too, but not this certificate; a made-up serial is no one's.
    for key, body in (("dev-key-b", {"serial_number": serial}), ("dev-key", {"serial_number": "0a:0b"})):
        refused = post(edge, "/pki/revoke", key, body)
        assert (refused.status_code, refused.json()["error"]) == (403, "vault_forbidden"), refused.text
    malformed = post(edge, "/pki/revoke", "dev-key", {"serial_number": "../leases"})
    assert (malformed.status_code, malformed.json()["error"]) == (400, "invalid_request"), malformed.text
    assert revocation_time(edge, serial) == 0
    # agent_ro may not revoke at all (write and delete).
    assert post(edge, "/pki/revoke", "dev-key-ro", {"serial_number": serial}).status_code == 403
    done = post(edge, "/pki/revoke", "dev-key", {"serial_number": serial})
    assert done.status_code == 200, done.text
    assert done.json() == {"serial_number": serial, "revoked": True}
    assert revocation_time(edge, serial) > 0
    # Once more: still revoked, nothing else happens.
    assert post(edge, "/pki/revoke", "dev-key", {"serial_number": serial}).status_code == 200


def test_a_revoked_certificate_is_refused_at_the_edge_while_its_agent_is_enabled(edge, tmp_path):
    """Envoy's TLS still accepts it (no CRL): the filter refuses it by its SHA-256, which the
    registry snapshot lists, while a certificate issued after it works."""
    pem, key = csr("agent_api")
    old = post(edge, "/pki/issue", "dev-key", {"csr": pem}).json()
    old_files = files_for(tmp_path, old, key)
    new = post(edge, "/pki/issue", "dev-key", {"csr": pem}).json()
    new_files = files_for(tmp_path, new, key)
    assert over_mtls(edge, "GET", "/whoami", old_files).status_code == 200
    assert post(edge, "/pki/revoke", "dev-key", {"serial_number": old["serial_number"]}).status_code == 200
    wait_for(lambda: over_mtls(edge, "GET", "/whoami", old_files).status_code == 401, 15)
    refused = over_mtls(edge, "GET", "/whoami", old_files)
    assert refused.json()["error"] == "revoked_client_certificate", refused.text
    assert over_mtls(edge, "GET", "/whoami", new_files).json()["subject"] == "agent_api"


def test_an_agent_added_again_does_not_get_its_predecessors_certificates_back(edge, tmp_path):
    subject = f"again_{uuid.uuid4().hex[:8]}"
    add = ("add", subject, "--scopes", "read,write", "--certificate-cn", subject, "--json")
    key = json.loads(agents_cli(edge, *add).stdout)["api_key"]
    wait_for(lambda: requests.get(f"{edge.envoy_url}/whoami", headers={"X-API-Key": key},
                                  verify=str(edge.certs / "ca.crt"), timeout=10).ok, 15)
    pem, private = csr(subject)
    issued = post(edge, "/pki/issue", key, {"csr": pem}).json()
    files = files_for(tmp_path, issued, private)
    # Each listener's filter takes the registry's snapshot at its own tick: the mTLS one too.
    wait_for(lambda: over_mtls(edge, "GET", "/whoami", files).json().get("subject") == subject, 15)
    removed = json.loads(agents_cli(edge, "remove", subject, "--json").stdout)
    assert removed["revoked"]["certificates_revoked"] == [issued["serial_number"]]
    # Added again (same name, same certificate name): its key works, the old certificate never.
    key = json.loads(agents_cli(edge, *add).stdout)["api_key"]
    wait_for(lambda: requests.get(f"{edge.envoy_url}/whoami", headers={"X-API-Key": key},
                                  verify=str(edge.certs / "ca.crt"), timeout=10).ok, 15)
    wait_for(lambda: over_mtls(edge, "GET", "/whoami", files).json().get("error") == "revoked_client_certificate", 15)
    assert over_mtls(edge, "GET", "/whoami", files).status_code == 401


def test_only_an_agent_that_answers_to_its_own_name_gets_certificates_and_only_so_many(edge):
    """A certificate names its agent's subject, and the edge maps that name to the record that
    answers to it: without `--certificate-cn SUBJECT` it could be no one's, or another's."""
    subject = f"nameless_{uuid.uuid4().hex[:8]}"
    key = json.loads(agents_cli(edge, "add", subject, "--scopes", "read,write", "--json").stdout)["api_key"]
    wait_for(lambda: requests.get(f"{edge.envoy_url}/whoami", headers={"X-API-Key": key},
                                  verify=str(edge.certs / "ca.crt"), timeout=10).ok, 15)
    refused = post(edge, "/pki/issue", key, {"csr": csr(subject)[0]})
    assert (refused.status_code, refused.json()["error"]) == (403, "not_allowed"), refused.text
    assert f"--certificate-cn {subject}" in refused.json()["message"]
    agents_cli(edge, "update", subject, "--certificate-cn", subject)
    pem, _ = csr(subject)
    for _ in range(20):
        assert post(edge, "/pki/issue", key, {"csr": pem}).status_code == 200
    # The twenty-first while twenty are unexpired: nothing more is issued.
    before = issued_serials(edge)
    more = post(edge, "/pki/issue", key, {"csr": pem})
    assert (more.status_code, more.json()["error"]) == (409, "conflict"), more.text
    assert issued_serials(edge) == before


def test_a_disabled_agents_certificate_is_refused_at_the_edge(edge, tmp_path):
    subject = f"pki_{uuid.uuid4().hex[:8]}"
    key = json.loads(agents_cli(edge, "add", subject, "--scopes", "read,write", "--certificate-cn", subject,
                                "--json").stdout)["api_key"]
    wait_for(lambda: requests.get(f"{edge.envoy_url}/whoami", headers={"X-API-Key": key},
                                  verify=str(edge.certs / "ca.crt"), timeout=10).ok, 15)
    pem, private = csr(subject)
    response = post(edge, "/pki/issue", key, {"csr": pem})
    assert response.status_code == 200, response.text
    files = files_for(tmp_path, response.json(), private)
    # Each listener's filter takes the registry's snapshot at its own tick: the mTLS one too.
    wait_for(lambda: over_mtls(edge, "GET", "/whoami", files).json().get("subject") == subject, 15)
    serial = response.json()["serial_number"]
    disabled = json.loads(agents_cli(edge, "disable", subject, "--json").stdout)
    # The kill switch revoked it in Vault, and the edge refuses it within its refresh.
    assert disabled["revoked"]["certificates_revoked"] == [serial], disabled
    assert revocation_time(edge, serial) > 0
    # Refused as revoked (a credential that proves no one), before the agent's state is asked.
    wait_for(lambda: over_mtls(edge, "GET", "/whoami", files).status_code == 401, 15)
    refused = over_mtls(edge, "GET", "/whoami", files)
    assert refused.json()["error"] == "revoked_client_certificate", refused.text
    # Enabled again, the agent's key works; the revoked certificate still does not.
    agents_cli(edge, "enable", subject)
    wait_for(lambda: requests.get(f"{edge.envoy_url}/whoami", headers={"X-API-Key": key},
                                  verify=str(edge.certs / "ca.crt"), timeout=10).ok, 15)
    time.sleep(2.5)  # each listener's filter at its next tick: had it taken the agent back, it would show
    assert over_mtls(edge, "GET", "/whoami", files).json()["error"] == "revoked_client_certificate"
