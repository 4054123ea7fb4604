// The Health page: /api/health every 5 seconds, shown as name/value rows.
"use strict";

(async () => {
  const { call, element } = Console;
  await Console.start();

  function rows(id, pairs) {
    document.querySelector(`#${id} tbody`).replaceChildren(...pairs.map(([name, value, state]) => {
      const tr = element("tr", null, { "data-name": name });
      tr.append(element("th", name), element("td", value, state ? { class: state } : {}));
      return tr;
    }));
  }

  function duration(seconds) {
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    return `${Math.round(seconds / 3600)} h`;
  }

  function edgeRows(edge, rateLimit) {
    const limits = rateLimit === null ? [["rate limit", "off in the edge's configuration"]]
      : [["rate-limit slots (agents limited at once)", rateLimit.slots],
         ["default rate limit", `${rateLimit.default.requests}/${rateLimit.default.per_seconds} s`]];
    if (edge === null) return [["Envoy admin", "not configured (CONSOLE_ENVOY_ADMIN_URL)"], ...limits];
    if (!edge.reachable) return [["Envoy admin", `unreachable: ${edge.error}`, "off"], ...limits];
    const c = edge.counters;
    const out = [
      ...limits,
      ["requests allowed", c["allowed"] ?? 0],
      ["agents Envoy holds", c["registry.agents"] ?? "none yet"],
      ["registry fetches ok / failed", `${c["registry_fetch.ok"] ?? 0} / ${c["registry_fetch.failed"] ?? 0}`,
        c["registry_fetch.failed"] ? "off" : "on"],
      ["JWKS fetches ok / failed", `${c["jwks_fetch.ok"] ?? 0} / ${c["jwks_fetch.failed"] ?? 0}`,
        c["jwks_fetch.failed"] ? "off" : "on"],
      ["rate-limit capacity refusals", c["denied.rate_limit_capacity"] ?? 0,
        c["denied.rate_limit_capacity"] ? "off" : "on"],
    ];
    for (const [name, value] of Object.entries(c)) {
      if (name.startsWith("denied.") && value > 0) out.push([`refused: ${name.slice(7)}`, value]);
    }
    return out;
  }

  async function refresh() {
    const health = await call("GET", "/api/health");
    const vault = health.vault;
    rows("vault", vault.ready
      ? [["reachable, unsealed, token valid", "yes", "on"], ["service token expires in", vault.token_ttl_seconds === 0 ? "never" : duration(vault.token_ttl_seconds)]]
      : [["reachable, unsealed, token valid", `no: ${vault.error}`, "off"]]);
    const registry = health.registry;
    rows("registry", registry.agents === null
      ? [["snapshot", "none yet", "off"]]
      : [["agents", registry.agents], ["snapshot age", duration(registry.snapshot_age_seconds)],
         ["refreshed every", `${registry.refresh_seconds} s`]]);
    rows("edge", edgeRows(health.edge, health.rate_limit));
    document.getElementById("checked").textContent = new Date().toISOString().slice(11, 19) + " UTC";
  }

  await Console.every5s(refresh);
})();
