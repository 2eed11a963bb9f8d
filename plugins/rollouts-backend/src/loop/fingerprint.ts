/** 32-bit FNV-1a of short strings (field names, KPI names), remembered. */
const textHashes = new Map<string, number>();
function textHash(s: string): number {
  let h = textHashes.get(s);
  if (h === undefined) {
    h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++)
      h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    h >>>= 0;
    if (textHashes.size < 10_000) textHashes.set(s, h);
  }
  return h;
}

/**
 * A 64-bit fingerprint of telemetry intervals (two 32-bit multiplicative
 * hashes over every number, field name, string and array length), much
 * cheaper than serialising them; used to check that intervals already
 * folded into a kept gate state are still what the provider reports.
 */
export class Fingerprint {
  static readonly #f64 = new Float64Array(1);
  static readonly #u32 = new Uint32Array(Fingerprint.#f64.buffer);
  h1 = 0x9e3779b9;
  h2 = 0x85ebca6b;

  #mix(x: number) {
    this.h1 = Math.imul(this.h1 ^ x, 2654435761);
    this.h2 = Math.imul(this.h2 ^ x, 1597334677);
  }

  add(v: unknown) {
    if (typeof v === 'number') {
      Fingerprint.#f64[0] = v;
      this.#mix(Fingerprint.#u32[0]);
      this.#mix(Fingerprint.#u32[1]);
    } else if (typeof v === 'string') {
      this.#mix(1);
      this.#mix(textHash(v));
    } else if (Array.isArray(v)) {
      this.#mix(2);
      this.#mix(v.length);
      for (let i = 0; i < v.length; i++) this.add(v[i]);
    } else if (v && typeof v === 'object') {
      this.#mix(3);
      for (const k in v) {
        if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
        this.#mix(textHash(k));
        this.add((v as Record<string, unknown>)[k]);
      }
      this.#mix(4);
    } else if (v === undefined) {
      this.#mix(5);
    } else if (v === null) {
      this.#mix(6);
    } else if (typeof v === 'boolean') {
      this.#mix(v ? 7 : 8);
    } else {
      this.#mix(9);
    }
  }

  equals(other: { h1: number; h2: number }) {
    return this.h1 === other.h1 && this.h2 === other.h2;
  }
}
