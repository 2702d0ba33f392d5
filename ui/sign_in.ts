/**
 * Bearer tokens for a browser: page loads cannot carry one, so the UI's assets are public and
 * its API calls are not. The token a user pastes is kept in this tab's `sessionStorage` and
 * added to the UI's own requests (the registry API and the project list); a 401 forgets it.
 */
import type { UiConfig } from "./config.ts";

const KEY = "larder.token";

function stored(): string | null {
  return sessionStorage.getItem(KEY);
}

function urlOf(input: RequestInfo | URL): URL {
  const text = typeof input === "string"
    ? input
    : input instanceof Request
    ? input.url
    : input.toString();
  return new URL(text, location.href);
}

/** Adds the token to the UI's own API requests; on a 401, forgets it and asks again. */
export function installToken(config: UiConfig): void {
  const original = globalThis.fetch.bind(globalThis);
  const ours = (url: URL) =>
    url.origin === location.origin &&
    (url.pathname.startsWith(`${config.api}/`) ||
      url.pathname === `${config.base}/projects-list.json`);
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const token = stored();
    if (!token || !ours(urlOf(input))) return await original(input, init);
    const headers = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    );
    headers.set("Authorization", `Bearer ${token}`);
    const res = await original(input, { ...init, headers });
    if (res.status === 401) {
      sessionStorage.removeItem(KEY);
      location.reload();
    }
    return res;
  };
}

/** A signed-in user's way out: a small fixed link that forgets the token. */
export function signOutLink(): void {
  const link = document.createElement("button");
  link.textContent = "Sign out";
  link.id = "larder-sign-out";
  link.style.cssText =
    "position:fixed;right:12px;bottom:12px;z-index:10000;font:12px sans-serif;padding:4px 8px;" +
    "border:1px solid #ccc;border-radius:4px;background:#fff;cursor:pointer";
  link.onclick = () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  };
  document.body.append(link);
}

/** Resolves once a token the API accepts is stored (at once when one already is). */
export function signIn(config: UiConfig, root: HTMLElement): Promise<void> {
  if (stored()) return Promise.resolve();
  root.innerHTML = `
<form id="larder-sign-in" style="max-width:28rem;margin:12vh auto;font:15px/1.5 sans-serif">
  <h1 style="font-size:1.4rem">Sign in to the Larder registry</h1>
  <p>This feature server asks for a bearer token: an API token (<code>auth.type: token</code>)
  or an OIDC access token (<code>auth.type: oidc</code>). It is kept in this browser tab only.</p>
  <label for="larder-token">Token</label>
  <input id="larder-token" type="password" autocomplete="off" required
    style="display:block;width:100%;margin:.3rem 0 .8rem;padding:.4rem">
  <button type="submit" style="padding:.4rem 1rem">Sign in</button>
  <p id="larder-sign-in-error" role="alert" style="color:#bd271e"></p>
</form>`;
  const form = root.querySelector<HTMLFormElement>("#larder-sign-in")!;
  const input = root.querySelector<HTMLInputElement>("#larder-token")!;
  const error = root.querySelector<HTMLElement>("#larder-sign-in-error")!;
  return new Promise((resolve) => {
    form.onsubmit = async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      const res = await fetch(`${config.api}/projects`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      if (res.ok) {
        sessionStorage.setItem(KEY, token);
        root.innerHTML = "";
        resolve();
        return;
      }
      error.textContent = res.status === 401
        ? "The server refused this token."
        : `The server answered ${res.status}.`;
    };
  });
}
