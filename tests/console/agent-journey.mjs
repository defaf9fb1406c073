// An agent works a customer in the console, in Debian's headless Chromium, as a person would:
// controls found by role and name. Run by tests/console.rs, which starts `atende serve` with a
// Graph API stand-in and checks what WhatsApp was asked to send.
//
// Environment: DESK_LINK (Ana's login link), WEBHOOK_URL, APP_SECRET (to sign the customer's
// messages as Meta does), CUSTOMER (her number), SCREENSHOT (where to save the agent's screen).
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";

const { DESK_LINK, SUPERVISOR_LINK, WEBHOOK_URL, APP_SECRET, CUSTOMER, SCREENSHOT, BOARD_SCREENSHOT } =
  process.env;
const SECOND_CUSTOMER = "5521998765432";
let sequence = 0;

/** Maria (or `who`) writes: a delivery as Meta signs it, sent now. */
async function customerSays(message, who = CUSTOMER, name = "Maria Silva") {
  sequence += 1;
  await signedPost({
    contacts: [{ profile: { name }, wa_id: who }],
    messages: [{ from: who, id: `wamid.CONSOLE${sequence}`, timestamp: String(Math.floor(Date.now() / 1000)), ...message }],
  });
}

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

/** A webhook delivery of `value` (messages or statuses), signed as Meta signs it. */
async function signedPost(value) {
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "102290129340398", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp",
      metadata: { display_phone_number: "551130000000", phone_number_id: "106540352242922" },
      ...value,
    } }] }],
  });
  const signature = "sha256=" + createHmac("sha256", APP_SECRET).update(body).digest("hex");
  const response = await fetch(WEBHOOK_URL, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
    body,
  });
  if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
}

const step = (name) => console.log(`step: ${name}`);

/** The smallest PNG: one white pixel. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=",
  "base64",
);

/** WhatsApp tells the business a message to her failed: her 24-hour window has closed. */
async function windowClosed() {
  await signedPost({
    statuses: [{
      id: "wamid.CONSOLE-OUT", status: "failed", timestamp: String(Math.floor(Date.now() / 1000)),
      recipient_id: CUSTOMER,
      errors: [{ code: 131047, title: "Re-engagement message" }],
    }],
  });
}

// The browser keeps the real clock even when the suite runs with it moved (libfaketime slows
// Chromium down a hundredfold); the page reads every time it shows from the server.
const browserEnv = { ...process.env };
for (const faked of ["LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "DONT_FAKE_MONOTONIC"]) {
  delete browserEnv[faked];
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  env: browserEnv,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  // Carla, the supervisor, watches from another browser context.
  const carla = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await carla.goto(SUPERVISOR_LINK);
  const board = carla.getByRole("table", { name: "Filas" });
  const team = carla.getByRole("table", { name: "Atendentes" });
  await board.waitFor();
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(DESK_LINK);
  await page.getByRole("heading", { name: "Atende — Mesa de atendimento" }).waitFor();
  step("logged in");
  await page.getByRole("checkbox", { name: "Presença" }).check();
  await page.getByText("Disponível").waitFor();

  // The customer asks for a person while the page is open: she appears without a reload.
  await customerSays({ type: "text", text: { body: "quero falar com um atendente" } });
  const waiting = page.getByRole("region", { name: "Aguardando" });
  await waiting.getByRole("button", { name: /Maria Silva/ }).waitFor({ timeout: 15000 });
  step("a waiting customer appeared");
  await hasText(board.getByRole("row").filter({ hasText: "Suporte Técnico" }), "Suporte Técnico 1");
  step("the board counts her");

  // Alt+N: claim the next, as the button does.
  await page.keyboard.press("Alt+N");
  const log = page.getByRole("log");
  await log.getByText("Assumido por Ana").waitFor({ timeout: 15000 });
  await log.getByText("quero falar com um atendente").waitFor();
  await page.getByText("Contexto do atendimento").waitFor();
  step("claimed, with the bot's part and the context");
  await hasText(team.getByRole("row").filter({ hasText: "Ana" }), "Ana Disponível 1/3");
  await hasText(board.getByRole("row").filter({ hasText: "Suporte Técnico" }), "Suporte Técnico 0");
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
  await log.getByText("Olá! Em que posso ajudar?").waitFor({ timeout: 15000 });
  step("replied");

  // Her answer appears live.
  await customerSays({ type: "text", text: { body: "minha internet caiu" } });
  await log.getByText("minha internet caiu").waitFor({ timeout: 15000 });
  step("her answer appeared");

  // A picture, by the file picker; one too large is refused in the page, nothing sent.
  const picker = page.getByLabel("Arquivo");
  await picker.setInputFiles({ name: "grande.png", mimeType: "image/png", buffer: Buffer.alloc(5 * 1024 * 1024, 1) });
  await page.getByRole("button", { name: "Enviar arquivo" }).click();
  await page.getByRole("alert").getByText("Arquivo grande demais (máximo 4 MB).").waitFor();
  await picker.setInputFiles({ name: "modem.png", mimeType: "image/png", buffer: PNG });
  await message.fill("Veja se a luz está assim");
  await page.getByRole("button", { name: "Enviar arquivo" }).click();
  await page.getByRole("status").getByText("Arquivo enviado.").waitFor({ timeout: 15000 });
  await log.getByText("[image] *Ana:*").waitFor({ timeout: 15000 });
  step("sent a picture");

  await page.getByRole("checkbox", { name: /Nota interna/ }).check();
  await message.fill("cliente com fatura em atraso");
  await page.getByRole("button", { name: "Enviar", exact: true }).click();
  await log.getByText("cliente com fatura em atraso").waitFor({ timeout: 15000 });
  step("noted");
  await page.getByText(/Janela de 24 h: 23 h/).waitFor();
  if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT });

  // WhatsApp reports her window closed (131047): free text is no longer offered, a template is.
  await new Promise((done) => setTimeout(done, 1100));
  await windowClosed();
  await page.getByText("A janela de 24 h fechou").waitFor({ timeout: 15000 });
  await page.getByRole("textbox", { name: "Mensagem" }).waitFor({ state: "hidden" });
  await page.getByRole("combobox", { name: "Modelo" }).selectOption("retomar_atendimento");
  await page.getByRole("textbox", { name: "Parâmetro: nome do cliente" }).fill("Maria");
  await page.getByRole("button", { name: "Enviar modelo" }).click();
  await log.getByText("[template retomar_atendimento: Maria]").waitFor({ timeout: 15000 });
  step("sent a template after the window");

  // Alt+E: close, as the button does.
  await page.keyboard.press("Alt+E");
  await page.getByRole("status").getByText("Atendimento encerrado.").waitFor({ timeout: 15000 });
  step("closed");

  // Another customer waits; Carla gives him to Ana, then erases him on his request.
  await customerSays({ type: "text", text: { body: "atendente" } }, SECOND_CUSTOMER, "João Souza");
  await carla.getByRole("region", { name: "Aguardando" }).getByRole("button", { name: /João Souza/ }).click();
  await carla.getByRole("combobox", { name: "Atribuir a" }).selectOption({ label: "Ana" });
  await carla.getByRole("button", { name: "Atribuir" }).click();
  await carla.getByRole("status").getByText("Cliente atribuído.").waitFor({ timeout: 15000 });
  await page.getByRole("region", { name: "Meus atendimentos" }).getByRole("button", { name: /João Souza/ }).waitFor({ timeout: 15000 });
  // Alt+J: Ana goes to her next conversation, his.
  await page.keyboard.press("Alt+J");
  await page.getByRole("heading", { name: "João Souza" }).waitFor({ timeout: 15000 });
  step("assigned");
  if (BOARD_SCREENSHOT) await carla.screenshot({ path: BOARD_SCREENSHOT });
  carla.once("dialog", (dialog) => dialog.accept());
  await carla.getByRole("button", { name: "Apagar dados do cliente" }).click();
  await carla.getByRole("status").getByText("Dados do cliente apagados.").waitFor({ timeout: 15000 });
  await page.getByRole("region", { name: "Meus atendimentos" }).getByRole("button", { name: /João Souza/ }).waitFor({ state: "detached", timeout: 15000 });
  step("erased");
} finally {
  await browser.close();
}
