import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js';
import type { TSchema } from 'typebox';
import { describe, expect, it } from 'vitest';
import { BackendsHeaders, BackendsQuery, ControlSleepQuery, ControlWakeQuery, WakeBody } from './schemas.ts';
import { bridgeValidatorCompiler } from './validator.ts';

type Part = 'querystring' | 'headers' | 'body';
const definition = (schema: TSchema, httpPart: Part) =>
  ({ schema, httpPart, method: 'GET', url: '/' }) as FastifyRouteSchemaDef<TSchema>;

/** What fastify makes of a validator's result: refused, or the part as the handler then sees it. */
function outcome(result: unknown, input: unknown): { ok: boolean; value?: unknown } {
  if (result === false) return { ok: false };
  if (typeof result === 'object' && result !== null && 'error' in result && result.error)
    return { ok: false };
  if (typeof result === 'object' && result !== null && 'value' in result)
    return { ok: true, value: result.value };
  return { ok: true, value: input };
}

function both(schema: TSchema, httpPart: Part, input: () => unknown) {
  const ours = bridgeValidatorCompiler(definition(schema, httpPart));
  const theirs = TypeBoxValidatorCompiler(definition(schema, httpPart));
  const mine = input();
  const reference = input();
  return { ours: outcome(ours(mine), mine), theirs: outcome(theirs(reference), reference) };
}

describe('bridge validator compiler', () => {
  it('accepts, refuses and converts every query, header and body as TypeBox’s own compiler does', () => {
    const cases: [TSchema, Part, Record<string, unknown> | null][] = [
      [BackendsQuery, 'querystring', { since: '12', wait: '30000' }],
      [BackendsQuery, 'querystring', {}],
      [BackendsQuery, 'querystring', { since: '007' }],
      [BackendsQuery, 'querystring', { since: 'abc' }],
      [BackendsQuery, 'querystring', { since: '-1' }],
      [BackendsQuery, 'querystring', { since: '9007199254740991' }],
      [BackendsQuery, 'querystring', { since: '9007199254740993' }],
      [BackendsQuery, 'querystring', { since: ['1', '2'] }],
      [BackendsQuery, 'querystring', { since: '1', other: 'x' }],
      [ControlWakeQuery, 'querystring', { wait: '600001' }],
      [ControlSleepQuery, 'querystring', { force: 'true' }],
      [ControlSleepQuery, 'querystring', { force: 'maybe' }],
      [BackendsHeaders, 'headers', { host: 'bridge', 'x-wakegate-delta': '1' }],
      [BackendsHeaders, 'headers', { host: 'bridge', 'x-wakegate-delta': '2' }],
      [BackendsHeaders, 'headers', { host: 'bridge' }],
      [WakeBody, 'body', { backend: 'shop/api' }],
      [WakeBody, 'body', { backend: 42 }],
      [WakeBody, 'body', null],
    ];
    for (const [schema, part, input] of cases) {
      const { ours, theirs } = both(schema, part, () => (input === null ? null : structuredClone(input)));
      expect({ part, input, ...ours }).toEqual({ part, input, ...theirs });
    }
  });

  it('refuses an integer written as anything but digits, which TypeBox would convert', () => {
    const validate = bridgeValidatorCompiler(definition(BackendsQuery, 'querystring'));
    // TypeBox's: 1.5 → 1, 1e3 → 1000, true → 1, '' → 0.
    for (const since of ['1.5', '1e3', 'true', '', ' 12', '0x10', '12 ']) {
      expect(outcome(validate({ since }), { since }), since).toEqual({ ok: false });
    }
    const wait = bridgeValidatorCompiler(definition(ControlWakeQuery, 'querystring'));
    expect(outcome(wait({ wait: 'true' }), { wait: 'true' })).toEqual({ ok: false });
    const digits = { wait: '5000' };
    expect(outcome(wait(digits), digits)).toEqual({ ok: true, value: { wait: 5000 } });
  });

  it('keeps the headers object fastify gave when it passes, so fastify does not copy it at every read', () => {
    const validate = bridgeValidatorCompiler(definition(BackendsHeaders, 'headers'));
    expect(validate({ host: 'bridge', 'x-wakegate-delta': '1' })).toBe(true);
  });
});
