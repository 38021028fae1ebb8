/**
 * The services image, checked statically: Docker cannot build images here (no registry to pull the base
 * image from), so this computes the files the Dockerfile's COPY lines put into the image, less what
 * .dockerignore keeps out of the build context, and checks that every TypeScript file among them can be
 * loaded there: each relative import names a file the image holds, and each bare import is a Node builtin or
 * a package of package.json `dependencies` (the only ones `npm ci --omit=dev` installs). Imports are read by
 * the TypeScript compiler's parser, type-only ones included. Its API is reached through entry points named
 * `unstable`, which may change in any release: that is why package.json pins typescript to one exact
 * version, so updating it is a deliberate change that runs this test.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join, posix } from 'node:path';
import { isStringLiteralLikeNode } from 'typescript/unstable/ast/is';
import { API } from 'typescript/unstable/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/** Joins continuation lines and drops comments and blank lines: one entry per instruction. */
function instructions(dockerfile: string): string[] {
  return dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

interface Copy {
  sources: string[];
  destination: string;
}

/** The final stage's COPY lines from the build context (a `--from` copy takes files from another stage). */
function contextCopies(dockerfile: string): { workdir: string; copies: Copy[]; command: string[] } {
  let workdir = '/';
  let copies: Copy[] = [];
  let command: string[] = [];
  for (const line of instructions(dockerfile)) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    switch (keyword.toUpperCase()) {
      case 'FROM':
        workdir = '/';
        copies = [];
        command = [];
        break;
      case 'WORKDIR':
        workdir = posix.resolve(workdir, args);
        break;
      case 'CMD':
        command = JSON.parse(args) as string[];
        break;
      case 'COPY': {
        if (args.startsWith('[')) throw new Error(`COPY in JSON form is not read by this test: ${line}`);
        const words = args.split(/\s+/);
        if (words.some((word) => word.startsWith('--from'))) break;
        const paths = words.filter((word) => !word.startsWith('--'));
        copies.push({ sources: paths.slice(0, -1), destination: posix.resolve(workdir, paths.at(-1) ?? '') });
        break;
      }
    }
  }
  return { workdir, copies, command };
}

/** A .dockerignore pattern as a regular expression over a context-relative path (Go's filepath.Match plus `**`). */
function patternRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (pattern.startsWith('**/', i)) {
      source += '(?:.*/)?';
      i += 2;
    } else if (pattern.startsWith('**', i)) {
      source += '.*';
      i += 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Whether .dockerignore keeps `path` out of the context: the last pattern matching it or a parent decides. */
function ignoredBy(dockerignore: string): (path: string) => boolean {
  const rules = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const keep = line.startsWith('!');
      return { keep, pattern: patternRegExp(posix.normalize(line.slice(keep ? 1 : 0)).replace(/^\/+/, '')) };
    });
  return (path) => {
    const segments = path.split('/');
    const prefixes = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) if (prefixes.some((prefix) => rule.pattern.test(prefix))) ignored = !rule.keep;
    return ignored;
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => posix.join(posix.relative(root, entry.parentPath), entry.name));
}

/**
 * Image path (relative to the WORKDIR) → context path of every file the image gets from the context.
 * Paths outside the WORKDIR keep their absolute image path.
 */
async function imageFiles(dockerfile: string, dockerignore: string): Promise<Map<string, string>> {
  const { workdir, copies } = contextCopies(dockerfile);
  const ignored = ignoredBy(dockerignore);
  const files = new Map<string, string>();
  for (const { sources, destination } of copies) {
    for (const source of sources) {
      const directory = (await stat(join(root, source))).isDirectory();
      const context = directory ? await filesUnder(source) : [posix.normalize(source)];
      for (const file of context) {
        if (ignored(file)) continue;
        const target = directory
          ? posix.join(destination, posix.relative(source, file))
          : destination.endsWith('/') || sources.length > 1
            ? posix.join(destination, posix.basename(file))
            : destination;
        files.set(target.startsWith(`${workdir}/`) ? posix.relative(workdir, target) : target, file);
      }
    }
  }
  return files;
}

/**
 * The module specifiers of each file, as the TypeScript parser finds them (imports, re-exports, `import()`
 * of a string). Each call opens its files as a project of their own that neither resolves imports nor loads
 * libraries, so reading them costs only their parsing.
 */
class ImportReader {
  readonly #configs = new Map<string, string>();
  readonly #api = new API({
    cwd: root,
    fs: {
      readFile: (file) => this.#configs.get(file),
      fileExists: (file) => (this.#configs.has(file) ? true : undefined),
    },
  });

  specifiers(files: string[]): Map<string, string[]> {
    const config = join(root, `image-imports-${this.#configs.size}.tsconfig.json`);
    this.#configs.set(
      config,
      JSON.stringify({
        compilerOptions: { noResolve: true, noLib: true, types: [], allowImportingTsExtensions: true },
        files: files.map((file) => join(root, file)),
      }),
    );
    const project = this.#api.updateSnapshot({ openProjects: [config] }).getProject(config);
    if (!project) throw new Error('the TypeScript API opened no project');
    const specifiers = new Map<string, string[]>();
    for (const file of files) {
      const source = project.program.getSourceFile(join(root, file));
      if (!source) throw new Error(`TypeScript did not parse ${file}`);
      specifiers.set(
        file,
        source.imports.filter(isStringLiteralLikeNode).map((node) => node.text),
      );
    }
    return specifiers;
  }

  close(): void {
    this.#api.close();
  }
}

/** Every import of `files` that the image could not load, as `file: specifier (why)`. */
function unloadable(
  specifiers: Map<string, string[]>,
  shipped: Set<string>,
  dependencies: Set<string>,
): string[] {
  const problems: string[] = [];
  for (const [file, imports] of specifiers) {
    for (const specifier of imports) {
      if (specifier.startsWith('.')) {
        const target = posix.join(posix.dirname(file), specifier);
        if (!shipped.has(target)) problems.push(`${file}: ${specifier} (${target} is not in the image)`);
      } else if (!isBuiltin(specifier)) {
        const parts = specifier.split('/');
        const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
        if (!dependencies.has(name)) problems.push(`${file}: ${specifier} (not a runtime dependency)`);
      }
    }
  }
  return problems;
}

describe('the services image (infra/docker/Dockerfile), checked without Docker', () => {
  let imports: ImportReader;
  let dockerfile: string;
  let dockerignore: string;
  let files: Map<string, string>;
  let dependencies: Set<string>;

  beforeAll(async () => {
    imports = new ImportReader();
    dockerfile = await readFile(join(root, 'infra/docker/Dockerfile'), 'utf8');
    dockerignore = await readFile(join(root, '.dockerignore'), 'utf8');
    files = await imageFiles(dockerfile, dockerignore);
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    dependencies = new Set(Object.keys(manifest.dependencies));
  });
  afterAll(() => imports?.close());

  it("installs packages without running their install scripts, in both images' every npm install", async () => {
    const wasmDockerfile = await readFile(join(root, 'infra/docker/wasm.Dockerfile'), 'utf8');
    const installs = [dockerfile, wasmDockerfile]
      .flatMap(instructions)
      .filter((line) => /^RUN\b/i.test(line))
      .flatMap((line) => line.split(/&&|;/))
      .filter((command) => /\bnpm\s+(ci|install|i)\b/.test(command));
    expect(installs.length).toBe(2);
    for (const install of installs) expect(install).toMatch(/\s--ignore-scripts\b/);
  });

  it('ships the entry points it is run with, and no tests or test support', () => {
    const { command } = contextCopies(dockerfile);
    for (const entry of [
      ...command,
      'services/bridge/main.ts',
      'services/watcher/main.ts',
      'services/scaler/main.ts',
      'examples/demo-backend.ts',
      'examples/grpc-demo-backend.ts',
    ]) {
      expect(files.has(entry), entry).toBe(true);
    }
    const shipped = [...files.keys()];
    expect(shipped.filter((file) => file.endsWith('.test.ts') || file.startsWith('test/'))).toEqual([]);
  });

  it('can load every TypeScript file it ships: imports resolve in the image or to runtime dependencies', () => {
    const sources = [...files.keys()].filter((file) => file.endsWith('.ts'));
    expect(sources.length).toBeGreaterThan(50);
    expect(unloadable(imports.specifiers(sources), new Set(files.keys()), dependencies)).toEqual([]);
  });

  it('would catch a file needing what the image lacks: the local gateway imports the filter host', () => {
    const gateway = 'services/local-gateway/gateway.ts';
    const problems = unloadable(imports.specifiers([gateway]), new Set(files.keys()), dependencies);
    expect(problems).toContain(
      `${gateway}: ../../wasm-filter/host/index.ts (wasm-filter/host/index.ts is not in the image)`,
    );
    expect(
      unloadable(new Map([['services/x.ts', ['vitest', '../test/until.ts']]]), new Set(), dependencies),
    ).toEqual([
      'services/x.ts: vitest (not a runtime dependency)',
      'services/x.ts: ../test/until.ts (test/until.ts is not in the image)',
    ]);
  });

  it('reads .dockerignore as Docker does: a pattern covers what lies below a match, and `!` lets back in', () => {
    const ignored = ignoredBy('**/*.test.ts\ntest\ndocs/*.md\n!docs/keep.md\n');
    expect(ignored('services/bridge/bridge.test.ts')).toBe(true);
    expect(ignored('test/until.ts')).toBe(true);
    expect(ignored('docs/bridge.md')).toBe(true);
    expect(ignored('docs/keep.md')).toBe(false);
    expect(ignored('services/bridge/bridge.ts')).toBe(false);
    expect(ignored('services/test.ts')).toBe(false);
  });
});
