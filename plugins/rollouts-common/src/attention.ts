import type { SignalEvidence } from './evidence';
import type { Rollout } from './types';

/**
 * What makes a rollout need a person now (the on-call view), most urgent
 * first in {@link ATTENTION_KINDS}. @public
 */
export type AttentionKind =
  | 'failed-rollback'
  | 'watch-fired'
  | 'burning'
  | 'hold'
  | 'stale'
  | 'awaiting-approval'
  | 'paused';

/** Every attention kind, most urgent first. @public */
export const ATTENTION_KINDS: readonly AttentionKind[] = [
  'failed-rollback',
  'watch-fired',
  'burning',
  'hold',
  'stale',
  'awaiting-approval',
  'paused',
];

/** One rollout that needs a person, with what the on-call needs to act. @public */
export interface AttentionItem {
  rollout: Rollout;
  /** Why it needs a person, most urgent first. */
  needs: Array<{ kind: AttentionKind; text: string }>;
  /** The owning group or user (catalog `spec.owner`), full ref. */
  owner?: string;
  runbookUrl?: string;
  /** The last decision a person or the gate acted on, for "who acted last". */
  lastAction?: { actor: string; verdict: string; at: string };
  /** The service-level indicators, canary against baseline (error rate, latency). */
  health: SignalEvidence[];
}

/** Answer of `GET /v1/attention`. @public */
export interface AttentionList {
  items: AttentionItem[];
  generatedAt: string;
}
