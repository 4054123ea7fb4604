// Shared by every signed-in page: the header (navigation, operator, sign-out), the session
// (operator and CSRF token), and JSON calls that carry the token on every change. Pages build
// their DOM with textContent only, never from HTML strings, so nothing an agent name holds can
// run as markup.
"use strict";

const Console = (() => {
  let csrf = null;

  async function call(method, path, body) {
    const headers = { "accept": "application/json" };
    if (method !== "GET") headers["x-csrf-token"] = csrf;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) {
      window.location.assign("/login");
      throw new Error("signed out");
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : {};
    if (!response.ok) throw new Error(data.message || data.error || `HTTP ${response.status}`);
    return data;
  }

  // Every page's <header>, built here so the pages carry no copy of it; the signed-in pages
  // come from the server (`/api/session`), which serves them and keeps their one list.
  function header(pages) {
    const nav = element("nav");
    for (const { path, title } of pages) {
      const link = element("a", title, { href: path });
      if (window.location.pathname === path) link.setAttribute("aria-current", "page");
      nav.append(link);
    }
    const who = element("span", "signed in as ", { class: "who" });
    who.append(element("span", null, { id: "operator" }));
    const signout = element("form", null, { id: "signout" });
    signout.append(element("button", "Sign out", { type: "submit" }));
    document.querySelector("header").replaceChildren(element("strong", "Vault MCP Bridge"), nav, who, signout);
  }

  async function start() {
    header([]); // the page's frame at once; its links once the session names them
    const session = await call("GET", "/api/session");
    header(session.pages);
    csrf = session.csrf;
    document.getElementById("operator").textContent = session.subject;
    document.getElementById("signout").addEventListener("submit", async (event) => {
      event.preventDefault();
      await call("POST", "/api/signout");
      window.location.assign("/login");
    });
    return session;
  }

  function element(tag, text, attributes = {}) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  }

  function time(seconds) {
    return seconds ? new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "";
  }

  // Runs `work` now and every 5 s; a failure shows in the page's #message until one succeeds.
  // Returns the run, for a page to refresh at once after a change.
  async function every5s(work) {
    const message = document.getElementById("message");
    async function run() {
      try {
        await work();
        message.hidden = true;
      } catch (error) {
        message.textContent = error.message;
        message.hidden = false;
      }
    }
    await run();
    setInterval(run, 5000);
    return run;
  }

  return { call, start, element, time, every5s };
})();
