// The agents' console: the desk's HTTP API (openapi.yaml) on one screen. Plain ES modules, no
// build step. Logging in is `login.js`'s: the local server's links, or the stack's user pool.
// A live connection (a WebSocket opened with a one-time ticket) says when something
// changed, and the page reads it again; while it is down the page polls, and says so.
import { T } from "./texts.js";
import { LoginError, Session, loadConfig } from "./login.js";

// While the live connection is up, a slow poll is only a safety net.
const POLL_MS = 2000;
const LIVE_POLL_MS = 30000;
// API Gateway closes a connection idle for 10 minutes.
const PING_MS = 5 * 60 * 1000;
const RECONNECT_MAX_MS = 30000;
const MAX_FILE_BYTES = 4 * 1024 * 1024;
const $ = (id) => document.getElementById(id);

const state = {
  session: null,
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
  live: false,
  socket: null,
  reconnectMs: 500,
  lastRefresh: 0,
  refreshing: null,
  refreshAgain: false,
  started: false,
  liveStopped: false,
  presenceChanging: false,
  // How far the server's clock is ahead of this computer's (from its Date header): waits and
  // the window are counted on the server's clock, whatever the laptop's says.
  skew: 0,
};

function serverNow() {
  return Date.now() + state.skew;
}

class Problem extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(method, path, body, key, retried = false) {
  const headers = { authorization: `Bearer ${state.session.token}` };
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
  // An expired access token: new ones from the refresh token, and the same request again.
  if (response.status === 401 && !retried && (await state.session.refresh())) {
    return api(method, path, body, key, true);
  }
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
  $("load").textContent = T.load(me.holding, me.capacity);
  // A read that started before the agent's switch must not flip it back.
  if (state.presenceChanging) return;
  $("presence").checked = me.presence === "available";
  $("presence-text").textContent = me.presence === "available" ? T.available : T.away;
}

function customerButton(entry, detail, extraClass, unread = 0, words = "") {
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
      unread ? el("span", { class: "badge unread", title: T.unread(unread) }, T.unread(unread)) : null,
      el("span", { class: "detail" }, masked(entry.customer)),
      el("span", { class: "detail" }, detail),
      words ? el("span", { class: "detail words" }, `“${words}”`) : null,
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
          return customerButton(w, detail, `sla-${w.sla}`, 0, w.last_words);
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
            c.unanswered,
          ),
        )
      : [el("li", {}, T.noConversations)]),
  );
}

function lineView(line) {
  const tick = line.status ? el("span", { class: "tick" }, T.status[line.status] || line.status) : null;
  switch (line.kind) {
    case "customer": {
      const image = line.link && line.media?.kind === "image";
      const link = line.link
        ? el(
            "a",
            { href: line.link, target: "_blank", rel: "noopener" },
            image ? el("img", { src: line.link, alt: line.text, class: "inline" }) : line.text,
          )
        : line.text;
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
      return el(
        "li",
        { class: line.agent ? "agent" : "bot" },
        el("span", { class: "who" }, `${line.agent ? line.agent.name : T.bot} · ${T.notSent}`),
        line.text,
        line.reason ? el("span", { class: "tick" }, line.reason) : null,
      );
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
        whatsapp_notice: () => e.whatsappNotice(line.notice, line.new_number),
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
  // A customer opened from the line can be taken, whatever their place in it.
  $("claim-this").hidden = !(page.conversation?.state === "human" && !page.conversation?.agent);
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
      [T.agent, T.presence, T.holding, T.lastAnswer],
      overview.agents.map((a) => [
        a.name,
        a.presence === "available" ? T.available : T.away,
        `${a.holding}/${a.capacity}`,
        a.last_answer_at ? T.waitedMinutes(minutesSince(a.last_answer_at)) : "—",
      ]),
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
      showLogin(T.loginExpired);
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

/** Reads everything again now, or right after the read in flight. */
async function refreshSoon() {
  if (state.refreshing) {
    state.refreshAgain = true;
    return state.refreshing;
  }
  state.refreshing = (async () => {
    let ok = true;
    do {
      state.refreshAgain = false;
      state.lastRefresh = Date.now();
      ok = await refresh();
    } while (ok && state.refreshAgain);
    state.refreshing = null;
    return ok;
  })();
  return state.refreshing;
}

function renderLive() {
  $("live").textContent = state.live ? T.liveOn : T.liveOff(POLL_MS / 1000);
  $("live").className = state.live ? "live on" : "live off";
}

/** Opens the live connection with a fresh ticket; whenever it closes (API Gateway closes
 * every connection after two hours), opens another, waiting longer after each failure. */
async function connectLive() {
  let ticket;
  try {
    ticket = await api("POST", "/agent/live/tickets");
  } catch (e) {
    // No login: it opens again once the agent logged in again.
    state.liveStopped = e.status === 401;
    return state.liveStopped ? undefined : retryLive();
  }
  state.liveStopped = false;
  const socket = new WebSocket(ticket.url);
  let ping = null;
  state.socket = socket;
  socket.addEventListener("open", () => {
    state.live = true;
    state.reconnectMs = 500;
    renderLive();
    ping = setInterval(() => socket.send(JSON.stringify({ type: "ping" })), PING_MS);
    // Whatever changed while it was down.
    refreshSoon();
  });
  socket.addEventListener("message", (message) => {
    let frame = {};
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "change") refreshSoon();
  });
  socket.addEventListener("close", () => {
    clearInterval(ping);
    if (state.socket !== socket) return;
    state.socket = null;
    state.live = false;
    renderLive();
    retryLive();
  });
}

function retryLive() {
  const wait = state.reconnectMs;
  state.reconnectMs = Math.min(state.reconnectMs * 2, RECONNECT_MAX_MS);
  setTimeout(connectLive, wait);
}

async function openConversation(customer) {
  state.open = customer;
  state.page = null;
  await refreshSoon();
}

async function act(run, done) {
  try {
    await run();
    notify(done || "", true);
    await refreshSoon();
    return true;
  } catch (e) {
    // The login ran out (and could not be renewed): log in again; what was typed stays.
    if (e.status === 401) showLogin(T.loginExpired);
    else notify(T.failed + e.message);
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
  $("claim-this").textContent = T.claimThis;
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
          authorization: `Bearer ${state.session.token}`,
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

  $("presence").addEventListener("change", async (event) => {
    state.presenceChanging = true;
    try {
      await api("PUT", "/agent/me/presence", { presence: event.target.checked ? "available" : "away" });
    } catch (e) {
      if (e.status === 401) showLogin(T.loginExpired);
      else notify(T.failed + e.message);
    } finally {
      state.presenceChanging = false;
    }
    await refreshSoon();
  });
  $("claim-this").addEventListener("click", async () => {
    try {
      await api("POST", "/agent/claims", { customer: state.open });
    } catch (e) {
      // Taken a moment before: say by whom, as the conversation now shows.
      await refreshSoon();
      const holder = state.page?.conversation?.agent;
      notify(e.status === 409 && holder ? T.claimedBy(holder.name) : T.failed + e.message);
      return;
    }
    notify(T.claimedThis, true);
    await refreshSoon();
  });
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
    const [kind, id] = $("transfer-to").value.split(":");
    const target = kind === "agent" ? { agent: id } : { department: id };
    return act(
      () => api("POST", `/agent/conversations/${encodeURIComponent(state.open)}/transfer`, target, crypto.randomUUID()),
      T.transferred,
    );
  });
}

function showLogin(message) {
  const already = !$("login").hidden;
  $("login").hidden = false;
  $("desk").hidden = true;
  $("login-form").hidden = !state.session.cognito;
  $("login-hint").textContent = message || (state.session.cognito ? "" : T.noLogin);
  if (state.session.cognito && !already) $("email").focus();
}

function setUpLogin() {
  $("login-title").textContent = T.loginTitle;
  $("email-label").textContent = T.email;
  $("password-label").textContent = T.password;
  $("new-password-label").textContent = T.newPassword;
  $("login-submit").textContent = T.enter;
  $("logout").textContent = T.logout;
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $("email").value.trim();
    const password = $("password").value;
    if (!email || !password) return showLogin(T.loginMissing);
    $("login-submit").disabled = true;
    try {
      if (!$("new-password-box").hidden) {
        await state.session.setNewPassword($("new-password").value);
      } else if ((await state.session.login(email, password)).newPassword) {
        $("new-password-box").hidden = false;
        $("new-password").focus();
        return showLogin(T.newPasswordRequired);
      }
      $("password").value = "";
      $("new-password").value = "";
      startDesk();
    } catch (e) {
      const known = e instanceof LoginError ? T.loginErrors[e.code] : null;
      showLogin(known || T.loginFailed + (e.message || ""));
    } finally {
      $("login-submit").disabled = false;
    }
  });
  $("logout").addEventListener("click", async () => {
    state.socket?.close();
    await state.session.logout();
    // A fresh page: nothing of the last login stays in memory.
    location.replace(location.pathname);
  });
}

async function main() {
  setUp();
  setUpLogin();
  state.session = new Session(await loadConfig());
  if (await state.session.start()) startDesk();
  else showLogin();
}

async function startDesk() {
  $("login").hidden = true;
  $("desk").hidden = false;
  // Logged in again after the session expired: the desk runs already; the live connection
  // opens again if it had stopped for want of a login.
  if (state.started) {
    if (state.liveStopped) connectLive();
    return refreshSoon();
  }
  try {
    state.departments = (await api("GET", "/agent/departments")).departments;
    const colleagues = (await api("GET", "/agent/colleagues")).agents.filter((a) => !a.supervisor);
    $("transfer-to").replaceChildren(
      el("optgroup", { label: T.queues }, ...state.departments.map((d) => el("option", { value: `department:${d.id}` }, d.name))),
      el("optgroup", { label: T.agents }, ...colleagues.map((a) => el("option", { value: `agent:${a.id}` }, a.name))),
    );
    state.templates = (await api("GET", "/agent/templates")).templates;
    state.quickReplies = (await api("GET", "/agent/quick-replies")).quick_replies;
    $("template").replaceChildren(...state.templates.map((t) => el("option", { value: t.name }, t.name)));
    renderTemplateParameters();
  } catch (e) {
    if (e.status === 401) return showLogin(T.loginExpired);
    notify(e.message);
  }
  state.started = true;
  renderLive();
  await refreshSoon();
  connectLive();
  // Every second: waits and the window tick; the lists are read again when the poll is due
  // (often while the live connection is down, seldom while it is up).
  setInterval(() => {
    // Nothing to read while the agent logs in again.
    if (!$("login").hidden) return;
    const every = state.live ? LIVE_POLL_MS : POLL_MS;
    if (Date.now() - state.lastRefresh >= every) {
      refreshSoon();
    } else {
      renderLists();
      renderConversation();
    }
  }, 1000);
}

main();
