/**
 * The web UI at `/ui`: a few static files shipped in the package (no build step), read once.
 * They hold no data: the page reads everything through the HTTP API, with the API's bearer
 * token, so the UI has exactly the API's access rules.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Env, Hono } from 'hono';

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** The assets' folder: beside this module in the source tree, `server/ui` of the package from `dist`. */
function assetsFolder(): string {
  for (const relative of ['./ui/', '../../server/ui/']) {
    const folder = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(`${folder}index.html`)) return folder;
  }
  throw new Error('cannot find the web UI (server/ui): is the package installed completely?');
}

/**
 * The page loads only its own files and talks only to this server; it cannot be framed. (What
 * workflows recorded is put in the page as text, never as markup: this is the second line.)
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

export function mountUi<E extends Env>(app: Hono<E>): void {
  const folder = assetsFolder();
  const files = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { body: readFileSync(folder + name, 'utf8'), type }]));
  const serve = (name: string) => {
    const file = files.get(name);
    return file && new Response(file.body, { headers: { 'content-type': file.type, ...SECURITY_HEADERS } });
  };
  app.get('/ui', (c) => c.redirect('/ui/'));
  app.get('/ui/', () => serve('index.html')!);
  app.get('/ui/:file', (c) => serve(c.req.param('file')) ?? c.json({ error: { code: 'NOT_FOUND', message: `no UI file ${c.req.param('file')}` } }, 404));
}
