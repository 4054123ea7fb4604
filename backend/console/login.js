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
}
