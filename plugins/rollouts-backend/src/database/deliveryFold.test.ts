import type { Knex } from 'knex';
import { DELIVERY_COLUMNS, type FoldedDecision } from './deliveryFigures';
import { DeliveryFold } from './deliveryFold';

const at = (min: number) =>
  new Date(Date.parse('2026-11-21T10:00:00.000Z') + min * 60_000).toISOString();

/** A rollouts row as the append's lock reads it: no decision folded yet. */
const unfolded = (id: string) => ({
  id,
  steps: JSON.stringify([{ weight: 10 }, { weight: 100 }]),
  ...Object.fromEntries(DELIVERY_COLUMNS.map(c => [c, null])),
});

const decision = (
  rolloutId: string,
  seq: number,
  serviceBurn: number,
): FoldedDecision => ({
  seq,
  rolloutId,
  verdict: 'continue',
  kind: 'automatic',
  outcome: 'none',
  createdAt: at(seq),
  reasons: ['healthy'],
  evidence: { checks: { burn: { service: { longBurn: serviceBurn } } } },
  stepIndex: 0,
});

/** The rows PostgreSQL's write sends (its one JSON parameter), by rollout id. */
async function pgWrite(fold: DeliveryFold) {
  const calls: unknown[][] = [];
  const trx = {
    raw: async (_sql: string, bindings: unknown[]) => {
      calls.push(bindings);
    },
  } as unknown as Knex.Transaction;
  await fold.write(trx, true);
  expect(calls).toHaveLength(1);
  const rows: Array<Record<string, string | null>> = JSON.parse(
    String(calls[0][0]),
  );
  return new Map(rows.map(r => [r.id, r]));
}

describe('DeliveryFold', () => {
  it('writes every decision folded, also those added after its write was built ahead', async () => {
    const ahead = new DeliveryFold([unfolded('r1'), unfolded('r2')]);
    ahead.add([decision('r1', 1, 2)]);
    // the append builds the write after its last run; anything folded later still counts
    ahead.prepare();
    ahead.add([decision('r1', 2, 4), decision('r2', 3, 1)]);
    const written = await pgWrite(ahead);

    const plain = new DeliveryFold([unfolded('r1'), unfolded('r2')]);
    plain.add([
      decision('r1', 1, 2),
      decision('r1', 2, 4),
      decision('r2', 3, 1),
    ]);
    expect(written).toEqual(await pgWrite(plain));
    // r1: burn 2 for the minute between its two decisions, then burn 4 from the second one
    expect(written.get('r1')).toMatchObject({
      budget_service: '120',
      burn_service: '4',
      burn_at: at(2),
    });
    expect(written.get('r2')).toMatchObject({ burn_at: at(3) });
  });

  it('writes the same rows whether or not the write was built ahead', async () => {
    const ahead = new DeliveryFold([unfolded('r1')]);
    ahead.add([decision('r1', 1, 2), decision('r1', 5, 3)]);
    ahead.prepare();
    const plain = new DeliveryFold([unfolded('r1')]);
    plain.add([decision('r1', 1, 2), decision('r1', 5, 3)]);
    expect(await pgWrite(ahead)).toEqual(await pgWrite(plain));
  });
});
