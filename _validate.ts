// Argument checks shared by the public functions: each error names the
// argument, shows the value it got, and says what to pass instead.

import { unbracket } from "./_address.ts";

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
 * Throws unless `value` is undefined or a number of milliseconds, 0 or more
 * and finite. `whenOmitted` tells the reader what leaving the option out does.
 */
export function assertMilliseconds(
  value: unknown,
  name: string,
  whenOmitted = "leave it out for no limit",
): void {
  if (value === undefined) return;
  if (typeof value !== "number") {
    throw new TypeError(
      `${name} must be a number of milliseconds, got ${show(value)}`,
    );
  }
  if (!(value >= 0 && Number.isFinite(value))) {
    throw new RangeError(
      `${name} must be a finite number of milliseconds, 0 or more, got ${value}; ${whenOmitted}`,
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
 * A hostname or IP address, not empty; IPv6 brackets are removed, so that
 * `"[::1]"` works where `"::1"` does.
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
  return unbracket(hostname);
}
