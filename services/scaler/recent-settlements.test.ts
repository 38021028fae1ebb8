import { describe, expect, it } from 'vitest';
import { RecentSettlements } from './recent-settlements.ts';

describe('RecentSettlements', () => {
  it('remembers how each of the latest wakes was settled and forgets the oldest past its capacity', () => {
    const settlements = new RecentSettlements(2);
    settlements.record(1, 'ack');
    settlements.record(2, 'term');
    expect([settlements.of(1), settlements.of(2)]).toEqual(['ack', 'term']);
    settlements.record(3, 'ack');
    expect([settlements.of(1), settlements.of(2), settlements.of(3)]).toEqual([undefined, 'term', 'ack']);
  });

  it('counts a settlement recorded again as the latest', () => {
    const settlements = new RecentSettlements(2);
    settlements.record(1, 'ack');
    settlements.record(2, 'ack');
    settlements.record(1, 'term');
    settlements.record(3, 'ack');
    expect([settlements.of(1), settlements.of(2), settlements.of(3)]).toEqual(['term', undefined, 'ack']);
  });
});
