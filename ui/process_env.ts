/**
 * Feast's UI reads `process.env.PUBLIC_URL` (its base path) and `NODE_ENV`, as a Create React
 * App build would define them. This module runs before the UI's modules and defines them from
 * the page's configuration.
 */
import { uiConfig } from "./config.ts";

const global = globalThis as { process?: { env: Record<string, string | undefined> } };
global.process ??= { env: {} };
global.process.env.PUBLIC_URL = uiConfig().base;
global.process.env.NODE_ENV ??= "production";
