import { readdirSync, readFileSync } from 'node:fs';
import type { Knex } from 'knex';

/**
 * CPU time of the bench's own PostgreSQL server (its postmaster and every
 * process it started: the backends, the WAL writer, the checkpointer…), read
 * from Linux's /proc, so a benchmark can say how a row's time splits between
 * Node and the database. Undefined where /proc is not there (the figure is
 * then left out).
 */
export class PostgresCpu {
  private constructor(private readonly postmaster: number) {}

  /** The server behind `knex` (the parent of one of its backends), or undefined off Linux. */
  static async of(knex: Knex): Promise<PostgresCpu | undefined> {
    const { rows } = await knex.raw('select pg_backend_pid() as pid');
    const stat = procStat(Number(rows[0].pid));
    return stat ? new PostgresCpu(stat.ppid) : undefined;
  }

  /** CPU milliseconds the server's processes used so far (exited backends included, through the postmaster's children's time). */
  ms(): number {
    let ticks = 0;
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      const stat = procStat(pid);
      if (!stat) continue;
      if (pid === this.postmaster) ticks += stat.own + stat.children;
      else if (stat.ppid === this.postmaster) ticks += stat.own;
    }
    // USER_HZ: 100 on every Linux build Node runs on
    return ticks * 10;
  }
}

function procStat(
  pid: number,
): { ppid: number; own: number; children: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the fields after the command name (which may hold spaces and parentheses): state, ppid, …
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    ppid: Number(f[1]),
    own: Number(f[11]) + Number(f[12]),
    children: Number(f[13]) + Number(f[14]),
  };
}
