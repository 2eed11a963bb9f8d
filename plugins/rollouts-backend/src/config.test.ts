import { ConfigReader } from '@backstage/config';
import { readRolloutsConfig } from './config';

const read = (rollouts: object) =>
  readRolloutsConfig(new ConfigReader({ rollouts }));

describe('readRolloutsConfig', () => {
  it('takes the SLO window from rollouts.slo.windowDays, 30 days by default', () => {
    expect(read({}).sloWindowDays).toBe(30);
    expect(read({ slo: { windowDays: 28 } }).sloWindowDays).toBe(28);
  });

  it('refuses an SLO window that is not a whole number of days from 1 to 366, naming the key', () => {
    for (const windowDays of [0, 1.5, 400]) {
      expect(() => read({ slo: { windowDays } })).toThrow(
        /rollouts\.slo\.windowDays: expected a whole number of days from 1 to 366/,
      );
    }
  });
});
