/**
 * Offline stand-in for the JSR package `@std/cli`, used only when jsr.io
 * cannot be reached. It provides `parseArgs` (with the types `Args` and
 * `ParseOptions`) following the specification of the real package, including
 * how the result is typed from the options.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
type Any = any;
type Rec = Record<string, unknown>;
type Empty = Record<never, never>;
type AliasOption = Record<string, string | readonly string[] | undefined>;

/** Turns `A | B` into `A & B` (and `never` into an empty object). */
type Merge<U> = (U extends unknown ? (arg: U) => void : never) extends
  (arg: infer I) => void ? I & Empty : never;

/** Resolves intersections, recursively, into single object types. */
type Flat<T> = T extends Rec ? { [K in keyof T]: Flat<T[K]> } : T;

/** `{ name: T }`, where a dotted name `"a.b"` gives `{ a: { b: T } }`. */
type Nest<K extends string, T, Optional extends boolean> = K extends
  `${infer Head}.${infer Tail}`
  ? Optional extends true ? { [P in Head]?: Nest<Tail, T, Optional> }
  : { [P in Head]: Nest<Tail, T, Optional> }
  : Optional extends true ? { [P in K]?: T }
  : { [P in K]: T };

/** `false` when `K` is negatable. */
type Negated<K, N> = K extends N ? false : never;

/** Declared string names: optional, unless collected into a required array. */
type StringFlags<S extends string, C, N> = S extends unknown ? Nest<
    S,
    (S extends C ? string[] : string) | Negated<S, N>,
    S extends C ? false : true
  >
  : never;
/** Declared boolean names: always present (filled with `false` or `[]`). */
type BooleanFlags<B extends string, C> = B extends unknown
  ? Nest<B, B extends C ? boolean[] : boolean, false>
  : never;
/** Collect names that are neither strings nor booleans. */
type CollectFlags<K extends string, N> = K extends unknown
  ? Nest<K, unknown[] | Negated<K, N>, false>
  : never;

type Flags<B extends string, S extends string, C extends string, N> = Merge<
  StringFlags<S, C, N> | BooleanFlags<B, C> | CollectFlags<Exclude<C, S | B>, N>
>;

/** `{ "a.b": 1 }` as `{ a: { b: number } }`. */
type Dedot<D> = string extends keyof D ? D
  : Merge<{ [K in keyof D & string]: Nest<K, D[K], false> }[keyof D & string]>;

/** A name with a default is present, typed as the default or the declared type. */
type WithDefaults<F, D> =
  & Omit<F, keyof D>
  & {
    [K in keyof D]: K extends keyof F
      ? [D[K], NonNullable<F[K]>] extends [Rec, Rec]
        ? WithDefaults<NonNullable<F[K]>, D[K]>
      : D[K] | NonNullable<F[K]>
      : unknown;
  };

/** The literal alias names given for `K` (a readonly list is not read, as upstream). */
type AliasesOf<K, A> = K extends keyof A
  ? A[K] extends infer V ? V extends string ? string extends V ? never : V
    : V extends (infer E extends string)[] ? string extends E ? never : E
    : never
  : never
  : never;

type WithAliases<T, A> = { [K in keyof T as K | AliasesOf<K, A>]: T[K] };

/** The flags of the result, as the options declare them. */
type Values<B, S extends string, C extends string, N, D, A> =
  [Exclude<B, false> | S | C] extends [never] ? Record<string, Any>
    :
      & Record<string, unknown>
      & WithAliases<
        WithDefaults<Flags<Extract<B, string>, S, C, N>, Dedot<D>>,
        A
      >;

/**
 * The value returned by {@linkcode parseArgs}: the flags, `_` for the
 * positional arguments and, with the `"--"` option, `"--"` for everything
 * after the first `--`.
 *
 * @typeParam TArgs The flags.
 * @typeParam TDoubleDash Whether `"--"` is present.
 */
export type Args<
  TArgs extends Rec = Record<string, Any>,
  TDoubleDash extends boolean | undefined = undefined,
> = Flat<
  & TArgs
  & {
    /** The arguments that are not flags or flag values. */
    _: Array<string | number>;
  }
  & (boolean extends TDoubleDash ? {
      /** The arguments after the first `--`. */
      "--"?: Array<string>;
    }
    : true extends TDoubleDash ? {
        /** The arguments after the first `--`. */
        "--": Array<string>;
      }
    : Empty)
>;

/**
 * Options of {@linkcode parseArgs}.
 *
 * @typeParam TBooleans Boolean names, or `true`.
 * @typeParam TStrings String names.
 * @typeParam TCollectable Names whose values are collected in arrays.
 * @typeParam TNegatable Names that `--no-name` sets to `false`.
 * @typeParam TDefaults The defaults.
 * @typeParam TAliases The aliases.
 * @typeParam TDoubleDash The `"--"` option.
 */
export interface ParseOptions<
  TBooleans extends string | boolean = string | boolean,
  TStrings extends string = string,
  TCollectable extends string = string,
  TNegatable extends string = string,
  TDefaults extends Rec = Rec,
  TAliases extends AliasOption = AliasOption,
  TDoubleDash extends boolean | undefined = boolean | undefined,
> {
  /**
   * Put the arguments after the first `--` in `"--"` instead of `_`.
   *
   * @default {false}
   */
  "--"?: TDoubleDash;
  /** Alternative names: every name of an entry receives the same value. */
  alias?: TAliases;
  /**
   * Names that are booleans; `true` makes every `--name` without `=` a
   * boolean. Absent boolean names are `false`.
   */
  boolean?: TBooleans | readonly Extract<TBooleans, string>[];
  /** Values for names that are not given (dotted names allowed). */
  default?: TDefaults;
  /**
   * Stop parsing flags at the first positional argument.
   *
   * @default {false}
   */
  stopEarly?: boolean;
  /** Names whose values stay strings (`"_"` for the positionals). */
  string?: TStrings | readonly TStrings[];
  /** Names whose repeated values are gathered in arrays. */
  collect?: TCollectable | readonly TCollectable[];
  /** Names for which `--no-name` sets `false`. */
  negatable?: TNegatable | readonly TNegatable[];
  /** Called for undeclared flags and for positionals; `false` drops them. */
  unknown?: (arg: string, key?: string, value?: unknown) => unknown;
}

/** The tail of a short flag group that is taken as a number: `-n5`, `-n-1.5`. */
const NUMBER_TAIL = /-?\d+(\.\d*)?(e-?\d+)?$/;
/** What a short flag does not take as its value: `-x`, `--x` (not `-`, `---x`). */
const FLAG_LIKE = /^--?[^-]/;
/** Path segments that would reach `Object.prototype`; such stores are dropped. */
const UNSAFE_SEGMENTS = new Set(["__proto__", "constructor"]);

function isNumberLike(text: string): boolean {
  return /\S/.test(text) && Number.isFinite(Number(text));
}

function setPath(
  target: Rec,
  path: string[],
  value: unknown,
  collect = false,
): void {
  if (path.some((segment) => UNSAFE_SEGMENTS.has(segment))) return;
  for (const segment of path.slice(0, -1)) {
    target = (target[segment] ??= {}) as Rec;
  }
  const last = path.at(-1)!;
  if (collect) {
    const old = target[last];
    if (Array.isArray(old)) return void old.push(value);
    value = old ? [old, value] : [value];
  }
  target[last] = value;
}

function hasPath(target: unknown, path: string[]): boolean {
  for (const segment of path) {
    if (target === null || target === undefined) return false;
    if (!Object.hasOwn(target, segment)) return false;
    target = (target as Rec)[segment];
  }
  return true;
}

/**
 * Parses command-line arguments into flags and positionals.
 *
 * Without options, `--name value`, `--name=value`, `-n value` and grouped
 * short flags (`-abc`) are understood; number-like values become numbers.
 * Declaring names in `boolean`, `string`, `collect` and `negatable` types the
 * result accordingly.
 *
 * @param args The arguments, usually `Deno.args`.
 * @param options How to read them.
 * @returns The flags, with the positionals in `_`.
 * @throws {TypeError} When an alias value is `undefined`, or a dotted name
 * nests under a value that is not an object.
 *
 * @example Usage
 * ```ts
 * import { parseArgs } from "@std/cli";
 * import { assertEquals } from "@std/assert";
 *
 * const flags = parseArgs(["--port", "8080", "-v", "serve"], {
 *   string: ["port"],
 *   boolean: ["v", "help"],
 * });
 * assertEquals(flags, { _: ["serve"], port: "8080", v: true, help: false });
 * ```
 */
export function parseArgs<
  TBooleans extends string | boolean = never,
  TStrings extends string = never,
  TCollectable extends string = never,
  TNegatable extends string = never,
  TDefaults extends Rec = Empty,
  TAliases extends Record<
    string,
    TAliasNames | readonly TAliasNames[] | undefined
  > = Empty,
  TDoubleDash extends boolean | undefined = undefined,
  TAliasNames extends string = string,
>(
  args: readonly string[],
  options: ParseOptions<
    TBooleans,
    TStrings,
    TCollectable,
    TNegatable,
    TDefaults,
    TAliases,
    TDoubleDash
  > = {},
): Args<
  Values<TBooleans, TStrings, TCollectable, TNegatable, TDefaults, TAliases>,
  TDoubleDash
> {
  const aliases = new Map<string, string[]>();
  for (const [name, value] of Object.entries(options.alias ?? {})) {
    if (value === undefined) throw new TypeError("Alias value must be defined");
    const names = typeof value === "string" ? [value] : [...value];
    aliases.set(name, names);
    for (const alias of names) {
      aliases.set(alias, [name, ...names.filter((other) => other !== alias)]);
    }
  }
  const namesOf = (list?: boolean | string | readonly string[]) => {
    const names = new Set<string>();
    const given = typeof list === "string"
      ? [list]
      : Array.isArray(list)
      ? list
      : [];
    for (const name of given.filter(Boolean)) {
      names.add(name);
      for (const alias of aliases.get(name) ?? []) names.add(alias);
    }
    return names;
  };
  const allBooleans = options.boolean === true;
  const booleans = namesOf(options.boolean);
  const strings = namesOf(options.string);
  const collects = namesOf(options.collect);
  const negatables = namesOf(options.negatable);
  const result: Rec & { _: Array<string | number> } = { _: [] };

  function set(
    key: string,
    value: string | boolean,
    arg: string,
    collect = true,
  ) {
    const declared = booleans.has(key) || strings.has(key) ||
      collects.has(key) || aliases.has(key);
    if (
      !declared && !(allBooleans && /^--[^=]+$/.test(arg)) &&
      options.unknown?.(arg, key, value) === false
    ) return;
    const stored = typeof value === "string" && !strings.has(key) &&
        isNumberLike(value)
      ? Number(value)
      : value;
    for (const name of [key, ...aliases.get(key) ?? []]) {
      setPath(result, name.split("."), stored, collect && collects.has(key));
    }
  }

  /** Sets a flag from the next element if it may take it; returns how many elements were used. */
  function setFromNext(
    key: string,
    arg: string,
    next: string | undefined,
    mayTake: boolean,
  ): number {
    const booleanAlias = aliases.get(key)?.some((name) => booleans.has(name));
    if (next && mayTake && !booleans.has(key) && !booleanAlias) {
      set(key, next, arg);
      return 1;
    }
    if (next === "true" || next === "false") {
      set(key, next === "true", arg);
      return 1;
    }
    set(key, strings.has(key) ? "" : true, arg);
    return 0;
  }

  /** Parses the short flag group `-abc`; returns how many following elements it used. */
  function setShortGroup(arg: string, next: string | undefined): number {
    const chars = arg.slice(1);
    for (let j = 0; j < chars.length - 1; j++) {
      const char = chars[j], tail = chars.slice(j + 1);
      if (tail === "-") {
        set(char, "-", arg);
        continue;
      }
      const letter = /[A-Za-z]/.test(char);
      const eq = tail.indexOf("=");
      let value: string | undefined;
      if (tail === "=") value = "";
      else if (letter && eq >= 0 && eq < tail.length - 1) {
        value = tail.slice(eq + 1);
      } else if (
        (letter && NUMBER_TAIL.test(tail)) ||
        (j + 1 < chars.length - 1 && /\W/.test(chars[j + 1]))
      ) value = tail;
      if (value !== undefined) {
        set(char, value, arg);
        return 0;
      }
      set(char, strings.has(char) ? "" : true, arg);
    }
    const key = chars.at(-1)!;
    if (key === "-") return 0;
    return setFromNext(
      key,
      arg,
      next,
      next !== undefined && !FLAG_LIKE.test(next),
    );
  }

  const split = args.indexOf("--");
  const rest = split < 0 ? [] : args.slice(split + 1);
  const list = split < 0 ? args : args.slice(0, split);
  for (let i = 0; i < list.length; i++) {
    const arg = list[i];
    const next = list[i + 1];
    if (arg.length < 2 || arg[0] !== "-") {
      if (options.unknown?.(arg) !== false) {
        result._.push(
          strings.has("_") || !isNumberLike(arg) ? arg : Number(arg),
        );
      }
      if (options.stopEarly) {
        result._.push(...list.slice(i + 1));
        break;
      }
    } else if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      if (eq >= 0) {
        const key = name.replace(/^no-/, "");
        const value = arg.slice(eq + 1);
        set(key, booleans.has(key) ? value !== "false" : value, arg);
      } else if (name.startsWith("no-") && negatables.has(name.slice(3))) {
        set(name.slice(3), false, arg, false);
      } else {
        const mayTake = !allBooleans && !next?.startsWith("-");
        i += setFromNext(name, arg, next, mayTake);
      }
    } else {
      i += setShortGroup(arg, next);
    }
  }

  for (const [key, value] of Object.entries(options.default ?? {})) {
    if (hasPath(result, key.split("."))) continue;
    for (const name of [key, ...aliases.get(key) ?? []]) {
      setPath(result, name.split("."), value);
    }
  }
  for (const name of booleans) {
    const path = name.split(".");
    if (!hasPath(result, path)) {
      setPath(result, path, collects.has(name) ? [] : false);
    }
  }
  for (const name of strings) {
    const path = name.split(".");
    if (collects.has(name) && !hasPath(result, path)) setPath(result, path, []);
  }
  if (options["--"]) result["--"] = rest;
  else result._.push(...rest);
  return result as Any;
}
