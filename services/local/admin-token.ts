/**
 * Local mode's control API token: `WAKEGATE_ADMIN_TOKEN` when given, else the one in the data folder
 * (`<data>/admin-token`, made on first start, readable by its owner only), so that the `wakegate` command
 * on the same machine finds it without being told.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

/** The path of the token file in a data folder. */
export const adminTokenPath = (dataDir: string) => join(dataDir, ADMIN_TOKEN_FILE);

/** The token in `dataDir`, made (32 random bytes, base64url) when there is none yet. */
export async function ensureAdminToken(dataDir: string): Promise<string> {
  const path = adminTokenPath(dataDir);
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token !== '') return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  return token;
}
