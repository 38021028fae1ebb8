import { describe, expect, it } from 'vitest';
import { WorkloadNotFoundError } from './errors.ts';
import { workloadRef } from './workload-id.ts';

describe('workloadRef', () => {
  it('names the workload of a valid id in a watched namespace', () => {
    expect(workloadRef('team-a/api', ['team-a'])).toEqual({ namespace: 'team-a', name: 'api' });
    expect(workloadRef('any/api')).toEqual({ namespace: 'any', name: 'api' });
  });

  it('refuses an invalid id or an unwatched namespace as a workload that is not found', () => {
    expect(() => workloadRef('local/../etc')).toThrow(WorkloadNotFoundError);
    expect(() => workloadRef('team-b/api', ['team-a'])).toThrow(/namespace team-b is not watched/);
  });
});
