import {
  mkdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type { SimRollout } from './Simulation';

/** One mutating call on the simulated deploy system. */
export interface SimulatorCall {
  op: 'setStep' | 'promote' | 'rollback' | 'pause' | 'resume' | 'startRelease';
  target: string;
  version: string;
  stepIndex?: number;
  /** False when the call found the rollout already in the asked state. */
  changed: boolean;
  at: number;
  pid: number;
}

export interface SimulationState {
  bootedAt?: number;
  rollouts: SimRollout[];
  journal: SimulatorCall[];
}

const STALE_LOCK_MS = 5_000;
const MAX_JOURNAL = 50_000;
const EMPTY = JSON.stringify({ rollouts: [], journal: [] });
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * The simulator's deploy state in a JSON file, read and written under a
 * lock directory (mkdir is atomic), saved by write-then-rename so a process
 * killed mid-write leaves the previous state whole. A lock left by a killed
 * process goes stale after five seconds.
 */
export class SimulationStateFile {
  constructor(readonly path: string) {}

  read(): SimulationState {
    return JSON.parse(this.#text()) as SimulationState;
  }

  #text(): string {
    try {
      return readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
      throw new Error(
        `simulator: cannot read its state file ${this.path}: ${(e as Error).message}`,
      );
    }
  }

  /** Runs fn on the current state under the lock; writes the file only when fn changed the state. */
  update<T>(fn: (state: SimulationState) => T): T {
    this.#lock();
    try {
      const before = this.#text();
      const state = JSON.parse(before) as SimulationState;
      const result = fn(state);
      if (state.journal.length > MAX_JOURNAL)
        state.journal.splice(0, state.journal.length - MAX_JOURNAL);
      const after = JSON.stringify(state);
      if (after !== before) {
        const tmp = `${this.path}.${process.pid}.tmp`;
        writeFileSync(tmp, after);
        renameSync(tmp, this.path);
      }
      return result;
    } finally {
      rmdirSync(`${this.path}.lock`);
    }
  }

  #lock() {
    const lock = `${this.path}.lock`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        mkdirSync(lock);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) {
          rmdirSync(lock);
          continue;
        }
      } catch {
        continue; // released meanwhile
      }
      if (Date.now() > deadline)
        throw new Error(
          `simulator: state file ${this.path} stayed locked for 30 s`,
        );
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}
