/** What the suites that need a system package or a port share. */
import { createServer } from 'node:net';

/**
 * A suite that needs a missing system package: in CI (`CI` set) it fails,
 * since CI never skips; elsewhere it says `[skipped] …` and why.
 * Returns true when the suite can run.
 */
export function runsOrSkips(
  suite: string,
  unavailableReason: string | undefined,
): boolean {
  if (!unavailableReason) return true;
  if (process.env.CI) {
    throw new Error(
      `${suite}: ${unavailableReason}. CI never skips this suite.`,
    );
  }
  // eslint-disable-next-line no-console
  console.warn(`[skipped] ${suite}: ${unavailableReason}`);
  return false;
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr
          ? resolve(addr.port)
          : reject(new Error('no free port')),
      );
    });
  });
}
