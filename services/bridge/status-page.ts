/**
 * The status page at `/ui`: a few static files (ui/) read once at start and served as they are, no build
 * step. They hold no data: the page's script reads the control API (`/v1/control/events`) with the admin
 * token the user gives it, so the files themselves need no token. A strict Content-Security-Policy lets the
 * page run only its own script and talk only to this bridge.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const UI_DIR = join(import.meta.dirname, 'ui');

/** The files of the page, by the name they are served under, with their content types. */
export const UI_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'status.js': 'text/javascript; charset=utf-8',
  'status.css': 'text/css; charset=utf-8',
} as const;

/** What the page may load and call: its own files and this bridge's API, nothing else, never in a frame. */
export const UI_SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  // A new bridge version serves new files: never an old script against a newer API.
  'cache-control': 'no-cache',
};

export function statusPageRoutes() {
  const files = Object.entries(UI_FILES).map(([name, type]) => ({
    name,
    type,
    body: readFileSync(join(UI_DIR, name)),
  }));
  return async (plugin: FastifyInstance) => {
    for (const { name, type, body } of files) {
      const paths = name === 'index.html' ? ['/ui', '/ui/'] : [`/ui/${name}`];
      for (const path of paths) {
        plugin.get(path, (_request, reply) => {
          reply.headers({ ...UI_SECURITY_HEADERS, 'content-type': type }).send(body);
        });
      }
    }
  };
}
