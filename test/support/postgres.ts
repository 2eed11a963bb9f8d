/**
 * A private PostgreSQL cluster for tests (Debian's `postgresql` package).
 * Outside CI a missing installation skips the PostgreSQL suites with a
 * clear message; in CI (CI=true) it is an error, because `.ci/run` installs it.
 */
import { freePort, runsOrSkips } from './system';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PostgresServer {
  /** Connection string for a database that is created on demand by `createDatabase`. */
  connection(database: string): {
    host: string;
    port: number;
    user: string;
    database: string;
  };
  createDatabase(name: string): Promise<void>;
  stop(): void;
}

function findBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = join(base, v, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')))
      return dir;
  }
  return undefined;
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresUnavailableReason(): string | undefined {
  if (!findBinDir()) {
    return 'PostgreSQL is not installed (Debian package `postgresql`; .ci/run installs it)';
  }
  if (process.getuid?.() !== 0 && !process.env.TOLLGATE_PG_AS_SELF) {
    return 'PostgreSQL tests start a private cluster as the postgres user and need root';
  }
  return undefined;
}

/** Fails in CI, where every suite must run; elsewhere says it skips. */
export function assertPostgresOrSkip(suite: string): boolean {
  return runsOrSkips(suite, postgresUnavailableReason());
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = findBinDir();
  if (!bin) throw new Error(postgresUnavailableReason());
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const pgUid = Number(
    execFileSync('id', ['-u', 'postgres']).toString().trim(),
  );
  const pgGid = Number(
    execFileSync('id', ['-g', 'postgres']).toString().trim(),
  );
  chownSync(dir, pgUid, pgGid);
  const asPg = (cmd: string, args: string[]) => {
    const r = spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], {
      encoding: 'utf8',
    });
    if (r.status !== 0)
      throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  asPg(join(bin, 'initdb'), [
    '-D',
    data,
    '--auth=trust',
    '-U',
    'postgres',
    '--no-sync',
  ]);
  asPg(join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
    '-l',
    join(dir, 'pg.log'),
    '-w',
    'start',
  ]);
  const stop = () => {
    spawnSync(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        join(bin, 'pg_ctl'),
        '-D',
        data,
        '-m',
        'immediate',
        'stop',
      ],
      { encoding: 'utf8' },
    );
    rmSync(dir, { recursive: true, force: true });
  };
  const connection = (database: string) => ({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database,
  });
  return {
    connection,
    async createDatabase(name: string) {
      const { default: knexFactory } = await import('knex');
      const admin = knexFactory({
        client: 'pg',
        connection: connection('postgres'),
      });
      try {
        await admin.raw(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await admin.destroy();
      }
    },
    stop,
  };
}
