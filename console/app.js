// The agents' console: the desk's HTTP API (openapi.yaml) on one screen. Plain ES modules, no
// build step. The token comes from the login link (`#token=…`) and is kept in session storage
// only; every second the page asks the API what changed.
import { T } from "./texts.js";

const POLL_MS = 1000;
const MAX_FILE_BYTES = 4 * 1024 * 1024;
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  me: null,
  waiting: [],
  mine: [],
  departments: [],
  templates: [],
  quickReplies: [],
  overview: null,
  open: null, // the customer whose conversation is shown
  page: null,
  offline: false,
  // How far the server's clock is ahead of this computer's (from its Date header): waits and
  // the window are counted on the server's clock, whatever the laptop's says.
  skew: 0,
};

function serverNow() {
  return Date.now() + state.skew;
}

function takeToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("atende.token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("atende.token");
}

class Problem extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(method, path, body, key) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (key) headers["idempotency-key"] = key;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Problem(0, T.offline);
  }
  const date = Date.parse(response.headers.get("date") || "");
  if (!Number.isNaN(date)) state.skew = date - Date.now();
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Problem(response.status, answer.detail || response.statusText);
  return answer;
}

/** A problem (an alert), or, with `ok`, what was done (a status); empty clears both. */
function notify(text, ok = false) {
  for (const [id, shown] of [["notice", !ok && text], ["status", ok && text]]) {
    $(id).textContent = shown || "";
    $(id).hidden = !shown;
  }
}

function departmentName(id) {
  return state.departments.find((d) => d.id === id)?.name || id;
}

function masked(key) {
  return key.length <= 6 ? "•".repeat(key.length) : key.slice(0, 4) + "•".repeat(key.length - 6) + key.slice(-2);
}

function minutesSince(iso) {
  return Math.max(0, Math.floor((serverNow() - Date.parse(iso)) / 60000));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function renderHeader() {
  const me = state.me;
  if (!me) return;
  $("me").textContent = me.name;
  $("presence").checked = me.presence === "available";
  $("presence-text").textContent = me.presence === "available" ? T.available : T.away;
  $("load").textContent = T.load(me.holding, me.capacity);
}

function customerButton(entry, detail, extraClass) {
  const name = entry.name || masked(entry.customer);
  return el(
    "li",
    { class: "customer" },
    el(
      "button",
      {
        type: "button",
        class: extraClass,
        "aria-current": state.open === entry.customer ? "true" : "false",
        onclick: () => openConversation(entry.customer),
      },
      name,
      entry.vip ? el("span", { class: "badge vip" }, T.vip) : null,
      el("span", { class: "detail" }, masked(entry.customer)),
      el("span", { class: "detail" }, detail),
    ),
  );
}

function renderLists() {
  const waiting = $("waiting");
  waiting.replaceChildren(
    ...(state.waiting.length
      ? state.waiting.map((w) => {
          const reason = w.handoff ? T.reasons[w.handoff.reason] || w.handoff.reason : "";
          const detail = `${departmentName(w.department)} · ${T.waitedMinutes(minutesSince(w.waiting_since))} · ${T.sla[w.sla]}${reason ? " · " + reason : ""}`;
          return customerButton(w, detail, `sla-${w.sla}`);
        })
      : [el("li", {}, T.nobodyWaiting)]),
  );
  const mine = $("mine");
  mine.replaceChildren(
    ...(state.mine.length
      ? state.mine.map((c) =>
          customerButton(
            c,
            c.awaiting_reply_since ? T.waitedMinutes(minutesSince(c.awaiting_reply_since)) : departmentName(c.department || ""),
            "",
          ),
        )
      : [el("li", {}, T.noConversations)]),
  );
}

function lineView(line) {
  const tick = line.status ? el("span", { class: "tick" }, T.status[line.status] || line.status) : null;
  switch (line.kind) {
    case "customer": {
      const link = line.link ? el("a", { href: line.link, target: "_blank", rel: "noopener" }, line.text) : line.text;
      return el("li", { class: "customer" }, el("span", { class: "who" }, state.page?.conversation?.name || T.customer), link);
    }
    case "sent":
      return el(
        "li",
        { class: line.agent ? "agent" : "bot" },
        el("span", { class: "who" }, line.agent ? line.agent.name : T.bot),
        line.text,
        tick,
      );
    case "not_sent":
      return el("li", { class: "agent" }, el("span", { class: "who" }, `${line.agent.name} · ${T.notSent}`), line.text);
    case "note":
      return el("li", { class: "note" }, el("span", { class: "who" }, `${T.note} · ${line.agent.name}`), line.text);
    case "event": {
      const e = T.events;
      const text = {
        queued: () => e.queued(departmentName(line.department)),
        claimed: () => (line.assigned_by ? e.assigned(line.agent.name, line.assigned_by.name) : e.claimed(line.agent.name)),
        transferred: () => e.transferred(line.by.name, line.to.department ? departmentName(line.to.department) : line.to.agent?.name),
        closed: () => e.closed(line.by?.name),
        rated: () => e.rated(line.score),
      }[line.event];
      return el("li", { class: "event" }, text ? text() : line.event);
    }
    default:
      return el("li", {}, line.text || "");
  }
}

function renderConversation() {
  const page = state.page;
  $("conversation-title").textContent = page?.conversation?.name || (state.open ? masked(state.open) : T.conversation);
  if (!page) {
    $("lines").replaceChildren(el("li", { class: "event" }, T.pickConversation));
    $("context").replaceChildren();
    $("composer").hidden = true;
    return;
  }
  const handoff = page.conversation?.handoff;
  $("context").replaceChildren(
    ...(handoff
      ? [
          el("strong", {}, T.context + ": "),
          T.reasons[handoff.reason] || handoff.reason,
          handoff.problem ? ` · ${T.problem}: ${handoff.problem}` : "",
          handoff.order ? ` · ${T.order}: ${handoff.order}` : "",
          handoff.document ? ` · ${T.document}: ${handoff.document}` : "",
          handoff.attachments?.length ? ` · ${T.attachments}: ${handoff.attachments.join(", ")}` : "",
        ]
      : []),
  );
  const log = $("lines");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.replaceChildren(...page.lines.map(lineView));
  if (atBottom) log.scrollTop = log.scrollHeight;
  const held = page.conversation?.agent?.id === state.me?.id || (state.me?.supervisor && page.conversation?.agent);
  $("composer").hidden = !held;
  // A supervisor gives a waiting customer to an agent, or erases one on their request.
  $("supervise").hidden = !state.me?.supervisor;
  $("assign").disabled = Boolean(page.conversation?.agent) || !page.conversation;
  // Free text while the 24-hour window is open; after it, only an approved template.
  const until = page.conversation?.window_open_until;
  const open = Boolean(until) && Date.parse(until) > serverNow();
  if (open) {
    const left = Math.max(0, Math.floor((Date.parse(until) - serverNow()) / 60000));
    $("window").textContent = T.windowOpen(Math.floor(left / 60), left % 60);
  } else {
    $("window").textContent = page.conversation ? T.windowClosed : "";
  }
  $("free").hidden = !open;
  $("templates").hidden = open;
}

function table(caption, headings, rows) {
  return [
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))),
  ];
}

/** The supervisors' board: each department's line and each agent, as they are now. */
function renderBoard() {
  const overview = state.overview;
  $("board").hidden = !overview;
  if (!overview) return;
  $("departments").replaceChildren(
    ...table(
      T.queues,
      [T.department, T.waitingCount, T.oldestWait, T.warnings, T.breaches],
      overview.departments.map((d) => [d.name, d.waiting, T.minutes(d.oldest_wait_minutes), d.sla_warnings, d.sla_breaches]),
    ),
  );
  $("agents").replaceChildren(
    ...table(
      T.agents,
      [T.agent, T.presence, T.holding],
      overview.agents.map((a) => [a.name, a.presence === "available" ? T.available : T.away, `${a.holding}/${a.capacity}`]),
    ),
  );
  const current = $("assign-to").value;
  $("assign-to").replaceChildren(
    ...overview.agents.filter((a) => !a.supervisor).map((a) => el("option", { value: a.id }, a.name)),
  );
  if (current) $("assign-to").value = current;
}

/** Typing "/" and the start of a shortcut offers the quick replies that match; picking one
 * puts its text in the composer. */
function renderQuickReplies() {
  const typed = $("text").value;
  const list = $("quick");
  if (!typed.startsWith("/")) {
    list.hidden = true;
    return;
  }
  const prefix = typed.slice(1).toLowerCase();
  const matches = state.quickReplies.filter((r) => r.shortcut.toLowerCase().startsWith(prefix));
  const pick = (reply) => {
    $("text").value = reply.text;
    list.hidden = true;
    $("text").focus();
  };
  list.replaceChildren(
    ...matches.map((reply) =>
      el(
        "li",
        {
          role: "option",
          tabindex: "0",
          "aria-selected": "false",
          onclick: () => pick(reply),
          onkeydown: (event) => event.key === "Enter" && (event.preventDefault(), pick(reply)),
        },
        `/${reply.shortcut} — ${reply.text}`,
      ),
    ),
  );
  list.hidden = matches.length === 0;
}

function renderTemplateParameters() {
  const template = state.templates.find((t) => t.name === $("template").value);
  $("parameters").replaceChildren(
    ...(template?.parameters || []).map((what, i) =>
      el("input", { type: "text", "aria-label": T.parameter(what), "data-parameter": i, placeholder: what }),
    ),
  );
}

async function refresh() {
  try {
    const [me, lines, mine] = await Promise.all([
      api("GET", "/agent/me"),
      api("GET", "/agent/lines"),
      api("GET", "/agent/conversations"),
    ]);
    state.me = me;
    state.waiting = lines.waiting;
    state.mine = mine.conversations;
    state.overview = me.supervisor ? await api("GET", "/supervisor/overview") : null;
    if (state.open) {
      state.page = await api("GET", `/agent/conversations/${encodeURIComponent(state.open)}?limit=200`).catch((e) => {
        if (e.status === 403 || e.status === 404) return null;
        throw e;
      });
    }
    if (state.offline) notify("");
    state.offline = false;
  } catch (e) {
    if (e.status === 401) {
      notify(T.loginExpired);
      return false;
    }
    state.offline = true;
    notify(e.message);
  }
  renderHeader();
  renderBoard();
  renderLists();
  renderConversation();
  return true;
}

async function openConversation(customer) {
  state.open = customer;
  state.page = null;
  await refresh();
}

async function act(run, done) {
  try {
    await run();
    notify(done || "", true);
    await refresh();
    return true;
  } catch (e) {
    notify(T.failed + e.message);
    return false;
  }
}

function setUp() {
  document.title = T.title;
  $("title").textContent = T.title;
  $("presence").setAttribute("aria-label", T.presence);
  $("waiting-title").textContent = T.waiting;
  $("mine-title").textContent = T.mine;
  $("claim").textContent = T.claimNext;
  $("text-label").textContent = T.message;
  $("as-note-text").textContent = T.asNote;
  $("send").textContent = T.send;
  $("close").textContent = T.close;
  $("transfer").textContent = T.transfer;
  $("transfer-label").textContent = T.transferTo;
  $("file-label").textContent = T.file;
  $("send-file").textContent = T.sendFile;
  $("template-label").textContent = T.template;
  $("send-template").textContent = T.sendTemplate;
  $("template").addEventListener("change", renderTemplateParameters);
  $("quick").setAttribute("aria-label", T.quickReplies);
  $("shortcuts").textContent = T.shortcuts;
  $("claim").setAttribute("aria-keyshortcuts", "Alt+N");
  $("close").setAttribute("aria-keyshortcuts", "Alt+E");
  // Keyboard shortcuts, as agents know them from their other tools.
  document.addEventListener("keydown", (event) => {
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key.toLowerCase();
    const mine = state.mine.map((c) => c.customer);
    const at = mine.indexOf(state.open);
    const actions = {
      n: () => $("claim").click(),
      e: () => !$("composer").hidden && $("close").click(),
      j: () => mine.length && openConversation(mine[(at + 1) % mine.length]),
      k: () => mine.length && openConversation(mine[(at - 1 + mine.length) % mine.length]),
    };
    if (actions[key]) {
      event.preventDefault();
      actions[key]();
    }
  });
  $("text").addEventListener("input", renderQuickReplies);
  $("board-title").textContent = T.board;
  $("assign-label").textContent = T.assignTo;
  $("assign").textContent = T.assign;
  $("erase").textContent = T.erase;
  $("assign").addEventListener("click", () =>
    act(() => api("POST", "/supervisor/assignments", { customer: state.open, agent: $("assign-to").value }), T.assigned),
  );
  $("erase").addEventListener("click", () => {
    if (!confirm(T.eraseConfirm)) return;
    const customer = state.open;
    return act(async () => {
      await api("DELETE", `/supervisor/customers/${encodeURIComponent(customer)}`);
      state.open = null;
      state.page = null;
    }, T.erased);
  });
  $("send-file").addEventListener("click", async () => {
    const file = $("file").files[0];
    if (!file) return notify(T.noFile);
    if (file.size > MAX_FILE_BYTES) return notify(T.fileTooLarge);
    const caption = $("text").value.trim();
    const query = new URLSearchParams({ name: file.name });
    if (caption) query.set("caption", caption);
    const path = `/agent/conversations/${encodeURIComponent(state.open)}/files?${query}`;
    const sent = await act(async () => {
      const response = await fetch(path, {
        method: "POST",
        headers: {
          authorization: `Bearer ${state.token}`,
          "content-type": file.type || "application/octet-stream",
          "idempotency-key": crypto.randomUUID(),
        },
        body: file,
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        throw new Problem(response.status, problem.detail || response.statusText);
      }
    }, T.fileSent);
    if (sent) {
      $("file").value = "";
      $("text").value = "";
    }
  });
  $("send-template").addEventListener("click", () => {
    const name = $("template").value;
    const parameters = [...$("parameters").querySelectorAll("input")].map((input) => input.value);
    return act(
      () =>
        api(
          "POST",
          `/agent/conversations/${encodeURIComponent(state.open)}/messages`,
          { template: name, parameters },
          crypto.randomUUID(),
        ),
      T.sent,
    );
  });

  $("presence").addEventListener("change", (event) =>
    act(() => api("PUT", "/agent/me/presence", { presence: event.target.checked ? "available" : "away" })),
  );
  $("claim").addEventListener("click", () =>
    act(async () => {
      const claimed = await api("POST", "/agent/claims");
      if (!claimed) throw new Problem(204, T.nobodyToClaim);
      state.open = claimed.customer;
    }),
  );
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) {
      notify(T.emptyMessage);
      return;
    }
    const note = $("as-note").checked;
    const path = `/agent/conversations/${encodeURIComponent(state.open)}/${note ? "notes" : "messages"}`;
    // One key per message typed: a retry of the same request is applied once.
    const key = crypto.randomUUID();
    const sent = await act(() => api("POST", path, { text }, key), T.sent);
    if (sent) $("text").value = "";
  });
  $("close").addEventListener("click", () =>
    act(() => api("POST", `/agent/conversations/${encodeURIComponent(state.open)}/close`, undefined, crypto.randomUUID()), T.closed),
  );
  $("transfer").addEventListener("click", () => {
    const department = $("transfer-to").value;
    return act(
      () => api("POST", `/agent/conversations/${encodeURIComponent(state.open)}/transfer`, { department }, crypto.randomUUID()),
      T.transferred,
    );
  });
}

async function main() {
  setUp();
  state.token = takeToken();
  if (!state.token) {
    notify(T.noLogin);
    return;
  }
  try {
    state.departments = (await api("GET", "/agent/departments")).departments;
    $("transfer-to").replaceChildren(...state.departments.map((d) => el("option", { value: d.id }, d.name)));
    state.templates = (await api("GET", "/agent/templates")).templates;
    state.quickReplies = (await api("GET", "/agent/quick-replies")).quick_replies;
    $("template").replaceChildren(...state.templates.map((t) => el("option", { value: t.name }, t.name)));
    renderTemplateParameters();
  } catch (e) {
    notify(e.status === 401 ? T.loginExpired : e.message);
  }
  const loop = async () => {
    if (await refresh()) setTimeout(loop, POLL_MS);
  };
  loop();
}

main();
