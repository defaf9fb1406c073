// Agents work customers in the console, in Debian's headless Chromium, as people would:
// controls found by role and name; Ana, Bruno and Carla (the supervisor) each in a browser
// context of their own. Run by tests/console.rs, which starts `atende serve` with a Graph API
// stand-in and checks what WhatsApp was asked to send.
//
// What must appear "live" is awaited for LIVE_MS only (common.mjs says why).
//
// Environment: DESK_LINK, BRUNO_LINK, SUPERVISOR_LINK (the login links), WEBHOOK_URL,
// APP_SECRET (to sign the customers' messages as Meta does), CUSTOMER (Maria's number),
// SCREENSHOT and BOARD_SCREENSHOT (where to save the agent's screen and the board).
import { LIVE_MS, customerSays, launchChromium, signedPost, step } from "./common.mjs";

const { DESK_LINK, BRUNO_LINK, SUPERVISOR_LINK, CUSTOMER, SCREENSHOT, BOARD_SCREENSHOT } = process.env;
const SECOND_CUSTOMER = "5521998765432";
/** Waits until the element's text has `text` in it. */
async function hasText(locator, text, timeout = 15000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const now = await locator.innerText().catch(() => "");
    if (now.replace(/\s+/g, " ").includes(text)) return;
    if (Date.now() > deadline) throw new Error(`"${text}" not in "${now}"`);
    await new Promise((done) => setTimeout(done, 100));
  }
}


/** The smallest PNG: one white pixel. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=",
  "base64",
);

/** WhatsApp reports the message `id` to her `status` (delivered, read). */
async function delivery(id, status) {
  await signedPost({
    statuses: [{ id, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: CUSTOMER }],
  });
}

/** The WhatsApp id of the message with `text` in the conversation `page` has open. */
async function messageId(page, text) {
  return page.evaluate(async ([customer, text]) => {
    const { access } = JSON.parse(sessionStorage.getItem("atende.session"));
    const response = await fetch(`/agent/conversations/${customer}`, { headers: { authorization: `Bearer ${access}` } });
    const line = (await response.json()).lines.find((l) => l.kind === "sent" && l.text.includes(text));
    return line.message_id;
  }, [CUSTOMER, text]);
}

/** Stands between a page and its live connection: holds the server's frames back for a while
 * (what a slow network does), or cuts the connection and refuses new tickets (the live API
 * down), so that what the page does then can be watched. */
function liveRelay(page) {
  const relay = { holding: false, held: [], sockets: new Set() };
  relay.install = () =>
    page.routeWebSocket(/\/live\?ticket=/, (socket) => {
      const server = socket.connectToServer();
      relay.sockets.add(socket);
      server.onMessage((frame) => (relay.holding ? relay.held.push([socket, frame]) : socket.send(frame)));
      socket.onMessage((frame) => server.send(frame));
      socket.onClose(() => (relay.sockets.delete(socket), server.close()));
      server.onClose(() => (relay.sockets.delete(socket), socket.close()));
    });
  relay.hold = () => (relay.holding = true);
  relay.release = () => {
    relay.holding = false;
    for (const [socket, frame] of relay.held.splice(0)) socket.send(frame);
  };
  const refuse = (route) =>
    route.fulfill({ status: 503, contentType: "application/problem+json", body: '{"status":503,"detail":"down"}' });
  relay.cut = async () => {
    await page.route("**/agent/live/tickets", refuse);
    for (const socket of relay.sockets) await socket.close({ code: 1006, reason: "cut" }).catch(() => {});
  };
  relay.restore = () => page.unroute("**/agent/live/tickets", refuse);
  return relay;
}

async function desk(browser, link, relay = false) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  if (relay) {
    page.relay = liveRelay(page);
    await page.relay.install();
  }
  await page.goto(link);
  await page.getByRole("heading", { name: "Atende — Mesa de atendimento" }).waitFor();
  // The live connection is up: from now on changes are pushed.
  await page.getByRole("status").getByText("Ao vivo").waitFor();
  return page;
}

const browser = await launchChromium();
try {
  // Carla, the supervisor, watches the board; Ana (Suporte) and Bruno (Financeiro, Vendas) work.
  const carla = await desk(browser, SUPERVISOR_LINK);
  const board = carla.getByRole("table", { name: "Filas" });
  const team = carla.getByRole("table", { name: "Atendentes" });
  const page = await desk(browser, DESK_LINK, true);
  step("logged in, live");
  const bruno = await desk(browser, BRUNO_LINK);
  for (const p of [page, bruno]) {
    await p.getByRole("checkbox", { name: "Presença" }).check();
    await p.getByText("Disponível", { exact: true }).waitFor();
  }

  // The customer asks for a person while the pages are open: she appears without a reload.
  await customerSays({ type: "text", text: { body: "quero falar com um atendente" } });
  const waiting = page.getByRole("region", { name: "Aguardando" });
  await waiting.getByRole("button", { name: /Maria Silva/ }).waitFor({ timeout: LIVE_MS });
  // With her first words, as she wrote them.
  await waiting.getByRole("button", { name: /quero falar com um atendente/ }).waitFor();
  step("a waiting customer appeared");
  await hasText(board.getByRole("row").filter({ hasText: "Suporte Técnico" }), "Suporte Técnico 1", LIVE_MS);
  step("the board counts her");
  if (await bruno.getByRole("region", { name: "Aguardando" }).getByRole("button", { name: /Maria Silva/ }).count()) {
    throw new Error("Bruno sees another department's line");
  }

  // Opened before claiming: the bot's part, and a button to take her.
  await waiting.getByRole("button", { name: /Maria Silva/ }).click();
  const log = page.getByRole("log");
  await log.getByText("quero falar com um atendente").waitFor();
  await page.getByRole("button", { name: "Atender este cliente" }).waitFor();
  step("opened before claiming");

  // Alt+N: claim the next, as the button does; she is the one.
  await page.keyboard.press("Alt+N");
  await log.getByText("Assumido por Ana").waitFor({ timeout: 15000 });
  await page.getByText("Contexto do atendimento").waitFor();
  step("claimed, with the bot's part and the context");
  await hasText(team.getByRole("row").filter({ hasText: "Ana" }), "Ana Disponível 1/3", LIVE_MS);
  await hasText(board.getByRole("row").filter({ hasText: "Suporte Técnico" }), "Suporte Técnico 0", LIVE_MS);
  step("the board shows Ana with her");

  const message = page.getByRole("textbox", { name: "Mensagem" });
  // An empty message is answered in the page, and nothing is sent.
  await page.getByRole("button", { name: "Enviar", exact: true }).click();
  await page.getByRole("alert").getByText("Escreva a mensagem antes de enviar.").waitFor();
  // A quick reply: "/" and the start of its shortcut; Financeiro's are not offered to Ana.
  await message.fill("/");
  const quick = page.getByRole("listbox", { name: "Respostas rápidas" });
  await quick.getByRole("option", { name: /^\/reiniciar/ }).waitFor();
  if (await quick.getByRole("option", { name: /^\/boleto/ }).count()) throw new Error("another department's quick reply");
  await message.fill("/ol");
  await quick.getByRole("option", { name: /^\/ola/ }).click();
  await page.getByRole("button", { name: "Enviar", exact: true }).click();
  const reply = log.getByRole("listitem").filter({ hasText: "Olá! Em que posso ajudar?" });
  await reply.waitFor({ timeout: 15000 });
  step("replied");

  // WhatsApp reports it delivered, then read: the tick turns.
  const id = await messageId(page, "Olá! Em que posso ajudar?");
  await delivery(id, "delivered");
  await hasText(reply, "entregue", LIVE_MS);
  await delivery(id, "read");
  await hasText(reply, "lida", LIVE_MS);
  step("the tick turned to read");

  // Her answer appears live, counted as unread in Ana's list; then a picture of hers, inline.
  await customerSays({ type: "text", text: { body: "minha internet caiu" } });
  await log.getByText("minha internet caiu").waitFor({ timeout: LIVE_MS });
  await hasText(page.getByRole("region", { name: "Meus atendimentos" }), "1 nova", LIVE_MS);
  await customerSays({ type: "image", image: { id: "1049583720194857", mime_type: "image/jpeg", caption: "a luz do modem" } });
  await log.getByRole("img", { name: /a luz do modem/ }).waitFor({ timeout: LIVE_MS });
  await hasText(page.getByRole("region", { name: "Meus atendimentos" }), "2 novas", LIVE_MS);
  step("her answer appeared");

  // A picture, by the file picker; one too large is refused in the page, the caption kept.
  const picker = page.getByLabel("Arquivo");
  await message.fill("Veja se a luz está assim");
  await picker.setInputFiles({ name: "grande.png", mimeType: "image/png", buffer: Buffer.alloc(5 * 1024 * 1024, 1) });
  await page.getByRole("button", { name: "Enviar arquivo" }).click();
  await page.getByRole("alert").getByText("Arquivo grande demais (máximo 4 MB).").waitFor();
  if ((await message.inputValue()) !== "Veja se a luz está assim") throw new Error("the composer lost the caption");
  await picker.setInputFiles({ name: "modem.png", mimeType: "image/png", buffer: PNG });
  await page.getByRole("button", { name: "Enviar arquivo" }).click();
  await page.getByRole("status").getByText("Arquivo enviado.").waitFor({ timeout: 15000 });
  await log.getByText("[image] *Ana:*").waitFor({ timeout: 15000 });
  step("sent a picture");

  await page.getByRole("checkbox", { name: /Nota interna/ }).check();
  await message.fill("cliente com fatura em atraso");
  await page.getByRole("button", { name: "Enviar", exact: true }).click();
  await log.getByText("cliente com fatura em atraso").waitFor({ timeout: 15000 });
  await page.getByRole("checkbox", { name: /Nota interna/ }).uncheck();
  step("noted");
  await page.getByText(/Janela de 24 h: 23 h/).waitFor();
  if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT });
  await hasText(team.getByRole("row").filter({ hasText: "Ana" }), "agora", LIVE_MS);
  step("the board shows Ana's last answer");

  // The bill is Financeiro's: Ana transfers her; Bruno sees her arrive, takes and closes her.
  await page.getByRole("combobox", { name: "Transferir para" }).selectOption({ label: "Financeiro" });
  await page.getByRole("button", { name: "Transferir", exact: true }).click();
  await page.getByRole("status").getByText("Atendimento transferido.").waitFor({ timeout: 15000 });
  const brunoWaiting = bruno.getByRole("region", { name: "Aguardando" });
  await brunoWaiting.getByRole("button", { name: /Maria Silva/ }).waitFor({ timeout: LIVE_MS });
  await hasText(board.getByRole("row").filter({ hasText: "Financeiro" }), "Financeiro 1", LIVE_MS);
  step("transferred");
  await bruno.getByRole("button", { name: "Atender próximo" }).click();
  await bruno.getByRole("log").getByText("Assumido por Bruno").waitFor({ timeout: 15000 });
  await hasText(team.getByRole("row").filter({ hasText: "Bruno" }), "Bruno Disponível 1/3", LIVE_MS);
  await bruno.getByRole("button", { name: "Encerrar" }).click();
  await bruno.getByRole("status").getByText("Atendimento encerrado.").waitFor({ timeout: 15000 });
  await hasText(team.getByRole("row").filter({ hasText: "Bruno" }), "Bruno Disponível 0/3", LIVE_MS);
  step("a second agent claimed and closed");

  // The live connection goes down: the page says so, and still shows what changes (polling).
  await page.relay.cut();
  await page.getByRole("status").getByText("Sem conexão ao vivo: atualizando a cada 2 s").waitFor({ timeout: LIVE_MS });
  await customerSays({ type: "text", text: { body: "atendente" } }, SECOND_CUSTOMER, "João Souza");
  await waiting.getByRole("button", { name: /João Souza/ }).waitFor({ timeout: LIVE_MS });
  step("polled while the live connection was down");
  await page.relay.restore();
  await page.getByRole("status").getByText("Ao vivo").waitFor({ timeout: 20000 });
  step("live again");

  // Ana opens João, but Carla gives him to Bruno a moment before Ana takes him (and before
  // Ana's page hears of it).
  await waiting.getByRole("button", { name: /João Souza/ }).click();
  await page.getByRole("button", { name: "Atender este cliente" }).waitFor();
  page.relay.hold();
  await carla.getByRole("region", { name: "Aguardando" }).getByRole("button", { name: /João Souza/ }).click();
  await carla.getByRole("combobox", { name: "Atribuir a" }).selectOption({ label: "Bruno" });
  await carla.getByRole("button", { name: "Atribuir" }).click();
  await carla.getByRole("status").getByText("Cliente atribuído.").waitFor({ timeout: 15000 });
  await page.getByRole("button", { name: "Atender este cliente" }).click();
  await page.getByRole("alert").getByText("Bruno assumiu este cliente há pouco.").waitFor({ timeout: 15000 });
  page.relay.release();
  step("claimed by a colleague a moment before");
  await bruno.getByRole("region", { name: "Meus atendimentos" }).getByRole("button", { name: /João Souza/ }).waitFor({ timeout: LIVE_MS });
  // Alt+J: Bruno goes to his next conversation, João's; then hands him to Ana by name.
  await bruno.keyboard.press("Alt+J");
  await bruno.getByRole("heading", { name: "João Souza" }).waitFor({ timeout: 15000 });
  await bruno.getByRole("combobox", { name: "Transferir para" }).selectOption({ label: "Ana" });
  await bruno.getByRole("button", { name: "Transferir", exact: true }).click();
  await page.getByRole("region", { name: "Meus atendimentos" }).getByRole("button", { name: /João Souza/ }).waitFor({ timeout: LIVE_MS });
  step("assigned, and transferred to Ana by name");
  if (BOARD_SCREENSHOT) await carla.screenshot({ path: BOARD_SCREENSHOT });
  carla.once("dialog", (dialog) => dialog.accept());
  await carla.getByRole("button", { name: "Apagar dados do cliente" }).click();
  await carla.getByRole("status").getByText("Dados do cliente apagados.").waitFor({ timeout: 15000 });
  await page.getByRole("region", { name: "Meus atendimentos" }).getByRole("button", { name: /João Souza/ }).waitFor({ state: "detached", timeout: LIVE_MS });
  step("erased");

  // Logging out ends the session in this tab: the page asks for a login again.
  await page.getByRole("button", { name: "Sair" }).click();
  await page.getByText("Entre pelo link de acesso").waitFor();
  if (await page.evaluate(() => sessionStorage.getItem("atende.session"))) throw new Error("the token stayed");
  step("logged out");
} finally {
  await browser.close();
}
