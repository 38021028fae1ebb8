/**
 * A small kustomize for the tests: it builds the resource list of a kustomization the way
 * `kubectl kustomize` does for the features wakegate's manifests use (resources, components, JSON 6902
 * patches with a target, `$patch: delete` patches, replacements), and refuses anything else with a clear error rather than
 * building something kustomize would not. It is stricter than kustomize in one way: a patch or replacement
 * target that selects nothing is an error here, not a silent no-op, because it is always a typo in these
 * manifests. No kustomize binary can be installed here.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

export interface BuiltResource {
  object: KubeObject;
  /** The file the resource came from. */
  file: string;
}

export interface Build {
  resources: BuiltResource[];
  /** Every file read: kustomizations, resource files and patch files. */
  files: Set<string>;
}

export class KustomizeError extends Error {
  constructor(where: string, detail: string) {
    super(`${where}: ${detail}`);
    this.name = 'KustomizeError';
  }
}

const KUSTOMIZATION_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'patches',
  'replacements',
]);

type Json = unknown;
type Selector = {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
};

/** Parses every YAML document of a file; empty documents (a trailing `---`) are dropped. */
function readYamlDocuments(file: string): Json[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  const values: Json[] = [];
  for (const document of documents) {
    if (document.errors.length > 0) {
      throw new KustomizeError(file, `invalid YAML: ${document.errors[0]?.message}`);
    }
    const value = document.toJS();
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}

function findKustomization(dir: string): string | undefined {
  for (const name of KUSTOMIZATION_NAMES) {
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** `<group>/<kind>/<namespace>/<name>`: what kustomize treats as one resource (the version aside). */
function resourceId(object: KubeObject): string {
  const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : '';
  return `${group}/${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asKubeObject(value: Json, file: string): KubeObject {
  if (
    !isObject(value) ||
    typeof value.apiVersion !== 'string' ||
    typeof value.kind !== 'string' ||
    !isObject(value.metadata) ||
    typeof value.metadata.name !== 'string'
  ) {
    throw new KustomizeError(file, 'a resource needs apiVersion, kind and metadata.name');
  }
  return value as KubeObject;
}

function stringList(value: Json, where: string, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new KustomizeError(where, `${field} must be a list of paths`);
  }
  return value;
}

function loadKustomization(dir: string, expectedKind: string, build: Build): Record<string, Json> {
  const file = findKustomization(dir);
  if (!file) throw new KustomizeError(dir, 'no kustomization.yaml');
  build.files.add(file);
  const [spec, ...rest] = readYamlDocuments(file);
  if (!isObject(spec) || rest.length > 0) throw new KustomizeError(file, 'must hold one mapping');
  const kind = spec.kind ?? 'Kustomization';
  if (kind !== expectedKind) throw new KustomizeError(file, `expected kind ${expectedKind}, found ${kind}`);
  for (const field of Object.keys(spec)) {
    if (!SUPPORTED_FIELDS.has(field)) throw new KustomizeError(file, `unsupported field ${field}`);
  }
  return spec;
}

function addResources(list: BuiltResource[], added: BuiltResource[]): void {
  const seen = new Map(list.map((r) => [resourceId(r.object), r.file]));
  for (const resource of added) {
    const id = resourceId(resource.object);
    const first = seen.get(id);
    if (first !== undefined) {
      throw new KustomizeError(resource.file, `duplicate resource ${id} (also in ${first})`);
    }
    seen.set(id, resource.file);
    list.push(resource);
  }
}

function loadResources(dir: string, entries: string[], build: Build): BuiltResource[] {
  const list: BuiltResource[] = [];
  for (const entry of entries) {
    if (/^[a-z]+:\/\//.test(entry) || entry.startsWith('github.com/')) {
      throw new KustomizeError(dir, `remote resource ${entry} is not supported`);
    }
    const target = path.resolve(dir, entry);
    if (!existsSync(target)) throw new KustomizeError(dir, `resource ${entry} does not exist`);
    if (statSync(target).isDirectory()) {
      addResources(list, accumulate(target, 'Kustomization', [], build));
    } else {
      build.files.add(target);
      const objects = readYamlDocuments(target).map((doc) => ({
        object: structuredClone(asKubeObject(doc, target)),
        file: target,
      }));
      addResources(list, objects);
    }
  }
  return list;
}

/** Loads a kustomization (or component) over the resources accumulated so far. */
function accumulate(dir: string, kind: string, base: BuiltResource[], build: Build): BuiltResource[] {
  const spec = loadKustomization(dir, kind, build);
  const list = [...base];
  addResources(list, loadResources(dir, stringList(spec.resources, dir, 'resources'), build));
  let result = list;
  for (const component of stringList(spec.components, dir, 'components')) {
    const target = path.resolve(dir, component);
    if (!existsSync(target)) throw new KustomizeError(dir, `component ${component} does not exist`);
    result = accumulate(target, 'Component', result, build);
  }
  applyPatches(dir, spec.patches, result, build);
  applyReplacements(dir, spec.replacements, result);
  return result;
}

export function kustomizeBuild(dir: string): Build {
  const build: Build = { resources: [], files: new Set() };
  build.resources = accumulate(path.resolve(dir), 'Kustomization', [], build);
  return build;
}

function matches(object: KubeObject, selector: Selector): boolean {
  const [group, version] = object.apiVersion.includes('/')
    ? (object.apiVersion.split('/') as [string, string])
    : ['', object.apiVersion];
  return (
    (selector.group === undefined || selector.group === group) &&
    (selector.version === undefined || selector.version === version) &&
    (selector.kind === undefined || selector.kind === object.kind) &&
    (selector.name === undefined || selector.name === object.metadata.name) &&
    (selector.namespace === undefined || selector.namespace === object.metadata.namespace)
  );
}

function selected(list: BuiltResource[], selector: Json, where: string): BuiltResource[] {
  if (!isObject(selector)) throw new KustomizeError(where, 'a target needs a selector');
  for (const key of Object.keys(selector)) {
    if (!['group', 'version', 'kind', 'name', 'namespace'].includes(key)) {
      throw new KustomizeError(where, `unsupported selector field ${key}`);
    }
  }
  const found = list.filter((r) => matches(r.object, selector as Selector));
  if (found.length === 0) {
    throw new KustomizeError(where, `target ${JSON.stringify(selector)} matches no resource`);
  }
  return found;
}

// JSON 6902 on the parsed objects.

function pointer(pathText: string, where: string): string[] {
  if (pathText === '') return [];
  if (!pathText.startsWith('/')) throw new KustomizeError(where, `invalid JSON pointer ${pathText}`);
  return pathText
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function childOf(parent: Json, token: string, where: string): Json {
  if (Array.isArray(parent)) return parent[Number(token)];
  if (isObject(parent)) return parent[token];
  throw new KustomizeError(where, `cannot descend into ${JSON.stringify(parent)} at ${token}`);
}

function applyOperation(object: KubeObject, operation: Json, where: string): void {
  if (!isObject(operation) || typeof operation.op !== 'string' || typeof operation.path !== 'string') {
    throw new KustomizeError(where, 'a JSON 6902 operation needs op and path');
  }
  const tokens = pointer(operation.path, where);
  const last = tokens.pop();
  if (last === undefined) throw new KustomizeError(where, 'cannot patch the whole resource');
  let parent: Json = object;
  for (const token of tokens) {
    parent = childOf(parent, token, where);
    if (parent === undefined) throw new KustomizeError(where, `path ${operation.path} does not exist`);
  }
  const exists = Array.isArray(parent)
    ? Number(last) < parent.length
    : isObject(parent) && Object.hasOwn(parent, last);
  switch (operation.op) {
    case 'add':
      if (Array.isArray(parent))
        parent.splice(last === '-' ? parent.length : Number(last), 0, operation.value);
      else if (isObject(parent)) parent[last] = operation.value;
      return;
    case 'replace':
    case 'remove':
      if (!exists) throw new KustomizeError(where, `path ${operation.path} does not exist`);
      if (operation.op === 'replace') (parent as Record<string, Json>)[last] = operation.value;
      else if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete (parent as Record<string, Json>)[last];
      return;
    case 'test':
      if (JSON.stringify(childOf(parent, last, where)) !== JSON.stringify(operation.value)) {
        throw new KustomizeError(where, `test of ${operation.path} failed`);
      }
      return;
    default:
      throw new KustomizeError(where, `unsupported JSON 6902 op ${operation.op}`);
  }
}

function applyPatches(dir: string, patches: Json, list: BuiltResource[], build: Build): void {
  if (patches === undefined) return;
  if (!Array.isArray(patches)) throw new KustomizeError(dir, 'patches must be a list');
  for (const patch of patches) {
    if (!isObject(patch)) throw new KustomizeError(dir, 'a patch must be a mapping');
    let operations: Json;
    let where = dir;
    if (typeof patch.path === 'string') {
      where = path.resolve(dir, patch.path);
      if (!existsSync(where)) throw new KustomizeError(dir, `patch ${patch.path} does not exist`);
      build.files.add(where);
      operations = readYamlDocuments(where)[0];
    } else if (typeof patch.patch === 'string') {
      operations = parseAllDocuments(patch.patch)[0]?.toJS();
    } else {
      throw new KustomizeError(dir, 'a patch needs path or patch');
    }
    if (isObject(operations) && operations.$patch === 'delete') {
      if (patch.target !== undefined)
        throw new KustomizeError(where, 'a delete patch names its resource itself');
      deleteResource(list, operations, where);
      continue;
    }
    if (!Array.isArray(operations)) {
      throw new KustomizeError(
        where,
        'only JSON 6902 patches (a list of operations) and `$patch: delete` are supported',
      );
    }
    for (const resource of selected(list, patch.target, where)) {
      for (const operation of operations) applyOperation(resource.object, operation, where);
    }
  }
}

/**
 * A strategic-merge patch of just `$patch: delete` with the resource's apiVersion, kind and name (and
 * namespace): kustomize removes that resource from the build. Anything else in it is refused.
 */
function deleteResource(list: BuiltResource[], patch: Record<string, Json>, where: string): void {
  const { $patch: _, apiVersion, kind, metadata, ...rest } = patch;
  if (Object.keys(rest).length > 0 || typeof apiVersion !== 'string' || typeof kind !== 'string') {
    throw new KustomizeError(where, 'a delete patch has only $patch, apiVersion, kind and metadata');
  }
  if (!isObject(metadata) || typeof metadata.name !== 'string') {
    throw new KustomizeError(where, 'a delete patch needs metadata.name');
  }
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const selector: Selector = { group, version, kind, name: metadata.name };
  if (typeof metadata.namespace === 'string') selector.namespace = metadata.namespace;
  const doomed = new Set(selected(list, selector, where));
  for (let i = list.length - 1; i >= 0; i--) {
    if (doomed.has(list[i] as BuiltResource)) list.splice(i, 1);
  }
}

// Replacements: fieldPaths are dotted, with `[key=value]` to pick a list item and digits for an index.

function fieldPath(text: string): string[] {
  return text.match(/\[[^\]]*\]|[^.]+/g) ?? [];
}

function step(node: Json, segment: string): Json {
  const pick = /^\[([^=\]]+)=([^\]]*)\]$/.exec(segment);
  if (pick) {
    return Array.isArray(node)
      ? node.find((item) => isObject(item) && item[pick[1] as string] === pick[2])
      : undefined;
  }
  if (Array.isArray(node) && /^\d+$/.test(segment)) return node[Number(segment)];
  return isObject(node) ? node[segment] : undefined;
}

/** The value at a replacement fieldPath, or undefined when any step is missing. */
function getField(object: Json, text: string): Json {
  let node = object;
  for (const segment of fieldPath(text)) {
    node = step(node, segment);
    if (node === undefined) return undefined;
  }
  return node;
}

function setField(object: KubeObject, text: string, value: Json, where: string): void {
  const segments = fieldPath(text);
  const last = segments.pop() as string;
  let node: Json = object;
  for (const segment of segments) {
    node = step(node, segment);
    if (node === undefined) throw new KustomizeError(where, `fieldPath ${text} does not exist`);
  }
  if (!isObject(node) || !Object.hasOwn(node, last)) {
    throw new KustomizeError(where, `fieldPath ${text} does not exist`);
  }
  node[last] = structuredClone(value);
}

function applyReplacements(dir: string, replacements: Json, list: BuiltResource[]): void {
  if (replacements === undefined) return;
  if (!Array.isArray(replacements)) throw new KustomizeError(dir, 'replacements must be a list');
  for (const replacement of replacements) {
    if (!isObject(replacement) || !isObject(replacement.source) || !Array.isArray(replacement.targets)) {
      throw new KustomizeError(dir, 'a replacement needs source and targets');
    }
    const { fieldPath: sourcePath = 'metadata.name', ...sourceSelector } = replacement.source;
    const sources = selected(list, sourceSelector, dir);
    if (sources.length !== 1) throw new KustomizeError(dir, 'a replacement source must match one resource');
    const value = getField((sources[0] as BuiltResource).object, String(sourcePath));
    // kustomize treats a null, an empty map and an empty list as missing too (an empty string is a value).
    const empty =
      value === undefined ||
      value === null ||
      (Array.isArray(value) ? value.length === 0 : isObject(value) && Object.keys(value).length === 0);
    if (empty) throw new KustomizeError(dir, `source fieldPath ${sourcePath} does not exist`);
    for (const target of replacement.targets) {
      if (!isObject(target) || !Array.isArray(target.fieldPaths)) {
        throw new KustomizeError(dir, 'a replacement target needs select and fieldPaths');
      }
      for (const resource of selected(list, target.select, dir)) {
        for (const text of target.fieldPaths) setField(resource.object, String(text), value, dir);
      }
    }
  }
}
