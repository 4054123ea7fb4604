// Sign-in: the credential goes in a JSON POST (a cross-site form cannot send one), and a dev
// stack link may carry it in the URL fragment, which never reaches a server or its logs.
"use strict";

async function signIn(credential) {
  const error = document.getElementById("signin-error");
  error.hidden = true;
  const response = await fetch("/login", {
    method: "POST",
    headers: { "content-type": "application/json", "accept": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ credential }),
  });
  if (response.ok) {
    window.location.assign("/agents");
    return;
  }
  const data = await response.json().catch(() => ({}));
  error.textContent = data.message || `Sign-in refused (HTTP ${response.status}).`;
  error.hidden = false;
}

document.getElementById("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn(document.getElementById("credential").value);
});

const fragment = new URLSearchParams(window.location.hash.slice(1));
if (fragment.get("key")) {
  const key = fragment.get("key");
  history.replaceState(null, "", window.location.pathname);
  signIn(key);
} else if (fragment.get("error")) {
  // A sign-in through the authorization server came back refused: the console says why.
  const error = document.getElementById("signin-error");
  error.textContent = `Sign-in refused: ${fragment.get("error")}`;
  error.hidden = false;
  history.replaceState(null, "", window.location.pathname);
}

// People sign in through the edge's authorization server too, when it has one.
fetch("/login/methods", { headers: { accept: "application/json" } })
  .then((response) => (response.ok ? response.json() : {}))
  .then(({ oauth_issuer: issuer }) => {
    if (!issuer) return;
    document.getElementById("oauth-issuer").textContent = ` (${issuer}; your account needs the admin scope)`;
    document.getElementById("oauth").hidden = false;
  });
