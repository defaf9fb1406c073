// An agent of the user pool logs in to the console with her e-mail and the temporary password
// an admin gave her, chooses her own, works, has her token refreshed, and logs out. Run by
// tests/console.rs against `atende serve --backend aws` on the emulator's user pool.
//
// Environment: CONSOLE_URL (…/desk/), EMAIL, TEMPORARY_PASSWORD, NEW_PASSWORD.
import { launchChromium, step } from "./common.mjs";

const { CONSOLE_URL, EMAIL, TEMPORARY_PASSWORD, NEW_PASSWORD } = process.env;

const browser = await launchChromium();
const stored = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem("atende.session") || "null"));
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(CONSOLE_URL);
  await page.getByRole("heading", { name: "Atende — Entrar" }).waitFor();
  const email = page.getByRole("textbox", { name: "E-mail" });
  const password = page.getByLabel("Senha", { exact: true });
  await email.fill(EMAIL);
  await password.fill("not-her-password");
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.getByRole("alert").getByText("E-mail ou senha incorretos.").waitFor();
  step("a wrong password is refused");

  await password.fill(TEMPORARY_PASSWORD);
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.getByRole("alert").getByText(/Primeiro acesso/).waitFor();
  await page.getByLabel("Nova senha").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.getByRole("heading", { name: "Atende — Mesa de atendimento" }).waitFor();
  await page.getByRole("status").getByText("Ao vivo").waitFor();
  await page.getByText("Ana", { exact: true }).waitFor();
  step("logged in with a new password");

  // The access token expires (here: spoilt); the next request gets new ones with the refresh
  // token and goes through.
  const first = await stored(page);
  if (!first.refresh || first.access === first.refresh) throw new Error("no refresh token kept");
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem("atende.session"));
    s.access = s.access.slice(0, -4) + "AAAA";
    sessionStorage.setItem("atende.session", JSON.stringify(s));
  });
  await page.reload();
  await page.getByRole("checkbox", { name: "Presença" }).check();
  await page.getByText("Disponível", { exact: true }).waitFor();
  const second = await stored(page);
  if (second.access.endsWith("AAAA") || second.refresh !== first.refresh) throw new Error("not refreshed");
  step("the token was refreshed");

  // Both tokens spoilt (the session ran out): the next action asks for a login again, and the
  // desk carries on after it.
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem("atende.session"));
    s.access = s.access.slice(0, -4) + "AAAA";
    s.refresh = "spoilt";
    sessionStorage.setItem("atende.session", JSON.stringify(s));
  });
  await page.reload();
  await page.getByRole("heading", { name: "Atende — Entrar" }).waitFor();
  await page.getByRole("alert").getByText("Sua sessão expirou. Entre novamente.").waitFor();
  await page.getByRole("textbox", { name: "E-mail" }).fill(EMAIL);
  await page.getByLabel("Senha", { exact: true }).fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.getByRole("heading", { name: "Atende — Mesa de atendimento" }).waitFor();
  await page.getByText("Disponível", { exact: true }).waitFor();
  await page.getByRole("checkbox", { name: "Presença" }).uncheck();
  await page.getByText("Ausente", { exact: true }).waitFor();
  step("logged in again after the session ran out");

  const last = await stored(page);
  await page.getByRole("button", { name: "Sair" }).click();
  await page.getByRole("heading", { name: "Atende — Entrar" }).waitFor();
  if (await stored(page)) throw new Error("the tokens stayed");
  // Signed out at the pool too: the refresh token the tab had no longer gives tokens.
  const { endpoint, client_id } = await (await fetch(new URL("config.json", CONSOLE_URL))).json();
  const again = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth",
    },
    body: JSON.stringify({
      AuthFlow: "REFRESH_TOKEN_AUTH",
      ClientId: client_id,
      AuthParameters: { REFRESH_TOKEN: last.refresh },
    }),
  });
  if (again.ok) throw new Error("the refresh token still works after logging out");
  step("logged out");
} finally {
  await browser.close();
}
