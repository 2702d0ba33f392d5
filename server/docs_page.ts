/** A self-contained HTML page that renders the OpenAPI document (no scripts, no CDN). */

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

function inline(text: string): string {
  return escape(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** The docs page for an OpenAPI document as {@linkcode openApiDocument} builds it. */
export function docsPage(spec: Record<string, unknown>): string {
  const info = spec.info as { title: string; version: string; description: string };
  const paths = spec.paths as Record<string, Record<string, Record<string, unknown>>>;
  const sections: string[] = [];
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const body = (op.requestBody as
        | { content: Record<string, { schema: unknown }> }
        | undefined)?.content["application/json"]?.schema;
      const responses = op.responses as Record<string, { description: string }>;
      sections.push(`<section id="${escape(String(op.operationId))}">
<h2><span class="m ${method}">${method.toUpperCase()}</span> <code>${escape(path)}</code></h2>
<p><b>${inline(String(op.summary))}</b>. ${inline(String(op.description))}</p>
${
        body
          ? `<details><summary>Request body schema</summary><pre>${
            escape(JSON.stringify(body, null, 2))
          }</pre></details>`
          : ""
      }
<ul class="r">${
        Object.entries(responses).map(([status, r]) =>
          `<li><code>${escape(status)}</code> ${inline(r.description)}</li>`
        ).join("")
      }</ul>
</section>`);
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(info.title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f5f5f5;padding:.75rem;overflow:auto}
section{border-top:1px solid #ddd;padding:.5rem 0}h2{font-size:1.05rem}
.m{display:inline-block;min-width:3.5rem;text-align:center;border-radius:3px;color:#fff;font-size:12px;padding:2px 4px}
.get{background:#2b7bb9}.post{background:#3a9d5d}.r{margin:.25rem 0;padding-left:1.2rem}
</style></head><body>
<h1>${escape(info.title)} <small>${escape(info.version)}</small></h1>
<p>${
    inline(info.description)
  } The machine-readable document is at <a href="/openapi.json"><code>/openapi.json</code></a>.</p>
${sections.join("\n")}
</body></html>`;
}
