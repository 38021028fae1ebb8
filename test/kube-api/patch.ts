/** The patch formats the API server accepts: JSON merge patch (RFC 7386) and JSON patch (RFC 6902). */
type Json = unknown;

export class PatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

interface Operation {
  op: string;
  path: string;
  value?: Json;
  from?: string;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function parentOf(document: Json, tokens: string[], pointer: string): { parent: Json; key: string } {
  let node = document;
  for (const token of tokens.slice(0, -1)) {
    node = Array.isArray(node) ? node[Number(token)] : isObject(node) ? node[token] : undefined;
    if (node === undefined) throw new PatchError(`path ${pointer} does not exist`);
  }
  return { parent: node, key: tokens[tokens.length - 1] as string };
}

function read(document: Json, pointer: string): Json {
  let node = document;
  for (const token of parsePointer(pointer)) {
    node = Array.isArray(node) ? node[Number(token)] : isObject(node) ? node[token] : undefined;
    if (node === undefined) throw new PatchError(`path ${pointer} does not exist`);
  }
  return node;
}

function remove(document: Json, pointer: string): Json {
  const { parent, key } = parentOf(document, parsePointer(pointer), pointer);
  if (Array.isArray(parent)) {
    const index = Number(key);
    if (!(index >= 0 && index < parent.length)) throw new PatchError(`path ${pointer} does not exist`);
    return parent.splice(index, 1)[0];
  }
  if (!isObject(parent) || !(key in parent)) throw new PatchError(`path ${pointer} does not exist`);
  const value = parent[key];
  delete parent[key];
  return value;
}

function add(document: Json, pointer: string, value: Json, replace: boolean): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return structuredClone(value);
  const { parent, key } = parentOf(document, tokens, pointer);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (!(Number.isInteger(index) && index >= 0 && index <= parent.length))
      throw new PatchError(`invalid index in ${pointer}`);
    if (replace) {
      if (index >= parent.length) throw new PatchError(`path ${pointer} does not exist`);
      parent[index] = structuredClone(value);
    } else parent.splice(index, 0, structuredClone(value));
  } else if (isObject(parent)) {
    if (replace && !(key in parent)) throw new PatchError(`path ${pointer} does not exist`);
    parent[key] = structuredClone(value);
  } else throw new PatchError(`path ${pointer} does not exist`);
  return document;
}

export function jsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations)) throw new PatchError('a JSON patch must be an array of operations');
  let document = structuredClone(target);
  for (const operation of operations as Operation[]) {
    if (!isObject(operation) || typeof operation.path !== 'string')
      throw new PatchError('each JSON patch operation needs an op and a path');
    switch (operation.op) {
      case 'add':
        document = add(document, operation.path, operation.value, false);
        break;
      case 'replace':
        document = add(document, operation.path, operation.value, true);
        break;
      case 'remove':
        remove(document, operation.path);
        break;
      case 'test':
        if (JSON.stringify(read(document, operation.path)) !== JSON.stringify(operation.value))
          throw new PatchError(`test operation failed at ${operation.path}`);
        break;
      case 'move': {
        const value = remove(document, String(operation.from));
        document = add(document, operation.path, value, false);
        break;
      }
      case 'copy':
        document = add(document, operation.path, read(document, String(operation.from)), false);
        break;
      default:
        throw new PatchError(`unknown JSON patch operation ${JSON.stringify(operation.op)}`);
    }
  }
  return document;
}
