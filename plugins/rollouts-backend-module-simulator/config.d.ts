export interface Config {
  rollouts?: {
    providers?: {
      /** The simulator provider (the demo's default). */
      simulator?: {
        /** Set false to leave the simulator out (default true when the module is installed). */
        enabled?: boolean;
        /** Seed of every random number the simulator draws (default 42). */
        seed?: number;
        /** Seconds a service stays idle between two simulated rollouts (default 120). */
        idleSeconds?: number;
        /** Multiplies every simulated service's traffic (default 1); tests raise it to reach verdicts sooner. */
        trafficScale?: number;
        /**
         * Keep the simulated deploy system's state in this JSON file so it
         * survives a backend restart and is shared by several backend
         * processes (reliability tests use it). Default: in memory.
         */
        stateFile?: string;
        /** Milliseconds each deploy call takes to answer after it took effect (default 0); tests widen crash windows with it. */
        deployLatencyMs?: number;
        /** The simulated deploy system's steps (default 1 → 5 → 25 → 100 %, a minute each). */
        steps?: Array<{
          weight: number;
          minDurationSeconds?: number;
          requiresApproval?: boolean;
        }>;
        /** Days of finished rollouts to seed as history (default 30). */
        historyDays?: number;
        /**
         * fraud-scoring's first release regresses and the simulated deploy
         * system refuses its first three rollback calls, so the dashboard
         * and the on-call page show a failed rollback (default true).
         */
        demoFailedRollback?: boolean;
      };
    };
  };
}
