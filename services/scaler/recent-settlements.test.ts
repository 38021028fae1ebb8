import { describe, expect, it } from 'vitest';
import { RecentSettlements } from './recent-settlements.ts';

describe('RecentSettlements', () => {
  it('remembers how each of the latest wakes was settled and forgets the oldest past its capacity', () => {
    const settlements = new RecentSettlements(2);
    settlements.record(1, 10n, 'ack');
    settlements.record(2, 20n, 'term');
    expect([settlements.of(1, 10n), settlements.of(2, 20n)]).toEqual(['ack', 'term']);
    settlements.record(3, 30n, 'ack');
    expect([settlements.of(1, 10n), settlements.of(2, 20n), settlements.of(3, 30n)]).toEqual([
      undefined,
      'term',
      'ack',
    ]);
  });

  it('counts a settlement recorded again as the latest', () => {
    const settlements = new RecentSettlements(2);
    settlements.record(1, 10n, 'ack');
    settlements.record(2, 20n, 'ack');
    settlements.record(1, 10n, 'term');
    settlements.record(3, 30n, 'ack');
    expect([settlements.of(1, 10n), settlements.of(2, 20n), settlements.of(3, 30n)]).toEqual([
      'term',
      undefined,
      'ack',
    ]);
  });

  it('knows nothing of another wake under a sequence it saw (a stream deleted and made again)', () => {
    const settlements = new RecentSettlements(2);
    settlements.record(1, 10n, 'term');
    expect(settlements.of(1, 99n)).toBeUndefined();
  });
});
