import type { DecisionPageJson } from '../database/decisionPageJson';
import type { RolloutsStore } from '../database/RolloutsStore';
import { identifiedJson, type CachedJson } from './cachedJson';

interface Page {
  answer: Promise<CachedJson>;
  bytes: number;
}

/**
 * Rollouts' decision pages as JSON bytes with their ETag, shared by every reader. The
 * log is append-only, so a page is fixed by the rollout, its size, its
 * cursor and — for the newest page, which has no cursor — the seq of the
 * rollout's newest decision when it was read: each request reads that seq
 * with the rollout's entity (one indexed read, `getDecisionHead`), so a
 * kept page is never stale, whichever replica appended. Pages are kept
 * within a byte budget, least recently used evicted first; concurrent
 * readers of a page not yet kept wait for one read. An on-call channel
 * opening one rollout's timeline costs one query and one serialisation,
 * not one per viewer and per live update.
 *
 * A page is written as JSON straight from its rows
 * (`getDecisionPageJson`), and its ETag is what fixes it — the page size
 * and its newest entry's seq and hash, which chains every entry before it —
 * instead of a hash of its bytes.
 */
export class DecisionPageCache {
  readonly #pages = new Map<string, Page>();
  #bytes = 0;

  constructor(
    private readonly store: RolloutsStore,
    private readonly options: { maxBytes?: number } = {},
  ) {}

  /**
   * A page of the rollout's decisions as JSON text, or undefined when there
   * is no such rollout. `authorize` runs with the rollout's entity before
   * anything is read or served.
   */
  async page(
    rolloutId: string,
    query: { limit?: number; before?: number },
    authorize: (entityRef: string) => Promise<void>,
  ): Promise<CachedJson | undefined> {
    const head = await this.store.getDecisionHead(rolloutId);
    if (!head) return undefined;
    await authorize(head.entityRef);
    const key = JSON.stringify([
      rolloutId,
      query.limit ?? null,
      query.before ?? null,
      // the newest page changes with each append; a page below a cursor never does
      query.before === undefined ? head.lastSeq : null,
    ]);
    return this.answer(key, async () =>
      pageAnswer(
        await this.store.getDecisionPageJson(rolloutId, query),
        query.limit ?? 50,
      ),
    );
  }

  /** The answer kept under `key`, or `load`'s, kept. */
  async answer(
    key: string,
    load: () => Promise<CachedJson>,
  ): Promise<CachedJson> {
    const hit = this.#pages.get(key);
    if (hit) {
      // most recently used last: eviction takes the oldest first
      this.#pages.delete(key);
      this.#pages.set(key, hit);
      return hit.answer;
    }
    const page: Page = { answer: load(), bytes: 0 };
    this.#pages.set(key, page);
    try {
      const answer = await page.answer;
      if (this.#pages.get(key) === page) {
        page.bytes = answer.body.length;
        this.#bytes += page.bytes;
        this.#evict();
      }
      return answer;
    } catch (e) {
      if (this.#pages.get(key) === page) this.#pages.delete(key);
      throw e;
    }
  }

  #evict() {
    const max = this.options.maxBytes ?? 16 * 1024 * 1024;
    for (const [key, page] of this.#pages) {
      if (this.#bytes <= max) break;
      if (!page.bytes) continue; // still loading
      this.#pages.delete(key);
      this.#bytes -= page.bytes;
    }
  }
}

/** The version of a page's JSON, in its ETag: change it with the format. */
const PAGE_FORMAT = 'p1';

/** A page's bytes, its ETag from what fixes it: the format, the page size and the newest entry. */
function pageAnswer(page: DecisionPageJson, limit: number): CachedJson {
  const newest = page.newest
    ? `${page.newest.seq}.${page.newest.hash.slice(0, 32)}`
    : 'none';
  return identifiedJson(page.json, `${PAGE_FORMAT}.${limit}.${newest}`);
}
