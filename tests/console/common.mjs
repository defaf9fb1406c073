// What the console's browser tests share: the browser's environment, Chromium, and the
// customers' side (webhook deliveries signed as Meta signs them, sent now).
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";

/** How long what must arrive live is awaited: while its live connection is up a page polls
 * every 30 seconds, so only a pushed change arrives in time. */
export const LIVE_MS = 3000;

export const step = (name) => console.log(`step: ${name}`);

/** The browser keeps the real clock even when the suite runs with it moved (libfaketime slows
 * a browser down a hundredfold); the page reads every time it shows from the server. */
export function browserEnv() {
  const env = { ...process.env };
  for (const faked of ["LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "DONT_FAKE_MONOTONIC", "FAKETIME_SHARED"]) {
    delete env[faked];
  }
  return env;
}

/** Debian's Chromium, headless (its own download does not work on these machines). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    env: browserEnv(),
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/** A webhook delivery of `value` (messages or statuses) to WEBHOOK_URL, signed with
 * APP_SECRET as Meta signs it. */
export async function signedPost(value) {
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "102290129340398", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp",
      metadata: { display_phone_number: "551130000000", phone_number_id: "106540352242922" },
      ...value,
    } }] }],
  });
  const signature = "sha256=" + createHmac("sha256", process.env.APP_SECRET).update(body).digest("hex");
  const response = await fetch(process.env.WEBHOOK_URL, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
    body,
  });
  if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
}

let sequence = 0;

/** `who` (CUSTOMER, Maria Silva, unless named) sends `message` (its type part), now. */
export async function customerSays(message, who = process.env.CUSTOMER, name = "Maria Silva") {
  sequence += 1;
  await signedPost({
    contacts: [{ profile: { name }, wa_id: who }],
    messages: [{ from: who, id: `wamid.CONSOLE${process.pid}.${sequence}`, timestamp: String(Math.floor(Date.now() / 1000)), ...message }],
  });
}
