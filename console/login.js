// How the console logs in, as `config.json` says: the local server's login links
// (`#token=…`), or the stack's Cognito user pool (e-mail and password through its public client;
// tokens kept in this tab's session storage only, refreshed before they expire, revoked on
// logout).
const STORED = "atende.session";
// Refreshed this long before the access token expires.
const EARLY_MS = 5 * 60 * 1000;

export class LoginError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) return await response.json();
  } catch {
    // Offline: the local login still works from a stored token.
  }
  return { login: "local" };
}

export class Session {
  constructor(config) {
    this.config = config;
    this.stored = JSON.parse(sessionStorage.getItem(STORED) || "null");
    this.challenge = null;
    this.timer = null;
  }

  get cognito() {
    return this.config.login === "cognito";
  }

  get token() {
    return this.stored?.access || null;
  }

  /** Logged in already: a login link just opened, or tokens kept by this tab. */
  async start() {
    const hash = new URLSearchParams(location.hash.slice(1));
    if (!this.cognito && hash.get("token")) {
      this.keep({ access: hash.get("token") });
      history.replaceState(null, "", location.pathname + location.search);
    }
    if (!this.token) return false;
    if (this.cognito && this.stored.expiresAt - Date.now() < EARLY_MS) return this.refresh();
    this.schedule();
    return true;
  }

  keep(stored) {
    this.stored = stored;
    sessionStorage.setItem(STORED, JSON.stringify(stored));
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.cognito || !this.stored?.expiresAt) return;
    const wait = Math.max(0, this.stored.expiresAt - Date.now() - EARLY_MS);
    this.timer = setTimeout(() => this.refresh(), wait);
  }

  async call(target, body) {
    const endpoint = this.config.endpoint || `https://cognito-idp.${this.config.region}.amazonaws.com/`;
    let response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": `AWSCognitoIdentityProviderService.${target}`,
        },
        body: JSON.stringify(body),
      });
    } catch {
      throw new LoginError("Offline");
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new LoginError(String(answer.__type || "").split("#").pop() || `HTTP ${response.status}`, answer.message);
    }
    return answer;
  }

  signedIn(result, refresh) {
    this.keep({
      access: result.AccessToken,
      refresh: result.RefreshToken || refresh,
      expiresAt: Date.now() + (result.ExpiresIn || 3600) * 1000,
      email: this.stored?.email,
    });
  }

  /** E-mail and password. `{ newPassword: true }` when the pool asks for a new one first
   * (an admin-created user's first login). */
  async login(email, password) {
    const answer = await this.call("InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: this.config.client_id,
      AuthParameters: { USERNAME: email, PASSWORD: password },
    });
    this.stored = { email };
    if (answer.ChallengeName === "NEW_PASSWORD_REQUIRED") {
      this.challenge = { session: answer.Session, email };
      return { newPassword: true };
    }
    if (!answer.AuthenticationResult) throw new LoginError(answer.ChallengeName || "Unsupported");
    this.signedIn(answer.AuthenticationResult);
    return { newPassword: false };
  }

  async setNewPassword(password) {
    const answer = await this.call("RespondToAuthChallenge", {
      ChallengeName: "NEW_PASSWORD_REQUIRED",
      ClientId: this.config.client_id,
      Session: this.challenge.session,
      ChallengeResponses: { USERNAME: this.challenge.email, NEW_PASSWORD: password },
    });
    this.challenge = null;
    this.signedIn(answer.AuthenticationResult);
  }

  /** New tokens from the refresh token; false when it no longer works (log in again). */
  async refresh() {
    if (!this.cognito || !this.stored?.refresh) return false;
    try {
      const answer = await this.call("InitiateAuth", {
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: this.config.client_id,
        AuthParameters: { REFRESH_TOKEN: this.stored.refresh },
      });
      this.signedIn(answer.AuthenticationResult, this.stored.refresh);
      return true;
    } catch (e) {
      if (e.code === "Offline") return false;
      this.forget();
      return false;
    }
  }

  forget() {
    clearTimeout(this.timer);
    this.stored = null;
    sessionStorage.removeItem(STORED);
  }

  /** Ends the login everywhere the pool knows it (its refresh tokens revoked), and here. */
  async logout() {
    const access = this.token;
    this.forget();
    if (this.cognito && access) {
      await this.call("GlobalSignOut", { AccessToken: access }).catch(() => {});
    }
  }
}
