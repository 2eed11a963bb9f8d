import { ladderFile, LADDER_METHODS, releases, runLadderBench } from './ladder';
import { replayLadder } from './ladder-runner';
import { parseScenario } from './scenario';

describe('bench:ladder', () => {
  const { rows, releases: rs, walks } = runLadderBench();

  it('walks every release with every method and scores them', () => {
    expect(rows.map(r => r.method)).toEqual(LADDER_METHODS.map(m => m.name));
    for (const r of rows)
      expect(r.regressions + r.nonRegressions).toBe(rs.length);
    const families = new Set(rs.map(r => r.family));
    expect(families.size).toBe(9);
    // 2,000 req/min and diurnal traffic among the healthy releases
    const healthy = rs.filter(r => r.kind === 'healthy');
    expect(healthy.some(r => r.spec.traffic === 2000)).toBe(true);
    expect(healthy.some(r => (r.spec.diurnal ?? 0) > 0)).toBe(true);
  });

  it('the generator is seeded: the same seed gives the same releases', () => {
    expect(JSON.stringify(releases(7).map(r => r.spec))).toBe(
      JSON.stringify(releases(7).map(r => r.spec)),
    );
    expect(JSON.stringify(releases(7).map(r => r.spec))).not.toBe(
      JSON.stringify(releases(8).map(r => r.spec)),
    );
  });

  it("the engine's walks written as ladder files replay to the same outcome", () => {
    const ws = walks.get(LADDER_METHODS[0].name)!;
    const got: string[] = [];
    const want: string[] = [];
    rs.forEach((r, i) => {
      const w = ws[i];
      const lines = replayLadder(
        parseScenario(ladderFile(r, w).text, `${r.spec.name}.jsonl`),
      );
      const last = lines[lines.length - 1];
      // a rollback by the bake watch happened after the file's end: its promotion to full
      const fullTick = w.shares.filter(x => x < 1).length;
      const inBake = w.outcome === 'rollback' && w.tick > fullTick;
      const verdict = {
        full: 'promote',
        rollback: 'rollback',
        stalled: 'no verdict',
      }[inBake ? 'full' : w.outcome];
      const lastVerdict =
        last.verdict === 'promote' || last.verdict === 'rollback'
          ? last.verdict
          : 'no verdict';
      got.push(`${r.spec.name} ${last.tick} ${lastVerdict}`);
      want.push(`${r.spec.name} ${inBake ? fullTick : w.tick} ${verdict}`);
    });
    expect(got).toEqual(want);
  });

  it('keeps loose guards on the figures reported in the README (seed 2026)', () => {
    const t = rows[0];
    expect(t.caught / t.regressions).toBeGreaterThan(0.8);
    expect(t.healthyFull / t.healthy).toBeGreaterThanOrEqual(0.95);
    expect(t.falseRollbacks).toBeLessThanOrEqual(Math.floor(rs.length / 40));
    const kayenta = rows.find(r => r.method.startsWith('kayenta'))!;
    expect(t.badRequests).toBeLessThan(kayenta.badRequests);
  });
});
