// The agents page: the registry as a table and every change the CLI offers, through
// /api/agents (the same handlers as the backend's /admin/agents).
"use strict";

(async () => {
  const { call, element, time } = Console;
  const session = await Console.start();
  const message = document.getElementById("message");

  const notice = document.getElementById("notice");

  function report(error) {
    message.textContent = error ? error.message : "";
    message.hidden = !error;
    if (error) tell("");
  }

  function tell(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  // What disabling cut off in Vault, as the backend answered it.
  function revoked(subject, done) {
    const tokens = done.entity_disabled ? "its Vault tokens stopped" : "it had no Vault token yet";
    const leases = done.leases_revoked.length
      ? `${done.leases_revoked.length} database lease(s) revoked: ${done.leases_revoked.join(", ")}`
      : "no lease to revoke";
    const certificates = done.certificates_revoked.length
      ? `; ${done.certificates_revoked.length} client certificate(s) revoked: ${done.certificates_revoked.join(", ")}`
      : "";
    tell(`${subject} disabled: ${tokens}; ${leases}${certificates}.`);
  }

  async function act(work) {
    try {
      report(null);
      await work();
      await load();
    } catch (error) {
      report(error);
    }
  }

  function parseRate(text) {
    if (!text.trim()) return null;
    const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
    if (!match) throw new Error("a rate limit is requests/seconds, e.g. 100/60");
    return { requests: Number(match[1]), per_seconds: Number(match[2]) };
  }

  // "kv.write 10/60, transit.sign 5/1" → { "kv.write": {requests: 10, per_seconds: 60}, … }
  function parseToolRates(text, what = "per-tool limits") {
    const rates = {};
    for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
      const match = /^([a-z_.]+)\s+(\d+\s*\/\s*\d+)$/.exec(part);
      if (!match) throw new Error(`${what} are tool requests/seconds, comma-separated, e.g. kv.write 10/60`);
      rates[match[1]] = parseRate(match[2]);
    }
    return rates;
  }

  const rateText = (limit) => `${limit.requests}/${limit.per_seconds}`;
  // "db.issue_creds 10/3600s: 7 left, resets in 20 min"
  function budgetText(tool, budget) {
    let text = `budget ${tool} ${rateText(budget)}s`;
    if (budget.left !== null && budget.left !== undefined) {
      text += `: ${budget.left} left`;
      if (budget.resets_in_seconds) text += `, resets in ${Math.ceil(budget.resets_in_seconds / 60)} min`;
    }
    return text;
  }
  const toolRatesText = (rates) => Object.entries(rates || {}).map(([tool, limit]) => `${tool} ${rateText(limit)}`).join(", ");

  function showKey(issued) {
    document.getElementById("new-key-subject").textContent = issued.subject;
    document.getElementById("new-key-value").textContent = issued.api_key;
    document.getElementById("new-key").hidden = false;
  }

  document.getElementById("copy-key").addEventListener("click", () => {
    navigator.clipboard.writeText(document.getElementById("new-key-value").textContent);
  });
  document.getElementById("dismiss-key").addEventListener("click", () => {
    document.getElementById("new-key-value").textContent = "";
    document.getElementById("new-key").hidden = true;
  });

  const scopeBox = document.getElementById("add-scopes");
  for (const scope of session.scopes) {
    const label = element("label", ` ${scope}`);
    const box = element("input", null, { type: "checkbox", name: "scope", value: scope });
    label.prepend(box);
    scopeBox.append(label);
  }

  document.getElementById("add-agent").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      const subject = document.getElementById("add-subject").value.trim();
      const scopes = [...scopeBox.querySelectorAll("input:checked")].map((box) => box.value);
      const body = { subject, scopes };
      const rate = parseRate(document.getElementById("add-rate").value);
      if (rate) body.rate = rate;
      body.tool_rates = parseToolRates(document.getElementById("add-tool-rates").value);
      body.budgets = parseToolRates(document.getElementById("add-budgets").value, "budgets");
      showKey(await call("POST", "/api/agents", body));
      event.target.reset();
    });
  });

  function button(label, onClick, name) {
    const node = element("button", label, { type: "button", "data-action": name });
    node.addEventListener("click", () => act(onClick));
    return node;
  }

  function row(agent) {
    const path = `/api/agents/${encodeURIComponent(agent.subject)}`;
    const tr = element("tr", null, { "data-subject": agent.subject });
    const name = element("td", agent.subject);
    // People sign in through the authorization server: no keys to show or rotate.
    if (agent.user) name.append(element("span", "user", { class: "kind", title: "signs in through the authorization server" }));
    tr.append(name);
    tr.append(element("td", agent.enabled ? "yes" : "no", { class: agent.enabled ? "on" : "off" }));
    tr.append(element("td", agent.scopes.join(" ")));
    const keys = element("td");
    for (const key of agent.keys) {
      const line = element("div", null, { class: "keyline", "data-key-id": key.id });
      line.append(element("code", key.id));
      line.append(button("Revoke", () => call("DELETE", `${path}/keys/${encodeURIComponent(key.id)}`), "revoke"));
      const used = (seen[agent.subject] || {}).keys_last_used_ms || {};
      const dates = [`made ${time(key.created)}`];
      if (key.expires) dates.push(`ends ${time(key.expires)}`);
      dates.push(used[key.id] ? `last used ${time(used[key.id] / 1000)}` : "not used yet");
      line.append(element("div", dates.join(", "), { class: "dates" }));
      keys.append(line);
    }
    tr.append(keys);
    const limits = [];
    if (agent.rate) limits.push(`${rateText(agent.rate)}s`);
    for (const [tool, limit] of Object.entries(agent.tool_rates || {})) {
      limits.push(`${tool} ${rateText(limit)}s`);
    }
    const counted = (budgets[agent.subject] || {});
    for (const [tool, limit] of Object.entries(agent.budgets || {})) {
      limits.push(budgetText(tool, counted[tool] || limit));
    }
    tr.append(element("td", limits.join(", "), { class: "limits" }));
    const last = (seen[agent.subject] || {}).last_seen_ms;
    tr.append(element("td", last ? time(last / 1000) : "", { class: "seen" }));
    const actions = element("td", null, { class: "actions" });
    const toggle = element("div");
    toggle.append(agent.enabled
      ? button("Disable", async () => revoked(agent.subject, (await call("PATCH", path, { enabled: false })).revoked), "disable")
      : button("Enable", () => call("PATCH", path, { enabled: true }), "enable"));
    if (!agent.user) {
      const grace = element("input", null, { type: "number", min: "0", value: "0", "aria-label": "grace seconds", class: "grace" });
      toggle.append(button("Rotate key", async () => {
        showKey(await call("POST", `${path}/keys`, { grace_seconds: Number(grace.value || 0) }));
      }, "rotate"), element("span", " old keys for "), grace, element("span", " s"));
    }
    const edit = element("div");
    const scopes = element("input", null, { value: agent.scopes.join(" "), "aria-label": "scopes", class: "scopes" });
    const rate = element("input", null, { value: agent.rate ? rateText(agent.rate) : "",
                                          "aria-label": "rate limit", class: "rate", placeholder: "requests/seconds" });
    const tools = element("input", null, { value: toolRatesText(agent.tool_rates), "aria-label": "per-tool limits",
                                           class: "tool-rates", placeholder: "tool requests/seconds, …" });
    const spend = element("input", null, { value: toolRatesText(agent.budgets), "aria-label": "budgets",
                                           class: "budgets", placeholder: "budgets: tool calls/seconds, …" });
    edit.append(scopes, rate, tools, spend, button("Save", () => call("PATCH", path, {
      scopes: scopes.value.split(/[\s,]+/).filter(Boolean), rate: parseRate(rate.value),
      tool_rates: parseToolRates(tools.value), budgets: parseToolRates(spend.value, "budgets"),
    }), "save"));
    actions.append(toggle, edit);
    tr.append(actions);
    return tr;
  }

  // When this backend last answered each agent and each key (the Traffic page's data).
  let seen = {};
  // Each agent's budgets with what is left of them (from the edge's rate-limit service).
  let budgets = {};

  async function load() {
    const { agents } = await call("GET", "/api/agents");
    const traffic = await call("GET", "/api/traffic");
    seen = Object.fromEntries(traffic.agents.map((a) => [a.subject, a]));
    const body = document.querySelector("#agents tbody");
    body.replaceChildren(...agents.map(row));
    // What is left of the budgets comes from the edge's rate-limit service: the table (and
    // its kill switch) never waits for it; the limits are filled in when it answers.
    if (agents.some((agent) => Object.keys(agent.budgets || {}).length)) {
      call("GET", "/api/budgets").then((counted) => {
        budgets = counted.agents;
        body.replaceChildren(...agents.map(row));
      }, () => {});
    }
  }

  await act(async () => {});
})();
