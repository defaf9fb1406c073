// An agent works a customer in the console, in Debian's headless Chromium, as a person would:
// controls found by role and name. Run by tests/console.rs, which starts `atende serve` with a
// Graph API stand-in and checks what WhatsApp was asked to send.
//
// Environment: DESK_LINK (Ana's login link), WEBHOOK_URL, APP_SECRET (to sign the customer's
// messages as Meta does), CUSTOMER (her number), SCREENSHOT (where to save the agent's screen).
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";

const { DESK_LINK, WEBHOOK_URL, APP_SECRET, CUSTOMER, SCREENSHOT } = process.env;
let sequence = 0;

/** Maria writes: a delivery as Meta signs it, sent now. */
async function customerSays(message) {
  sequence += 1;
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "102290129340398", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp",
      metadata: { display_phone_number: "551130000000", phone_number_id: "106540352242922" },
      contacts: [{ profile: { name: "Maria Silva" }, wa_id: CUSTOMER }],
      messages: [{ from: CUSTOMER, id: `wamid.CONSOLE${sequence}`, timestamp: String(Math.floor(Date.now() / 1000)), ...message }],
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
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
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

  await page.getByRole("button", { name: "Atender próximo" }).click();
  const log = page.getByRole("log");
  await log.getByText("Assumido por Ana").waitFor({ timeout: 15000 });
  await log.getByText("quero falar com um atendente").waitFor();
  await page.getByText("Contexto do atendimento").waitFor();
  step("claimed, with the bot's part and the context");

  const message = page.getByRole("textbox", { name: "Mensagem" });
  // An empty message is answered in the page, and nothing is sent.
  await page.getByRole("button", { name: "Enviar" }).click();
  await page.getByRole("alert").getByText("Escreva a mensagem antes de enviar.").waitFor();
  await message.fill("Olá, Maria! Sou a Ana, vou te ajudar.");
  await page.getByRole("button", { name: "Enviar" }).click();
  await log.getByText("Olá, Maria! Sou a Ana, vou te ajudar.").waitFor({ timeout: 15000 });
  step("replied");

  // Her answer appears live.
  await customerSays({ type: "text", text: { body: "minha internet caiu" } });
  await log.getByText("minha internet caiu").waitFor({ timeout: 15000 });
  step("her answer appeared");

  await page.getByRole("checkbox", { name: /Nota interna/ }).check();
  await message.fill("cliente com fatura em atraso");
  await page.getByRole("button", { name: "Enviar" }).click();
  await log.getByText("cliente com fatura em atraso").waitFor({ timeout: 15000 });
  step("noted");
  if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT });

  await page.getByRole("button", { name: "Encerrar" }).click();
  await page.getByRole("status").getByText("Atendimento encerrado.").waitFor({ timeout: 15000 });
  step("closed");
} finally {
  await browser.close();
}
