/** One of `count` slices of the active rollouts; each is its own scheduled task. */
export interface Shard {
  index: number;
  count: number;
}

/**
 * The shard a rollout belongs to: a stable hash of its id (32-bit FNV-1a,
 * then murmur3's finaliser) modulo the number of shards, the same on every replica.
 */
export function shardOf(rolloutId: string, count: number): number {
  if (count <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < rolloutId.length; i++) {
    h = Math.imul(h ^ rolloutId.charCodeAt(i), 16777619);
  }
  // FNV's low bits mix poorly: finish with murmur3's avalanche before the modulo.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % count;
}

/** The scheduler task id of a shard (one shard keeps the loop's historical id). */
export function shardTaskId(shard: Shard): string {
  return shard.count <= 1
    ? 'rollouts-gate-loop'
    : `rollouts-gate-loop-${shard.index + 1}-of-${shard.count}`;
}
