import { mockCredentials } from '@backstage/backend-test-utils';
import type { PermissionsService } from '@backstage/backend-plugin-api';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { readableEntityRefs } from './readableEntities';

/** A permission backend that allows even-numbered services, answers after `ms`, and counts requests in flight. */
function slowPolicy(ms: number) {
  const seen = { requests: 0, inFlight: 0, maxInFlight: 0, questions: 0 };
  const permissions = {
    authorize: async (questions: Array<{ resourceRef?: string }>) => {
      seen.requests++;
      seen.questions += questions.length;
      seen.inFlight++;
      seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
      await new Promise(r => setTimeout(r, ms));
      seen.inFlight--;
      return questions.map(q => ({
        result:
          Number(q.resourceRef!.split('-').pop()) % 2 === 0
            ? AuthorizeResult.ALLOW
            : AuthorizeResult.DENY,
      }));
    },
  } as unknown as PermissionsService;
  return { permissions, seen };
}

describe('readableEntityRefs', () => {
  const refs = Array.from(
    { length: 1000 },
    (_, i) => `component:default/svc-${i}`,
  );

  it('asks about 1,000 services in batches of 250 at the same time, and keeps exactly the allowed ones', async () => {
    const { permissions, seen } = slowPolicy(50);
    const allowed = await readableEntityRefs(
      permissions,
      mockCredentials.user(),
      [...refs, ...refs.slice(0, 10)],
    );
    expect(seen).toMatchObject({ requests: 4, questions: 1000 });
    // one round trip's wait, not four
    expect(seen.maxInFlight).toBe(4);
    expect(allowed.size).toBe(500);
    expect(allowed.has('component:default/svc-998')).toBe(true);
    expect(allowed.has('component:default/svc-999')).toBe(false);
  });
});
