// The console in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core):
// the page loads, opens its live connection, shows a customer handed over without a reload,
// takes her, answers with a quick reply, shows her answer live and closes. The full journeys
// run in Chromium (agent-journey.mjs); this one is about the page working in the other engine.
// Puppeteer's role queries do not reach Firefox yet, so controls are found by their visible
// name (a button's text, a field's label) in the page.
//
// Environment: DESK_LINK, WEBHOOK_URL, APP_SECRET, CUSTOMER; FIREFOX (default firefox-esr).
import puppeteer from "puppeteer-core";
import { LIVE_MS, browserEnv, customerSays, step } from "./common.mjs";

const { DESK_LINK } = process.env;

/** Waits until a visible element of `selector` has `text` in it; returns it. */
async function shown(page, selector, text, timeout = 15000) {
  return page.waitForFunction(
    (selector, text) =>
      [...document.querySelectorAll(selector)].find(
        (e) => e.offsetParent !== null && e.textContent.replace(/\s+/g, " ").includes(text),
      ),
    { timeout, polling: 50 },
    selector,
    text,
  );
}

async function click(page, selector, text) {
  await (await shown(page, selector, text)).asElement().click();
}

/** The field whose label says `label`. */
async function field(page, label) {
  return page.waitForFunction(
    (label) => {
      const tag = [...document.querySelectorAll("label")].find((l) => l.textContent.trim() === label);
      return tag && document.getElementById(tag.htmlFor);
    },
    { timeout: 15000 },
    label,
  ).then((handle) => handle.asElement());
}

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: process.env.FIREFOX || "/usr/bin/firefox-esr",
  headless: true,
  env: browserEnv(),
  // A laptop's window; the ESR's WebDriver BiDi cannot resize a page's viewport itself.
  defaultViewport: null,
  args: ["--width=1280", "--height=800"],
});
try {
  const page = await browser.newPage();
  await page.goto(DESK_LINK);
  await shown(page, "h1", "Atende — Mesa de atendimento");
  await shown(page, "#live", "Ao vivo");
  step("loaded, live");
  await page.click("#presence");
  await shown(page, "header", "Disponível");

  await customerSays({ type: "text", text: { body: "quero falar com um atendente" } });
  await shown(page, "#waiting button", "Maria Silva", LIVE_MS);
  step("a waiting customer appeared");
  await click(page, "button", "Atender próximo");
  await shown(page, "#lines li", "Assumido por Ana");
  const message = await field(page, "Mensagem");
  await message.type("/ol");
  await click(page, "#quick li", "/ola");
  await click(page, "button", "Enviar");
  await shown(page, "#lines li", "Olá! Em que posso ajudar?");
  step("replied with a quick reply");

  await customerSays({ type: "text", text: { body: "minha internet caiu" } });
  await shown(page, "#lines li", "minha internet caiu", LIVE_MS);
  step("her answer appeared");
  await click(page, "button", "Encerrar");
  await shown(page, "#status", "Atendimento encerrado.");
  step("closed");
} finally {
  await browser.close();
}
