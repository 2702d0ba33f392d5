/** What the feature server writes into the page (`<script id="larder-ui">`). */
export interface UiConfig {
  /** Where the UI is served (the router's base path). */
  readonly base: string;
  /** The registry REST API's base path. */
  readonly api: string;
  /** Whether the API needs a bearer token. */
  readonly auth: boolean;
}

let config: UiConfig | undefined;

/** The page's configuration. */
export function uiConfig(): UiConfig {
  if (config) return config;
  const text = document.getElementById("larder-ui")?.textContent ?? "{}";
  const read = JSON.parse(text) as Partial<UiConfig>;
  config = { base: read.base ?? "/ui", api: read.api ?? "/api/v1", auth: read.auth ?? false };
  return config;
}
