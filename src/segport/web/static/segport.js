// segport's pages work without this script; it adds local times, live progress, the segment builder,
// the list-ID check, upload progress and confirmations. No external code: everything here is segport's.
"use strict";

(function () {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const number = (value) => (value === null || value === undefined ? "—" : Number(value).toLocaleString());

  function element(tag, attributes = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") node.textContent = value;
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // Times arrive in UTC; show them in the viewer's own time zone (the UTC text stays as the tooltip).
  function localTimes(root = document) {
    const format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
    for (const node of $$("time[datetime]", root)) {
      const moment = new Date(node.getAttribute("datetime"));
      if (!Number.isNaN(moment.getTime())) {
        node.title = node.textContent;
        node.textContent = format.format(moment);
      }
    }
  }

  function defaultTimeZones() {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    for (const input of $$("input[data-default-timezone]")) if (!input.value) input.value = zone;
  }

  function confirmations() {
    for (const form of $$("form[data-confirm]")) {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
    for (const link of $$("a[data-back]")) {
      link.addEventListener("click", (event) => {
        if (window.history.length > 1) { event.preventDefault(); window.history.back(); }
      });
    }
  }

  // --- the export form ------------------------------------------------------------------------------------
  function exportForm() {
    const form = $("#export-form");
    if (!form) return;
    const addAttribute = $("[data-add-attribute]", form);
    const hidden = () => $$("[data-attribute][hidden]", form);
    const refreshAdd = () => { addAttribute.hidden = hidden().length === 0; };
    addAttribute.addEventListener("click", () => {
      const next = hidden()[0];
      if (next) { next.hidden = false; $("select", next).focus(); }
      refreshAdd();
    });
    refreshAdd();

    const list = $("[data-segment-limit]", form);
    const warning = $("#over-limit");
    const checkLimit = () => {
      const limit = Number(list.dataset.segmentLimit);
      const total = $$("input[name=segments]:checked", form).reduce((sum, box) => sum + Number(box.dataset.members || 0), 0);
      warning.hidden = total <= limit;
    };
    list.addEventListener("change", checkLimit);
    checkLimit();

    const result = $("#list-check");
    listPicker(form, result);
    $("[data-check-list]", form).addEventListener("click", async () => {
      const params = new URLSearchParams({ connection: $("#connection").value, list_id: $("#list_id").value.trim() });
      result.className = "check";
      result.textContent = "Checking in Constant Contact…";
      try {
        const answer = await (await fetch(`/exports/check-list?${params}`, { headers: { Accept: "application/json" } })).json();
        if (answer.name !== undefined) {
          result.className = "check ok";
          result.textContent = `Found the list “${answer.name}”.`;
        } else {
          result.className = "check bad";
          result.textContent = `${answer.error} ${answer.hint || ""}`;
        }
      } catch (error) {
        result.className = "check bad";
        result.textContent = "segport did not answer; try again.";
      }
    });
  }

  // The list picker: choosing a list fills the ID field; the search narrows the choices; another connection
  // brings its own lists. Without this script the picked list is sent as it is (list_pick).
  function listPicker(form, result) {
    for (const node of $$("[data-with-script]", form)) node.hidden = false;
    for (const node of $$("[data-without-script]", form)) node.hidden = true;
    const holder = $("[data-list-picker]", form);
    const pick = $("#list_pick", form);
    const typed = $("#list_id", form);
    const search = $("#list_search", form);
    const say = (text, state = "") => { result.className = `check ${state}`.trim(); result.textContent = text; };
    const chosen = () => {
      const option = pick.selectedOptions[0];
      if (option && option.value) { typed.value = option.value; say(`Chosen: ${option.textContent}.`, "ok"); }
    };
    pick.addEventListener("change", chosen);
    typed.addEventListener("input", () => {
      const value = typed.value.trim().toLowerCase();
      const match = Array.from(pick.options).find((option) => option.value && option.value.toLowerCase() === value);
      pick.value = match ? match.value : "";
      say(match ? `Chosen: ${match.textContent}.` : "");
    });
    search.addEventListener("input", () => {
      const wanted = search.value.trim().toLowerCase();
      let shown = 0;
      for (const option of Array.from(pick.options).slice(1)) {
        option.hidden = wanted !== "" && !option.textContent.toLowerCase().includes(wanted);
        if (!option.hidden) shown += 1;
      }
      say(wanted ? `${shown} list(s) match “${search.value.trim()}”.` : "");
    });
    $("#connection", form).addEventListener("change", async (event) => {
      const connection = event.target.value;
      pick.replaceChildren(element("option", { value: "", text: "Choose a list…" }));
      holder.hidden = true;
      if (!connection) return;
      say("Reading the lists of this connection in Constant Contact…");
      try {
        const params = new URLSearchParams({ connection });
        const answer = await (await fetch(`/exports/lists?${params}`, { headers: { Accept: "application/json" } })).json();
        if (!answer.lists) { say(`${answer.error} ${answer.hint || ""} Type the list ID instead.`, "bad"); return; }
        for (const item of answer.lists) {
          const members = item.members === null ? "—" : number(item.members);
          pick.append(element("option", { value: item.list_id, text: `${item.name} (${members} members)` }));
        }
        holder.hidden = answer.lists.length === 0;
        say(answer.lists.length ? `${answer.lists.length} list(s) in this account.` : "This account has no list yet: create one below.");
      } catch (error) {
        say("segport did not answer; type the list ID instead.", "bad");
      }
    });
  }

  // --- runs: live progress --------------------------------------------------------------------------------
  function runProgress() {
    const section = $("#progress[data-run]");
    if (!section || !["Queued", "Processing"].includes(section.dataset.status)) return;
    const field = (name) => $(`[data-field=${name}]`, section);
    const tick = async () => {
      let progress;
      try {
        progress = await (await fetch(`/runs/${section.dataset.run}/progress`, { headers: { Accept: "application/json" } })).json();
      } catch (error) {
        window.setTimeout(tick, 3000);
        return;
      }
      if (progress.finished) { window.location.reload(); return; }
      const status = field("status");
      status.textContent = progress.status;
      status.className = `status ${progress.status.toLowerCase()}`;
      if (progress.latest_event) field("latest").textContent = progress.latest_event;
      const waiting = field("waiting");
      waiting.hidden = !progress.waiting_text;
      waiting.textContent = progress.waiting_text || "";
      const members = progress.counts.members || 0;
      const bar = field("bar");
      if (progress.status === "Processing" && members > 0) {
        bar.max = members;
        bar.value = Math.min(members, progress.contacts_in_batches);
      }
      field("detail").textContent = progress.status === "Queued"
        ? (progress.waiting_text ? "Queued again; a worker takes it when the wait is over." : "Waiting for a worker…")
        : `Phase: ${progress.phase}. ${number(progress.contacts_in_batches)} contacts in ${progress.batches_sent} batch(es) sent, ` +
          `${progress.batches_finished} finished in Constant Contact.`;
      for (const [name, value] of Object.entries(progress.counts)) {
        const cell = $(`[data-count=${name}]`);
        if (cell) cell.textContent = number(value);
      }
      window.setTimeout(tick, 1000);
    };
    tick();
  }

  function refreshWhileActive() {
    const holder = $("[data-refresh-while-active]");
    if (holder && holder.dataset.refreshWhileActive) window.setTimeout(() => window.location.reload(), 3000);
  }

  // --- profiles: upload with progress ---------------------------------------------------------------------
  function uploadProgress() {
    const form = $("form[data-upload]");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const bar = $("#upload-progress");
      const status = $("#upload-status");
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      bar.hidden = false;
      bar.value = 0;
      request.upload.addEventListener("progress", (progress) => {
        if (progress.lengthComputable) {
          bar.value = Math.round((100 * progress.loaded) / progress.total);
          status.textContent = `Uploading: ${bar.value}%`;
        }
      });
      request.upload.addEventListener("load", () => {
        bar.removeAttribute("value"); // indeterminate while segport imports
        status.textContent = "Uploaded; importing and checking the profiles…";
      });
      request.addEventListener("load", () => {
        // The answer is the page to show next (the profiles after the redirect, or the form with the error).
        const page = new DOMParser().parseFromString(request.responseText, "text/html");
        const main = page.querySelector("main");
        if (!main) { status.textContent = `segport answered ${request.status}; reload the page.`; return; }
        $("main").replaceWith(main);
        if (request.responseURL) window.history.replaceState(null, "", request.responseURL);
        window.scrollTo(0, 0);
        init();
      });
      request.addEventListener("error", () => { status.textContent = "The upload failed: segport did not answer. Try again."; });
      request.send(new FormData(form));
    });
  }

  // --- the segment builder --------------------------------------------------------------------------------
  const OPERATORS = {
    text: ["=", "!=", "contains", "starts with", "ends with", "in", "not in", "is empty", "is not empty"],
    integer: ["=", "!=", "<", "<=", ">", ">=", "between", "in", "not in", "is empty", "is not empty"],
    number: ["=", "!=", "<", "<=", ">", ">=", "between", "in", "not in", "is empty", "is not empty"],
    date: ["=", "!=", "<", "<=", ">", ">=", "between", "is empty", "is not empty"],
    datetime: ["=", "!=", "<", "<=", ">", ">=", "between", "is empty", "is not empty"],
    boolean: ["=", "!=", "is empty", "is not empty"],
  };
  const OPERATOR_LABELS = { "=": "is", "!=": "is not", "<": "less than", "<=": "at most", ">": "more than", ">=": "at least" };

  const quote = (text) => `"${String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

  function literal(type, value) {
    if (type === "integer" || type === "number") {
      const trimmed = String(value).trim();
      return /^-?\d+(\.\d+)?$/.test(trimmed) ? trimmed : quote(trimmed);
    }
    if (type === "boolean") return String(value) === "false" ? "false" : "true";
    return quote(value);
  }

  function segmentBuilder() {
    const holder = $("[data-builder]");
    const data = $("#builder-data");
    if (!holder || !data) return;
    const { fields, segments, rule } = JSON.parse(data.textContent);
    const textarea = $("#rule");
    const estimate = $("#estimate");
    const typeOf = (name) => (fields.find((field) => field.name === name) || { type: "text" }).type;
    const newCondition = () => ({ type: "condition", field: fields.length ? fields[0].name : "", operator: "=", value: "" });
    let state = rule || { type: "group", join: "and", conditions: [newCondition()] };
    let serial = 0;

    function conditionText(condition) {
      const type = typeOf(condition.field);
      const op = condition.operator;
      if (op === "is empty" || op === "is not empty") return `${condition.field} ${op}`;
      if (op === "in" || op === "not in") {
        const items = Array.isArray(condition.value) ? condition.value : String(condition.value).split(",");
        const values = items.map((item) => String(item).trim()).filter((item) => item !== "");
        return `${condition.field} ${op} (${values.map((item) => literal(type, item)).join(", ")})`;
      }
      if (op === "between") {
        const [low, high] = Array.isArray(condition.value) ? condition.value : ["", ""];
        return `${condition.field} between ${literal(type, low ?? "")} and ${literal(type, high ?? "")}`;
      }
      return `${condition.field} ${op} ${literal(type, condition.value ?? "")}`;
    }

    function groupText(group, nested) {
      const parts = group.conditions.map((child) => (child.type === "group" ? groupText(child, true) : conditionText(child)));
      const text = parts.join(` ${group.join} `);
      return nested && parts.length > 1 ? `(${text})` : text;
    }

    function ruleText() {
      if (state.type === "combination") return state.segments.map(quote).join(` ${state.operator} `);
      return groupText(state, false);
    }

    let timer = null;
    function changed() {
      textarea.value = ruleText();
      askEstimate();
    }
    function askEstimate() {
      window.clearTimeout(timer);
      timer = window.setTimeout(async () => {
        const text = textarea.value.trim();
        if (!text) { estimate.className = "estimate"; estimate.textContent = "Add a condition to see the size."; return; }
        estimate.className = "estimate";
        estimate.textContent = "Counting…";
        try {
          const answer = await (await fetch(`/segments/estimate?${new URLSearchParams({ rule: text })}`, { headers: { Accept: "application/json" } })).json();
          if (answer.members !== undefined) {
            estimate.textContent = `Estimated size: ${number(answer.members)} members now.`;
          } else {
            estimate.className = "estimate bad";
            estimate.textContent = `${answer.error}${answer.hint ? "\n" + answer.hint : ""}`;
          }
        } catch (error) {
          estimate.className = "estimate bad";
          estimate.textContent = "segport did not answer; the size is unknown.";
        }
      }, 350);
    }

    function labelled(text, control) {
      const id = `builder-${++serial}`;
      control.id = id;
      return [element("label", { for: id, class: "visually-hidden", text }), control];
    }

    function select(options, value, onChange) {
      const node = element("select");
      for (const [optionValue, optionLabel] of options) {
        node.append(element("option", { value: optionValue, text: optionLabel, selected: optionValue === value }));
      }
      node.addEventListener("change", () => onChange(node.value));
      return node;
    }

    function valueInput(type, value, label, onInput) {
      let node;
      if (type === "boolean") {
        return labelled(label, select([["true", "true"], ["false", "false"]], String(value) === "false" ? "false" : "true", onInput));
      }
      const inputType = { integer: "number", number: "number", date: "date", datetime: "datetime-local" }[type] || "text";
      node = element("input", { type: inputType, value: value ?? "", step: inputType === "number" ? "any" : null });
      node.addEventListener("input", () => onInput(node.value));
      return labelled(label, node);
    }

    // Every control has a key made of its place in the rule ("g.1.0:field"): a change rebuilds the builder,
    // and the control that had the focus (or the one the change points to) gets it back.
    function conditionRow(condition, parent, index, parentPath) {
      const path = `${parentPath}.${index}`;
      const row = element("div", { class: "builder-row", role: "group", "aria-label": "Condition" });
      const type = typeOf(condition.field);
      const fieldSelect = select(fields.map((field) => [field.name, `${field.name} (${field.type})`]), condition.field, (name) => {
        condition.field = name;
        if (!OPERATORS[typeOf(name)].includes(condition.operator)) condition.operator = "=";
        condition.value = "";
        render(); changed();
      });
      fieldSelect.dataset.role = "field";
      fieldSelect.dataset.key = `${path}:field`;
      row.append(...labelled("Field", fieldSelect));
      const operators = OPERATORS[type] || OPERATORS.text;
      const operatorSelect = select(operators.map((op) => [op, OPERATOR_LABELS[op] || op]), condition.operator, (op) => {
        const wasList = ["in", "not in", "between"].includes(condition.operator);
        condition.operator = op;
        if (op === "between") condition.value = ["", ""];
        else if (wasList || op.startsWith("is ")) condition.value = "";
        render(); changed();
      });
      operatorSelect.dataset.role = "operator";
      operatorSelect.dataset.key = `${path}:operator`;
      row.append(...labelled("Operator", operatorSelect));
      const op = condition.operator;
      if (op === "between") {
        const pair = Array.isArray(condition.value) ? condition.value : ["", ""];
        condition.value = pair;
        const [fromLabel, from] = valueInput(type, pair[0], "From", (v) => { pair[0] = v; changed(); });
        const [toLabel, to] = valueInput(type, pair[1], "To", (v) => { pair[1] = v; changed(); });
        from.dataset.key = `${path}:from`;
        to.dataset.key = `${path}:to`;
        row.append(fromLabel, from, element("span", { text: "and" }), toLabel, to);
      } else if (op === "in" || op === "not in") {
        const text = Array.isArray(condition.value) ? condition.value.join(", ") : condition.value ?? "";
        const [label, input] = valueInput("text", text, "Values, comma-separated", (v) => { condition.value = v; changed(); });
        input.placeholder = "one, two, three";
        input.dataset.key = `${path}:values`;
        row.append(label, input);
      } else if (!op.startsWith("is ")) {
        const [label, input] = valueInput(type, condition.value, "Value", (v) => { condition.value = v; changed(); });
        input.dataset.role = "value";
        input.dataset.key = `${path}:value`;
        row.append(label, input);
      }
      row.append(removeButton(parent, index, parentPath));
      return row;
    }

    // After a removal the focus goes to what took the removed item's place, else to the group's Add condition.
    function afterRemoval(parent, index, parentPath) {
      const next = parent.conditions[index];
      return next && next.type !== "group" ? `${parentPath}.${index}:field` : `${parentPath}:add`;
    }

    function removeButton(parent, index, parentPath) {
      const button = element("button", { type: "button", text: "Remove", "aria-label": "Remove this condition" });
      button.addEventListener("click", () => {
        parent.conditions.splice(index, 1);
        if (parent.conditions.length === 0) parent.conditions.push(newCondition());
        render(afterRemoval(parent, index, parentPath)); changed();
      });
      return button;
    }

    function groupBox(group, parent, index, parentPath) {
      const path = parent ? `${parentPath}.${index}` : "g";
      const box = element("div", { class: "builder-group", role: "group", "aria-label": parent ? "Group of conditions" : "Conditions" });
      const join = select([["and", "All of these (AND)"], ["or", "Any of these (OR)"]], group.join, (value) => { group.join = value; changed(); });
      join.dataset.role = "join";
      join.dataset.key = `${path}:join`;
      box.append(element("div", { class: "builder-join" }, labelled("Combine conditions with", join)));
      group.conditions.forEach((child, childIndex) => {
        box.append(child.type === "group" ? groupBox(child, group, childIndex, path) : conditionRow(child, group, childIndex, path));
      });
      const buttons = element("div", { class: "actions" });
      const addCondition = element("button", { type: "button", text: "Add condition", "data-key": `${path}:add` });
      addCondition.addEventListener("click", () => {
        group.conditions.push(newCondition());
        render(`${path}.${group.conditions.length - 1}:field`); changed();
      });
      const addGroup = element("button", { type: "button", text: "Add group", "data-key": `${path}:addgroup` });
      addGroup.addEventListener("click", () => {
        group.conditions.push({ type: "group", join: group.join === "and" ? "or" : "and", conditions: [newCondition()] });
        render(`${path}.${group.conditions.length - 1}.0:field`); changed();
      });
      buttons.append(addCondition, addGroup);
      if (parent) {
        const remove = element("button", { type: "button", text: "Remove group" });
        remove.addEventListener("click", () => {
          parent.conditions.splice(index, 1);
          if (parent.conditions.length === 0) parent.conditions.push(newCondition());
          render(afterRemoval(parent, index, parentPath)); changed();
        });
        buttons.append(remove);
      }
      box.append(buttons);
      return box;
    }

    function combinationBox() {
      const box = element("div", { class: "builder-group", role: "group", "aria-label": "Combine segments" });
      const operator = select(
        [["union", "In any of them (union)"], ["intersect", "In all of them (intersect)"], ["except", "In the first but not the others (except)"]],
        state.operator,
        (value) => { state.operator = value; changed(); },
      );
      operator.dataset.role = "combine";
      operator.dataset.key = "combine";
      box.append(...labelled("Combine", operator));
      for (const name of segments) {
        const box_ = element("input", { type: "checkbox", value: name, checked: state.segments.includes(name) });
        box_.addEventListener("change", () => {
          state.segments = box_.checked ? [...state.segments, name] : state.segments.filter((item) => item !== name);
          changed();
        });
        box.append(element("label", { class: "choice" }, [box_, ` ${name}`]));
      }
      if (!segments.length) box.append(element("p", { class: "muted", text: "There are no segments to combine yet." }));
      return box;
    }

    function render(focusKey) {
      const wanted = focusKey || (holder.contains(document.activeElement) ? document.activeElement.dataset.key : null);
      holder.replaceChildren();
      const mode = element("div", { class: "builder-mode", role: "radiogroup", "aria-label": "Build from" });
      for (const [value, text] of [["group", "Conditions on profile fields"], ["combination", "Combine segments"]]) {
        const radio = element("input", {
          type: "radio", name: "builder-mode", value, checked: state.type === value, "data-key": `mode:${value}`,
        });
        radio.addEventListener("change", () => {
          state = value === "group" ? { type: "group", join: "and", conditions: [newCondition()] } : { type: "combination", operator: "union", segments: [] };
          render(); changed();
        });
        mode.append(element("label", { class: "choice" }, [radio, ` ${text}`]));
      }
      holder.append(mode, state.type === "group" ? groupBox(state, null, 0, "") : combinationBox());
      const target = wanted ? holder.querySelector(`[data-key="${CSS.escape(wanted)}"]`) : null;
      if (target) target.focus();
    }

    holder.hidden = false;
    render();
    if (!textarea.value.trim()) textarea.value = ruleText();
    textarea.addEventListener("input", askEstimate);
    askEstimate();
  }

  // Fields that matter only for some choices (a cron expression only for "Cron expression", a schedule only
  // for "On its own schedule") are shown with those choices: data-shown-when="name=value|value,name=value".
  // Without this script every field shows, and the server ignores those that do not apply.
  function conditionalFields() {
    const dependents = $$("[data-shown-when]");
    if (!dependents.length) return;
    const holds = (form, rule) => rule.split(",").every((part) => {
      const [name, values] = part.split("=");
      const field = form && form.elements[name];
      return !field || values.split("|").includes(field.value);
    });
    const update = () => {
      for (const node of dependents) node.hidden = !holds(node.closest("form"), node.dataset.shownWhen);
    };
    document.addEventListener("change", update);
    update();
  }

  // A form sent back with an error: the field it is about is marked invalid and described by the message, and
  // the focus goes there (or to the message), so a keyboard or screen reader user lands on what to fix.
  function formError() {
    const notice = $("#form-error");
    if (!notice) return;
    const name = notice.dataset.errorField;
    const fields = name ? $$(`main form [name="${CSS.escape(name)}"]`) : [];
    for (const field of fields) {
      field.setAttribute("aria-invalid", "true");
      const described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (!described.includes("form-error")) field.setAttribute("aria-describedby", [...described, "form-error"].join(" "));
    }
    const visible = fields.find((field) => field.offsetParent !== null);
    (visible || notice).focus();
  }

  function init() {
    localTimes();
    defaultTimeZones();
    confirmations();
    exportForm();
    uploadProgress();
    conditionalFields();
    formError();
  }

  document.addEventListener("DOMContentLoaded", () => {
    init();
    runProgress();
    refreshWhileActive();
    segmentBuilder();
  });
})();
