// Argument checks shared by the public functions: each error names the
// argument, shows the value it got, and says what to pass instead.

import { ipFamily, unbracket } from "./_address.ts";
import { MAX_TIMER_DELAY_MS } from "./_async.ts";

/** Shows a bad value the way a reader would type it. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return "an array";
  return `an object (${value.constructor?.name ?? "Object"})`;
}

/** Throws a TypeError unless `value` is a function. */
export function assertFunction(
  value: unknown,
  name: string,
  shape: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== "function") {
    throw new TypeError(
      `${name} must be a function ${shape}, got ${show(value)}`,
    );
  }
}

/**
 * Throws unless `value` is undefined, `Infinity` (no limit) or a number of
 * milliseconds from 0 to the longest delay a timer can wait.
 * `whenOmitted` tells the reader what leaving the option out does.
 */
export function assertMilliseconds(
  value: unknown,
  name: string,
  whenOmitted = "leave it out for no limit",
): void {
  if (value === undefined || value === Infinity) return;
  if (typeof value !== "number") {
    throw new TypeError(
      `${name} must be a number of milliseconds, got ${show(value)}`,
    );
  }
  if (!(value >= 0 && value <= MAX_TIMER_DELAY_MS)) {
    throw new RangeError(
      `${name} must be a number of milliseconds, 0 or more, at most ${MAX_TIMER_DELAY_MS} (about 24.8 days), or Infinity for no limit; got ${value}; ${whenOmitted}`,
    );
  }
}

/** Throws unless `value` is undefined, a positive integer or Infinity. */
export function assertCount(value: unknown, name: string): void {
  if (value === undefined) return;
  if (typeof value !== "number") {
    throw new TypeError(`${name} must be a number, got ${show(value)}`);
  }
  if (!(value === Infinity || (Number.isInteger(value) && value >= 1))) {
    throw new RangeError(
      `${name} must be a positive integer or Infinity, got ${value}`,
    );
  }
}

/** Throws unless `value` is undefined or an AbortSignal. */
export function assertSignal(value: unknown, name = "signal"): void {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new TypeError(
      `${name} must be an AbortSignal (e.g. AbortSignal.timeout(1000) or new AbortController().signal), got ${
        show(value)
      }`,
    );
  }
}

/** Throws unless `value` is a plain options object (or undefined). */
export function assertOptions(value: unknown, name = "options"): void {
  if (value !== undefined && (value === null || typeof value !== "object")) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
}

/** An optional flag: `undefined` or a boolean. */
export function assertBoolean(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(`${name} must be true or false, got ${show(value)}`);
  }
}

/**
 * A hostname or IP address: not empty, without spaces, control characters or
 * a port, brackets only around an IPv6 address; IPv6 brackets are removed,
 * so that `"[::1]"` works where `"::1"` does.
 */
export function assertHostname(hostname: unknown, name: string): string {
  if (typeof hostname !== "string") {
    throw new TypeError(
      `${name} must be a string such as "127.0.0.1" or "example.com", got ${
        show(hostname)
      }`,
    );
  }
  if (hostname === "") {
    throw new RangeError(
      `${name} must not be empty: give an address such as "127.0.0.1" (or "0.0.0.0" to listen on every address)`,
    );
  }
  if (/[\s\p{Cc}]/u.test(hostname)) {
    throw new RangeError(
      `Invalid ${name} ${
        show(hostname)
      }: remove the spaces and control characters`,
    );
  }
  if (hostname.startsWith("[") || hostname.endsWith("]")) {
    if (ipFamily(unbracket(hostname)) !== 6) {
      throw new RangeError(
        `Invalid ${name} ${
          show(hostname)
        }: brackets only enclose IPv6 addresses, such as "[::1]"; remove them`,
      );
    }
  } else if (hostname.includes(":") && ipFamily(hostname) !== 6) {
    throw new RangeError(
      `Invalid ${name} ${
        show(hostname)
      }: give the host without a port; the port is a separate argument`,
    );
  }
  return unbracket(hostname);
}

/**
 * Throws a TypeError if `options` has a property that is not one of `known`,
 * naming the closest known one: a misspelled option must not pass silently.
 */
export function assertKnownOptions(
  options: object | undefined,
  known: readonly string[],
  name = "options",
): void {
  if (options === undefined) return;
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    throw new TypeError(
      `${name}.${key} is not an option; did you mean ${name}.${
        closest(key, known)
      }? (the options are ${known.join(", ")})`,
    );
  }
}

/** The word of `words` fewest edits away from `word` (Levenshtein distance, case-insensitive). */
function closest(word: string, words: readonly string[]): string {
  let best = words[0];
  let bestDistance = Infinity;
  for (const candidate of words) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/** Throws unless `value` is undefined or a whole number of bytes, 1 or more. */
export function assertDatagramSize(value: unknown, name: string): void {
  if (value === undefined) return;
  if (typeof value !== "number") {
    throw new TypeError(
      `${name} must be a number of bytes, got ${show(value)}`,
    );
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `${name} must be a whole number of bytes, 1 or more, got ${value}`,
    );
  }
}

/**
 * Accepts the `transport` of an address spread into options (such as
 * `connectTcp(server.addr)`), which must then name the function's own
 * transport.
 */
export function assertTransport(
  value: unknown,
  expected: string,
  name = "options.transport",
): void {
  if (value !== undefined && value !== expected) {
    throw new TypeError(
      `${name} must be "${expected}" (or left out) for a ${expected} socket, got ${
        show(value)
      }`,
    );
  }
}

/**
 * Throws a TypeError unless `value` is an options object, for functions whose
 * options are required; `example` shows one, such as `{ port: 8080 }`.
 */
export function assertRequiredOptions(
  value: unknown,
  example: string,
): asserts value is object {
  if (value === null || typeof value !== "object") {
    throw new TypeError(
      `options must be an object such as ${example}, got ${show(value)}`,
    );
  }
}

/**
 * Throws unless `value` is undefined, `Infinity` or a positive number of
 * milliseconds a timer can wait: a `timeout` of 0 would fail every call at
 * once (and means "no limit" in Go's `net.Dialer`), so it is refused.
 */
export function assertTimeout(value: unknown, name: string): void {
  assertMilliseconds(value, name);
  if (value === 0) {
    throw new RangeError(
      `${name} must be more than 0 ms, got 0, which would fail at once; leave it out (or pass Infinity) for no limit, or give the milliseconds the whole call may take`,
    );
  }
}

/**
 * Throws unless `value` is undefined or an array of non-empty strings;
 * `example` shows one, such as `["h2", "http/1.1"]`.
 */
export function assertStrings(
  value: unknown,
  name: string,
  example: string,
): void {
  if (value === undefined) return;
  if (
    !Array.isArray(value) ||
    !value.every((item) => typeof item === "string" && item !== "")
  ) {
    throw new TypeError(
      `${name} must be an array of non-empty strings such as ${example}, got ${
        show(value)
      }`,
    );
  }
}
