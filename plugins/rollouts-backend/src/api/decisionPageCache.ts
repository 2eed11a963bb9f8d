import type { RolloutsStore } from '../database/RolloutsStore';

const ENTITY_REF_TTL_MS = 60_000;

interface Page {
  text: Promise<string>;
  bytes: number;
  /** The store's generation when read; undefined for a page that never changes. */
  generation?: number;
  at: number;
}

/**
 * The JSON text of rollouts' decision pages, shared by every reader. The
 * log is append-only, so a page below a cursor (`before`) never changes and
 * is kept until the byte budget evicts it (least recently used first). The
 * newest page changes with every append: it is kept while this store has
 * not written and for at most `newestPageTtlMs` (another replica's appends
 * show within that). Concurrent readers of a page not yet kept wait for one
 * read. An on-call channel opening one rollout's timeline costs one query
 * and one serialisation, not one per viewer and per live update.
 */
export class DecisionPageCache {
  readonly #pages = new Map<string, Page>();
  readonly #entityRefs = new Map<string, { ref: string; at: number }>();
  #bytes = 0;

  constructor(
    private readonly store: RolloutsStore,
    private readonly options: {
      maxBytes?: number;
      newestPageTtlMs?: number;
      maxRollouts?: number;
    } = {},
  ) {}

  /**
   * The rollout's entity ref (for the permission check), without reading
   * its evidence snapshot on every request; undefined when there is no
   * such rollout. Kept for a minute (a row's entity is set when it is
   * discovered or registered and not moved after).
   */
  async entityRefOf(id: string): Promise<string | undefined> {
    const known = this.#entityRefs.get(id);
    if (known && Date.now() - known.at < ENTITY_REF_TTL_MS) return known.ref;
    const rollout = await this.store.getRollout(id);
    this.#entityRefs.delete(id);
    if (!rollout) return undefined;
    if (this.#entityRefs.size >= (this.options.maxRollouts ?? 10_000))
      this.#entityRefs.delete(this.#entityRefs.keys().next().value!);
    this.#entityRefs.set(id, { ref: rollout.entityRef, at: Date.now() });
    return rollout.entityRef;
  }

  /** The page's JSON text: kept, or read by `load` and kept. */
  async text(
    key: string,
    immutable: boolean,
    load: () => Promise<unknown>,
  ): Promise<string> {
    const generation = this.store.generation();
    const hit = this.#pages.get(key);
    if (hit && this.#fresh(hit, generation)) {
      // most recently used last: eviction takes the oldest first
      this.#pages.delete(key);
      this.#pages.set(key, hit);
      return hit.text;
    }
    if (hit) this.#drop(key, hit);
    const page: Page = {
      text: load().then(body => JSON.stringify(body)),
      bytes: 0,
      generation: immutable ? undefined : generation,
      at: Date.now(),
    };
    this.#pages.set(key, page);
    try {
      const text = await page.text;
      if (this.#pages.get(key) === page) {
        page.bytes = text.length;
        this.#bytes += text.length;
        this.#evict();
      }
      return text;
    } catch (e) {
      if (this.#pages.get(key) === page) this.#pages.delete(key);
      throw e;
    }
  }

  #fresh(page: Page, generation: number) {
    if (page.generation === undefined) return true;
    return (
      page.generation === generation &&
      Date.now() - page.at < (this.options.newestPageTtlMs ?? 1_000)
    );
  }

  #drop(key: string, page: Page) {
    this.#pages.delete(key);
    this.#bytes -= page.bytes;
  }

  #evict() {
    const max = this.options.maxBytes ?? 16 * 1024 * 1024;
    for (const [key, page] of this.#pages) {
      if (this.#bytes <= max) break;
      if (page.bytes) this.#drop(key, page);
    }
  }
}
