// The customer's 24-hour window closes while Ana holds her, on the server's controlled clock:
// the console stops offering free text and sends an approved template instead; closing lets
// the conversation go. Run by tests/console.rs, which starts `atende serve` under libfaketime
// with its clock read from CLOCK_FILE, and checks what WhatsApp was asked to send.
//
// Environment: DESK_LINK (Ana's login link), WEBHOOK_URL, APP_SECRET, CUSTOMER, CLOCK_FILE.
import { writeFileSync } from "node:fs";
import { customerSays, launchChromium, step } from "./common.mjs";

const { DESK_LINK, CLOCK_FILE } = process.env;

const browser = await launchChromium();
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(DESK_LINK);
  await page.getByRole("status").getByText("Ao vivo").waitFor();
  await page.getByRole("checkbox", { name: "Presença" }).check();
  // Sent now on the server's clock, which the test has not moved yet.
  await customerSays({ type: "text", text: { body: "quero falar com um atendente" } });
  await page.getByRole("region", { name: "Aguardando" }).getByRole("button", { name: /Maria Silva/ }).waitFor();
  await page.getByRole("button", { name: "Atender próximo" }).click();
  const log = page.getByRole("log");
  await log.getByText("Assumido por Ana").waitFor({ timeout: 15000 });
  await page.getByRole("textbox", { name: "Mensagem" }).fill("Já vejo o seu caso.");
  await page.getByRole("button", { name: "Enviar", exact: true }).click();
  await log.getByText("Já vejo o seu caso.").waitFor({ timeout: 15000 });
  await page.getByText(/Janela de 24 h: 23 h/).waitFor();
  step("free text while the window is open");

  // A day and a minute later on the server's clock, Ana comes back (a page open that long
  // would have opened new live connections every two hours: this one opens a fresh one) and
  // goes to her conversation.
  writeFileSync(CLOCK_FILE, "+1441m\n");
  await page.reload();
  await page.getByRole("status").getByText("Ao vivo").waitFor();
  const mine = page.getByRole("region", { name: "Meus atendimentos" });
  await mine.getByRole("button", { name: /5511/ }).click({ timeout: 15000 });
  await page.getByText("A janela de 24 h fechou").waitFor({ timeout: 15000 });
  await page.getByRole("textbox", { name: "Mensagem" }).waitFor({ state: "hidden" });
  step("free text is not offered after the window");

  await page.getByRole("combobox", { name: "Modelo" }).selectOption("retomar_atendimento");
  await page.getByRole("textbox", { name: "Parâmetro: nome do cliente" }).fill("Maria");
  await page.getByRole("button", { name: "Enviar modelo" }).click();
  await log.getByText("[template retomar_atendimento: Maria]").waitFor({ timeout: 15000 }).catch(async (e) => {
    // What the page says instead, for whoever reads the failure.
    console.log("page:", (await page.locator("body").innerText()).slice(0, 3000));
    throw e;
  });
  step("sent a template after the window");

  await page.getByRole("button", { name: "Encerrar" }).click();
  await page.getByRole("status").getByText("Atendimento encerrado.").waitFor({ timeout: 15000 });
  await page.getByText("0 de 3 atendimentos").waitFor({ timeout: 15000 });
  step("closed, the place given back");
} finally {
  await browser.close();
}
