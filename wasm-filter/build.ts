/**
 * Builds the filter (build/wakegate.wasm) and the host's test modules (build/test-modules/*.wasm) with the
 * AssemblyScript compiler. `node wasm-filter/build.ts` (npm run build) always compiles; `buildWasm()` with
 * `onlyIfStale` (the test setup) skips when every output is newer than every source.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = dirname(fileURLToPath(import.meta.url));
const buildDir = join(root, 'build');

// Envoy provides no env.abort: ours logs through proxy_log. _initialize keeps top-level code from running
// while V8 instantiates the module. Incremental runtime: the module collects its own garbage.
const flags = [
  '--runtime',
  'incremental',
  '--exportStart',
  '_initialize',
  '--use',
  'abort=assembly/abi/wakegateAbort',
  '--optimizeLevel',
  '3',
  '--shrinkLevel',
  '0',
];

/** Where modules are loaded from: the build folder, or WAKEGATE_WASM_DIR, a folder laid out like it (the
 * filter's mutation testing points the tests at a mutant built there). Builds always go to `outDir`. */
const loadDir = process.env.WAKEGATE_WASM_DIR || buildDir;

export const filterWasmPath = join(loadDir, 'wakegate.wasm');

export function testModulePath(name: string): string {
  return join(loadDir, 'test-modules', `${name}.wasm`);
}

/** The .ts files in dir; with `recursive`, in its subfolders too. */
async function sources(
  dir: string,
  options: { recursive?: boolean; sourceRoot?: string } = {},
): Promise<string[]> {
  const names = await readdir(join(options.sourceRoot ?? root, dir), {
    recursive: options.recursive ?? false,
  });
  return names.filter((f) => f.endsWith('.ts')).map((f) => join(dir, f));
}

async function mtime(path: string): Promise<number> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return 0;
  }
}

async function compile(entry: string, output: string, sourceRoot = root): Promise<void> {
  await mkdir(dirname(output), { recursive: true });
  let errors = '';
  const { error } = await asc.main([entry, '--outFile', output, ...flags], {
    stdout: { write: () => true },
    stderr: {
      write: (chunk: string | Uint8Array) => {
        errors += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
        return true;
      },
    },
    // Resolve sources relative to wasm-filter/ so the --use path above holds wherever we run from.
    readFile: async (name: string, base: string) => {
      try {
        return await readFile(join(sourceRoot, base, name), 'utf8');
      } catch {
        return null;
      }
    },
  });
  if (error) throw new Error(`asc ${entry}: ${error.message}\n${errors}`);
}

export type BuildOptions = {
  onlyIfStale?: boolean;
  /** A folder laid out like wasm-filter/ (assembly/, test-modules/) to compile instead of this one. */
  sourceRoot?: string;
  /** Where the modules go (default wasm-filter/build). */
  outDir?: string;
};

export async function buildWasm(options: BuildOptions = {}): Promise<string[]> {
  const sourceRoot = options.sourceRoot ?? root;
  const outDir = options.outDir ?? buildDir;
  // A filter source in a subfolder of assembly/ makes the filter and every test module stale too.
  const filterSources = await sources('assembly', { recursive: true, sourceRoot });
  const moduleSources = await sources('test-modules', { sourceRoot });
  // What the test modules import their host functions from: a change there makes every one stale. A copy of
  // the sources with only some test modules (the mutation tests') may have no such folder.
  const moduleImports = await sources('test-modules/imports', { sourceRoot }).catch(() => []);
  const targets: [entry: string, output: string, inputs: string[]][] = [
    ['assembly/index.ts', join(outDir, 'wakegate.wasm'), filterSources],
    ...moduleSources.map((s): [string, string, string[]] => [
      s,
      join(outDir, 'test-modules', `${s.slice('test-modules/'.length, -3)}.wasm`),
      [s, ...filterSources, ...moduleImports],
    ]),
  ];
  const built: string[] = [];
  for (const [entry, output, inputs] of targets) {
    if (options.onlyIfStale) {
      const newest = Math.max(
        ...(await Promise.all([
          ...inputs.map((i) => mtime(join(sourceRoot, i))),
          mtime(join(root, 'build.ts')),
        ])),
      );
      if ((await mtime(output)) > newest) continue;
    }
    await compile(entry, output, sourceRoot);
    built.push(output);
  }
  return built;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = await buildWasm();
  for (const b of built) console.log(`built ${b}`);
}
