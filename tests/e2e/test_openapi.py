"""The OpenAPI document is valid, lists every REST route, and its viewers work offline."""

import re

import requests
from openapi_spec_validator import validate

ROUTES = {
    ("get", "/secrets"), ("get", "/secrets/{path}"), ("put", "/secrets/{path}"), ("delete", "/secrets/{path}"),
    ("post", "/secrets/{path}:undelete"), ("post", "/secrets/{path}:destroy"), ("post", "/transit/encrypt"), ("post", "/transit/decrypt"),
    ("post", "/transit/rewrap"), ("post", "/transit/sign"), ("post", "/transit/verify"),
    ("get", "/transit/random"), ("post", "/transit/keys/{name}"), ("post", "/db/creds/{role}"), ("post", "/db/renew"), ("post", "/db/revoke"),
    ("post", "/ssh/otp"), ("post", "/ssh/sign"), ("post", "/pki/issue"), ("post", "/pki/revoke"), ("get", "/pki/ca"),
    ("get", "/whoami"), ("get", "/livez"), ("get", "/readyz"),
}


def test_openapi_document_is_valid_and_complete(stack):
    document = requests.get(f"{stack.backend_url}/openapi.json", timeout=10).json()
    validate(document)
    listed = {(method, path) for path, item in document["paths"].items() for method in item}
    assert listed == ROUTES
    assert set(document["components"]["securitySchemes"]) == {"api_key", "bearer"}
    write = document["paths"]["/secrets/{path}"]["put"]
    assert write["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("KvWrite")
    # One type serves both faces: the path is the MCP argument, the URL's on REST.
    assert set(document["components"]["schemas"]["KvWrite"]["properties"]) == {"data", "cas"}


def test_swagger_ui_and_redoc_are_served_by_the_backend(stack):
    for page in ("/docs/", "/redoc"):
        html = requests.get(f"{stack.backend_url}{page}", timeout=10)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"], page
        # Every script comes from the backend itself.
        for src in re.findall(r'<script[^>]+src="([^"]+)"', html.text):
            assert not src.startswith(("http://", "https://", "//")), (page, src)
            assert requests.get(f"{stack.backend_url}{src if src.startswith('/') else '/docs/' + src}",
                                timeout=10).status_code == 200, src
    js = requests.get(f"{stack.backend_url}/redoc/redoc.standalone.js", timeout=10)
    assert js.status_code == 200 and len(js.content) > 100_000
