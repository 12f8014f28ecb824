/* The routing-config editor. One state object in the API's JSON shape; the form, the rule
   builder and the JSON view are views of it. The server validates with the same rule language
   as the API (errors named by path, e.g. rules[0].route.model) on save and on every preview. */
(function () {
  "use strict";
  var root = document.getElementById("tg-config-editor");
  var boot = JSON.parse(document.getElementById("tg-editor-data").textContent);
  var readonly = root.getAttribute("data-readonly") === "1";
  var models = boot.models;
  var state = boot.config;
  state.fallback_models = state.fallback_models || [];
  state.rules = state.rules || [];
  state.params = state.params || {};

  var CONDITIONS = {
    task: "text", tags_any: "list", tags_all: "list", priority: ["cost", "speed", "quality", "balanced"],
    complexity: ["low", "medium", "high"], budget_used_pct_gte: "number", input_tokens_gte: "int",
    input_tokens_lte: "int", has_tools: "bool", has_images: "bool", json_mode: "bool"
  };
  var ACTIONS = ["model", "split", "priority", "quality_tier"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "on") { Object.keys(attrs.on).forEach(function (ev) { node.addEventListener(ev, attrs.on[ev]); }); }
      else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }
  function button(label, onClick, extra) {
    var b = el("button", Object.assign({ type: "button", "class": "tg-btn tg-btn-light", text: label, on: { click: onClick } }, extra || {}));
    if (readonly) { b.disabled = true; }
    return b;
  }
  function modelSelect(value, onChange, path) {
    var select = el("select", { "data-path": path, on: { change: function () { onChange(select.value); } } });
    select.appendChild(el("option", { value: "", text: "choose a model" }));
    models.forEach(function (m) {
      var o = el("option", { value: m.id, text: m.id + " (" + m.cost_tier + ")" });
      if (m.id === value) { o.selected = true; }
      select.appendChild(o);
    });
    if (value && !models.some(function (m) { return m.id === value; })) {
      var unknown = el("option", { value: value, text: value + " (not in the catalog)" });
      unknown.selected = true;
      select.appendChild(unknown);
    }
    if (readonly) { select.disabled = true; }
    return select;
  }
  function move(list, i, delta) {
    var j = i + delta;
    if (j < 0 || j >= list.length) { return; }
    var item = list.splice(i, 1)[0];
    list.splice(j, 0, item);
  }

  /* --- the model picker ---------------------------------------------------------------- */
  function esc(value) {
    var span = document.createElement("span");
    span.textContent = value === null || value === undefined ? "" : String(value);
    return span.innerHTML;
  }
  function modelLine(m) {
    var caps = m.capabilities.map(function (c) { return '<span class="tg-badge">' + esc(c) + "</span>"; }).join("");
    return '<span class="tg-mono"><strong>' + esc(m.id) + "</strong></span> " +
      '<span class="tg-badge tg-tier-' + esc(m.cost_tier) + '">' + esc(m.cost_tier) + "</span> " +
      '<span class="tg-muted">$' + esc(m.input) + " in / $" + esc(m.output) + " out" + (m.cached ? " / $" + esc(m.cached) + " cached" : "") +
      " per 1M · " + m.context_window.toLocaleString() + " ctx · " + m.max_output.toLocaleString() + " max out · " +
      esc(m.speed) + " · " + esc(m.quality) + "</span> " + caps;
  }
  function renderPicker() {
    var q = document.getElementById("tg-picker-search").value.trim().toLowerCase();
    var box = document.getElementById("tg-picker");
    box.innerHTML = "";
    var shown = models.filter(function (m) {
      if (!q) { return true; }
      var hay = [m.id, m.name, m.provider, m.speed, m.quality, m.cost_tier].concat(m.capabilities).join(" ").toLowerCase();
      return q.split(/\s+/).every(function (word) { return hay.indexOf(word) >= 0; });
    });
    document.getElementById("tg-picker-count").textContent = shown.length + " of " + models.length + " models";
    shown.slice(0, 200).forEach(function (m) {
      var row = el("div", { "class": "tg-row", "data-model": m.id, style: "padding:.35rem .5rem;border-bottom:1px solid #eee" });
      var info = el("span", { style: "flex:1" });
      info.innerHTML = modelLine(m);
      row.appendChild(info);
      row.appendChild(button("Use as primary", function () { state.primary_model = m.id; changed(); }, { "data-action": "primary" }));
      row.appendChild(button("+ Fallback", function () {
        if (state.fallback_models.indexOf(m.id) < 0 && state.primary_model !== m.id) { state.fallback_models.push(m.id); changed(); }
      }, { "data-action": "fallback" }));
      box.appendChild(row);
    });
  }

  /* --- models and fallbacks ------------------------------------------------------------ */
  function renderModels() {
    document.getElementById("tg-primary").textContent = state.primary_model || "— pick one below —";
    var list = document.getElementById("tg-fallbacks");
    list.innerHTML = "";
    state.fallback_models.forEach(function (ref, i) {
      list.appendChild(el("li", { "data-fallback": ref }, [
        el("span", { "class": "tg-mono", text: ref + " " }),
        button("↑", function () { move(state.fallback_models, i, -1); changed(); }, { title: "Move up" }),
        button("↓", function () { move(state.fallback_models, i, 1); changed(); }, { title: "Move down" }),
        button("remove", function () { state.fallback_models.splice(i, 1); changed(); })
      ]));
    });
  }

  /* --- the rule builder ---------------------------------------------------------------- */
  function conditionInput(rule, key) {
    var kind = CONDITIONS[key];
    var value = rule.when[key];
    var path = "rules." + key;
    var input;
    if (Array.isArray(kind)) {
      input = el("select", { "data-cond-value": key });
      kind.forEach(function (v) { var o = el("option", { value: v, text: v }); if (v === value) { o.selected = true; } input.appendChild(o); });
    } else if (kind === "bool") {
      input = el("select", { "data-cond-value": key });
      ["true", "false"].forEach(function (v) { var o = el("option", { value: v, text: v }); if (String(value) === v) { o.selected = true; } input.appendChild(o); });
    } else {
      input = el("input", { "data-cond-value": key, type: kind === "number" || kind === "int" ? "number" : "text",
        placeholder: kind === "list" ? "a,b" : "" });
      input.value = Array.isArray(value) ? value.join(",") : (value === undefined ? "" : value);
    }
    input.addEventListener("change", function () {
      var raw = input.value;
      if (kind === "bool") { rule.when[key] = raw === "true"; }
      else if (kind === "number") { rule.when[key] = raw === "" ? raw : Number(raw); }
      else if (kind === "int") { rule.when[key] = raw === "" ? raw : parseInt(raw, 10); }
      else if (kind === "list") { rule.when[key] = raw.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
      else if (kind === "text") {
        var parts = raw.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
        rule.when[key] = parts.length > 1 ? parts : (parts[0] || "");
      } else { rule.when[key] = raw; }
      changed(true);
    });
    if (readonly) { input.disabled = true; }
    return input;
  }
  function defaultCondition(key) {
    var kind = CONDITIONS[key];
    if (Array.isArray(kind)) { return kind[0]; }
    return { bool: true, number: 80, int: 1000, list: [], text: "" }[kind];
  }
  function actionOf(route) {
    return ACTIONS.filter(function (a) { return a in route; })[0] || "model";
  }
  function renderAction(rule, i) {
    var route = rule.route;
    var action = actionOf(route);
    var box = el("div", { "class": "tg-row" });
    var kind = el("select", { "data-rule-action": i, on: { change: function () {
      var fallbacks = route.fallback_models;
      Object.keys(route).forEach(function (k) { delete route[k]; });
      var v = kind.value;
      if (v === "model") { route.model = ""; }
      if (v === "split") { route.split = [{ model: "", weight: 50 }, { model: "", weight: 50 }]; }
      if (v === "priority") { route.priority = "cost"; }
      if (v === "quality_tier") { route.quality_tier = "good"; }
      if (fallbacks) { route.fallback_models = fallbacks; }
      changed();
    } } });
    ACTIONS.forEach(function (a) { var o = el("option", { value: a, text: a === "model" ? "use model" : a === "split" ? "split traffic" : a === "priority" ? "pick by priority" : "pick by quality tier" }); if (a === action) { o.selected = true; } kind.appendChild(o); });
    if (readonly) { kind.disabled = true; }
    box.appendChild(el("strong", { text: "then" }));
    box.appendChild(kind);
    if (action === "model") {
      box.appendChild(modelSelect(route.model, function (v) { route.model = v; changed(true); }, "rules[" + i + "].route.model"));
    } else if (action === "priority" || action === "quality_tier") {
      var options = action === "priority" ? CONDITIONS.priority : ["basic", "good", "best"];
      var pick = el("select", { on: { change: function () { route[action] = pick.value; changed(true); } } });
      options.forEach(function (v) { var o = el("option", { value: v, text: v }); if (v === route[action]) { o.selected = true; } pick.appendChild(o); });
      if (readonly) { pick.disabled = true; }
      box.appendChild(pick);
    } else {
      route.split.forEach(function (arm, j) {
        var weight = el("input", { type: "number", min: "1", style: "width:5rem", on: { change: function () { arm.weight = Number(weight.value); changed(true); } } });
        weight.value = arm.weight;
        if (readonly) { weight.disabled = true; }
        box.appendChild(modelSelect(arm.model, function (v) { arm.model = v; changed(true); }, "rules[" + i + "].route.split[" + j + "].model"));
        box.appendChild(weight);
        box.appendChild(button("×", function () { route.split.splice(j, 1); changed(); }));
      });
      box.appendChild(button("+ arm", function () { route.split.push({ model: "", weight: 10 }); changed(); }));
      var sticky = el("select", { on: { change: function () { if (sticky.value) { route.sticky_by = sticky.value; } else { delete route.sticky_by; } changed(true); } } });
      [["", "not sticky"], ["user", "sticky by user"], ["tag", "sticky by tag"]].forEach(function (p) { var o = el("option", { value: p[0], text: p[1] }); if ((route.sticky_by || "") === p[0]) { o.selected = true; } sticky.appendChild(o); });
      if (readonly) { sticky.disabled = true; }
      box.appendChild(sticky);
    }
    var fb = el("input", { placeholder: "fallbacks: a,b (optional)", style: "min-width:14rem", on: { change: function () {
      var refs = fb.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      if (refs.length) { route.fallback_models = refs; } else { delete route.fallback_models; }
      changed(true);
    } } });
    fb.value = (route.fallback_models || []).join(",");
    if (readonly) { fb.disabled = true; }
    box.appendChild(fb);
    return box;
  }
  function renderRules() {
    var box = document.getElementById("tg-rules");
    box.innerHTML = "";
    state.rules.forEach(function (rule, i) {
      rule.when = rule.when || {};
      rule.route = rule.route || { model: "" };
      var card = el("div", { "class": "tg-card", "data-rule": i, style: "margin-bottom:.75rem" });
      var name = el("input", { placeholder: "label (optional)", on: { change: function () {
        if (name.value) { rule.name = name.value; } else { delete rule.name; } changed(true);
      } } });
      name.value = rule.name || "";
      if (readonly) { name.disabled = true; }
      card.appendChild(el("div", { "class": "tg-row" }, [el("strong", { text: "Rule " + (i + 1) }), name,
        button("↑", function () { move(state.rules, i, -1); changed(); }), button("↓", function () { move(state.rules, i, 1); changed(); }),
        button("remove", function () { state.rules.splice(i, 1); changed(); })]));
      var keys = Object.keys(rule.when);
      if (!keys.length) { card.appendChild(el("div", { "class": "tg-muted", text: "when: always (add a condition)" })); }
      keys.forEach(function (key) {
        card.appendChild(el("div", { "class": "tg-row", "data-condition": key }, [el("span", { text: "when " }), el("span", { "class": "tg-mono", text: key }),
          conditionInput(rule, key), button("×", function () { delete rule.when[key]; changed(); })]));
      });
      var add = el("select", { "data-add-condition": i, on: { change: function () {
        if (add.value) { rule.when[add.value] = defaultCondition(add.value); changed(); }
      } } });
      add.appendChild(el("option", { value: "", text: "+ condition…" }));
      Object.keys(CONDITIONS).filter(function (k) { return !(k in rule.when); }).forEach(function (k) { add.appendChild(el("option", { value: k, text: k })); });
      if (readonly) { add.disabled = true; }
      card.appendChild(add);
      card.appendChild(renderAction(rule, i));
      box.appendChild(card);
    });
  }

  /* --- form fields, JSON view, errors -------------------------------------------------- */
  function renderFields() {
    document.getElementById("tg-name").value = state.name || "";
    document.getElementById("tg-default").checked = !!state.is_default;
    document.getElementById("tg-byok").checked = !!state.use_byok;
    document.getElementById("tg-cache").value = state.cache_ttl_seconds || 0;
    document.getElementById("tg-params").value = JSON.stringify(state.params);
  }
  function syncJson() {
    var text = JSON.stringify(state, null, 2);
    document.getElementById("tg-json").value = text;
    document.getElementById("tg-config-json").value = JSON.stringify(state);
  }
  function showErrors(fields, box) {
    box = box || document.getElementById("tg-errors");
    var paths = Object.keys(fields || {});
    box.style.display = paths.length ? "" : "none";
    box.innerHTML = "";
    paths.forEach(function (path) {
      box.appendChild(el("p", { "class": "tg-error", "data-error-path": path, text: path + ": " + fields[path].join(" ") }));
    });
  }
  function changed(keepDom) {
    if (!keepDom) { renderModels(); renderRules(); }
    syncJson();
    schedulePreview();
  }
  ["tg-name", "tg-default", "tg-byok", "tg-cache", "tg-params"].forEach(function (id) {
    var input = document.getElementById(id);
    if (readonly) { input.disabled = true; }
    input.addEventListener("change", function () {
      var field = input.getAttribute("data-field");
      if (input.type === "checkbox") { state[field] = input.checked; }
      else if (field === "cache_ttl_seconds") { state[field] = parseInt(input.value || "0", 10); }
      else if (field === "params") {
        try { state.params = JSON.parse(input.value || "{}"); showErrors({}); }
        catch (e) { showErrors({ params: ["Not valid JSON: " + e.message] }); return; }
      } else { state[field] = input.value; }
      changed(true);
    });
  });
  document.getElementById("tg-picker-search").addEventListener("input", renderPicker);
  document.getElementById("tg-add-rule").addEventListener("click", function () {
    state.rules.push({ when: {}, route: { model: "" } });
    changed();
  });
  if (readonly) { document.getElementById("tg-add-rule").disabled = true; }
  document.getElementById("tg-apply-json").addEventListener("click", function () {
    var errorBox = document.getElementById("tg-json-error");
    try {
      var parsed = JSON.parse(document.getElementById("tg-json").value);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) { throw new Error("must be an object"); }
      state = parsed;
      state.fallback_models = state.fallback_models || [];
      state.rules = state.rules || [];
      state.params = state.params || {};
      errorBox.textContent = "";
      renderFields();
      changed();
    } catch (e) { errorBox.textContent = "Not applied: " + e.message; }
  });
  document.getElementById("tg-config-form").addEventListener("submit", syncJson);

  /* --- live preview -------------------------------------------------------------------- */
  var timer = null;
  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(runPreview, 400);
  }
  function csrf() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function runPreview() {
    var out = document.getElementById("tg-pv-result");
    if (!state.primary_model || !state.name) {
      out.innerHTML = '<p class="tg-muted">Name the config and pick a primary model to preview it.</p>';
      return;
    }
    out.setAttribute("data-state", "loading");
    fetch(root.getAttribute("data-preview-url"), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({
        config: state, task: document.getElementById("tg-pv-task").value,
        tags: document.getElementById("tg-pv-tags").value, priority: document.getElementById("tg-pv-priority").value,
        prompt: document.getElementById("tg-pv-prompt").value
      })
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        out.innerHTML = "";
        if (!res.ok) {
          out.setAttribute("data-state", "error");
          showErrors(res.body.error.fields || { preview: [res.body.error.message] }, out);
          out.style.display = "";
          return;
        }
        var p = res.body;
        out.setAttribute("data-state", "ok");
        out.appendChild(el("div", {}, [el("span", { "class": "tg-label", text: "Model " }), el("strong", { "class": "tg-mono", id: "tg-pv-model", text: p.model })]));
        out.appendChild(el("div", { "class": "tg-muted", id: "tg-pv-reason", text: p.reason }));
        out.appendChild(el("div", {}, [el("span", { "class": "tg-label", text: "Estimated worst-case cost " }), el("strong", { id: "tg-pv-cost", text: "$" + p.estimated_cost_usd.replace(/(\.\d*?[1-9])0+$/, "$1").replace(/\.0+$/, "") })]));
        out.appendChild(el("div", { "class": "tg-muted", text: p.estimated_input_tokens + " input + " + p.estimated_output_tokens + " output tokens · complexity " + p.complexity }));
        out.appendChild(el("div", { "class": "tg-muted", text: "Candidates: " + p.candidates.join(" → ") }));
      })
      .catch(function (e) { out.setAttribute("data-state", "error"); out.textContent = "Preview failed: " + e; });
  }
  ["tg-pv-task", "tg-pv-tags", "tg-pv-priority", "tg-pv-prompt"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", schedulePreview);
  });
  document.getElementById("tg-pv-run").addEventListener("click", runPreview);

  renderFields();
  renderPicker();
  changed();
  showErrors(boot.errors);
})();
