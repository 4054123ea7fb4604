// The Traffic page: charts of the last hour (overall, or one agent's) of requests answered and
// refused at the edge, the agents by requests, and a selected agent's recent requests with
// their Vault audit entries.
"use strict";

(async () => {
  const { call, element } = Console;
  await Console.start();
  const SVG = "http://www.w3.org/2000/svg";
  let agent = new URLSearchParams(window.location.search).get("agent");
  let activity = [];
  let rerun = async () => {};

  function svg(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  }

  // Bars (requests, the error part on top in red) or lines (one per key), 60 minutes wide.
  function chart(id, series, draw) {
    const width = 900, height = 140, pad = 28;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", height, role: "img" });
    const max = Math.max(1, ...series.flatMap((p) => draw.values(p)));
    const x = (i) => pad + (i * (width - pad - 4)) / series.length;
    const y = (v) => height - 18 - (v / max) * (height - 30);
    root.append(svg("line", { x1: pad, y1: y(0), x2: width, y2: y(0), stroke: "#aab" }));
    const label = svg("text", { x: 2, y: 12, "font-size": 11, fill: "#556" });
    label.textContent = String(Math.round(max * 10) / 10);
    root.append(label);
    draw.paint(root, series, x, y, (width - pad) / series.length - 2);
    for (const [i, text] of [[0, "-60 min"], [series.length - 1, "now"]]) {
      const t = svg("text", { x: x(i), y: height - 3, "font-size": 11, fill: "#556" });
      t.textContent = text;
      root.append(t);
    }
    document.getElementById(id).replaceChildren(root);
  }

  const requestBars = {
    values: (p) => [p.requests],
    paint(root, series, x, y, w) {
      series.forEach((p, i) => {
        const errors = p.client_errors + p.server_errors;
        if (p.requests) root.append(svg("rect", { x: x(i), y: y(p.requests), width: w, height: y(0) - y(p.requests), fill: "#1f5fbf", "data-minute": p.minute }));
        if (errors) root.append(svg("rect", { x: x(i), y: y(p.requests), width: w, height: y(0) - y(errors), fill: "#b42318" }));
      });
    },
  };

  // Refusals stacked by status: 401, 403, 429, then any other.
  const STATUS_COLORS = [["401", "#7a4fbf"], ["403", "#c26a00"], ["429", "#b42318"], ["other", "#667"]];
  const byStatus = (p) => {
    const known = { 401: 0, 403: 0, 429: 0, other: 0 };
    for (const [status, n] of Object.entries(p.by_status)) known[status in known ? status : "other"] += n;
    return known;
  };
  const refusalBars = {
    values: (p) => [Object.values(p.by_status).reduce((a, b) => a + b, 0)],
    paint(root, series, x, y, w) {
      series.forEach((p, i) => {
        let base = 0;
        const counts = byStatus(p);
        for (const [status, color] of STATUS_COLORS) {
          const n = counts[status];
          if (!n) continue;
          root.append(svg("rect", { x: x(i), y: y(base + n), width: w, height: y(base) - y(base + n), fill: color,
                                    "data-minute": p.minute, "data-status": status, "data-count": n }));
          base += n;
        }
      });
    },
  };

  const latencyLines = {
    values: (p) => [p.p50_ms || 0, p.p99_ms || 0],
    paint(root, series, x, y) {
      for (const [key, color] of [["p99_ms", "#b42318"], ["p50_ms", "#1f5fbf"]]) {
        const points = series.map((p, i) => p[key] === null ? null : `${x(i)},${y(p[key])}`).filter(Boolean);
        if (points.length) root.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
        series.forEach((p, i) => {
          if (p[key] !== null) root.append(svg("circle", { cx: x(i), cy: y(p[key]), r: 3, fill: color }));
        });
      }
    },
  };

  function select(subject) {
    agent = subject;
    history.replaceState(null, "", subject ? `/traffic?agent=${encodeURIComponent(subject)}` : "/traffic");
    rerun();
  }
  document.getElementById("show-all").addEventListener("click", () => select(null));
  document.getElementById("status-filter").addEventListener("change", () => showActivity());
  document.getElementById("text-filter").addEventListener("input", () => showActivity());

  async function showAudit(cell, requestId) {
    try {
      const { entries } = await call("GET", `/api/audit/${encodeURIComponent(requestId)}`);
      const list = element("ul", null, { class: "audit" });
      for (const entry of entries) {
        list.append(element("li", `${entry.time} ${entry.type} ${entry.operation} ${entry.path}${entry.error ? " — " + entry.error : ""}`));
      }
      if (!entries.length) list.append(element("li", "no entry (a request that did not reach Vault)"));
      cell.replaceChildren(list);
    } catch (error) {
      cell.replaceChildren(element("span", error.message, { class: "error" }));
    }
  }

  function showActivity() {
    const status = document.getElementById("status-filter").value;
    const text = document.getElementById("text-filter").value.trim();
    const rows = activity
      .filter((r) => !status || String(r.status).startsWith(status))
      .filter((r) => !text || `${r.route} ${r.mcp || ""}`.includes(text))
      .map((r) => {
        const tr = element("tr", null, { "data-request-id": r.request_id });
        const audit = element("td");
        const link = element("button", "show", { type: "button", "data-action": "audit" });
        link.addEventListener("click", () => showAudit(audit, r.request_id));
        audit.append(link);
        tr.append(element("td", new Date(r.at).toISOString().slice(11, 23)), element("td", r.method),
                  element("td", r.mcp ? `${r.route} (${r.mcp})` : r.route), element("td", r.status),
                  element("td", r.duration_ms.toFixed(1)), element("td", r.request_id, { class: "mono" }), audit);
        return tr;
      });
    document.querySelector("#activity tbody").replaceChildren(...rows);
  }

  async function refresh() {
    const data = await call("GET", agent ? `/api/traffic?agent=${encodeURIComponent(agent)}` : "/api/traffic");
    document.getElementById("scope").textContent = agent || "all agents";
    document.getElementById("show-all").hidden = !agent;
    chart("requests-chart", data.series, requestBars);
    chart("latency-chart", data.series, latencyLines);
    const sum = (key) => data.series.reduce((total, p) => total + p[key], 0);
    document.getElementById("totals").textContent =
      `last hour: ${sum("requests")} requests, ${sum("client_errors")} client errors, ` +
      `${sum("server_errors")} server errors, of which ${sum("vault_errors")} from Vault`;
    document.querySelector("#agents tbody").replaceChildren(...data.agents.map((a) => {
      const tr = element("tr", null, { "data-subject": a.subject });
      const open = element("button", "drill down", { type: "button", "data-action": "select" });
      open.addEventListener("click", () => select(a.subject));
      const cell = element("td");
      cell.append(open);
      tr.append(element("td", a.subject), element("td", a.requests), cell);
      return tr;
    }));
    const edge = data.edge_refusals;
    chart("refusals-chart", edge.series, refusalBars);
    document.getElementById("refusals-note").textContent = edge.sampled
      ? "Sampled from Envoy's counters every 5 seconds since the console started; these requests never reached the backend."
      : "Not sampled: the console has no Envoy admin address (CONSOLE_ENVOY_ADMIN_URL).";
    document.querySelector("#refusals tbody").replaceChildren(...Object.entries(edge.by_code)
      .map(([code, value]) => {
        const tr = element("tr", null, { "data-code": code });
        tr.append(element("th", code), element("td", value));
        return tr;
      }));
    document.getElementById("activity-section").hidden = !agent;
    if (agent) {
      document.getElementById("activity-agent").textContent = agent;
      activity = (await call("GET", `/api/activity/${encodeURIComponent(agent)}`)).requests;
      showActivity();
    }
  }

  rerun = await Console.every5s(refresh);
})();
