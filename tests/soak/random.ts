/**
 * A small seeded generator, so that a failing soak run can be replayed from
 * the seed it printed: mulberry32, whose 32-bit state is enough for test
 * inputs and whose output passes gjrand's and PractRand's basic checks.
 *
 * @module
 */

/** Random numbers from a seed; the same seed gives the same sequence. */
export interface Random {
  /** The seed this generator started from. */
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number;
  /** `length` random bytes. */
  bytes(length: number): Uint8Array<ArrayBuffer>;
}

/** A seed for a new run: random, but printed by every scenario that uses it. */
export function newSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** A generator starting from `seed`. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    bytes(length) {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = next() * 256;
      return bytes;
    },
  };
}
