/**
 * Checks the documentation of each entry point of `deno.json` alone:
 *
 * - `deno doc --lint` passes: linted together, one entry's exports hide a
 *   type that another entry references but does not export itself;
 * - every declaration of every public symbol (`deno doc --json`; each
 *   overload of a function) has an `@example` tag, which `deno test --doc`
 *   then runs.
 *
 * Usage: `deno run --allow-read=. --allow-run tests/doc_lint_entry_points.ts`
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const config = JSON.parse(
  await Deno.readTextFile(new URL("deno.json", root)),
) as { exports: Record<string, string> };

interface Location {
  filename: string;
  line: number;
}
interface Declaration {
  kind: string;
  location: Location;
  jsDoc?: { tags?: { kind: string }[] };
  def?: { target?: Location; hasBody?: boolean };
}
interface DocSymbol {
  name: string;
  declarations: Declaration[];
}
interface DocJson {
  nodes: Record<string, { symbols?: DocSymbol[] }>;
}

async function deno(args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
}

const docs = new Map<string, DocJson>();
/** The `deno doc --json` of a file, read once. */
async function docOf(file: string): Promise<DocJson> {
  let doc = docs.get(file);
  if (doc === undefined) {
    const { success, stdout, stderr } = await deno(["doc", "--json", file]);
    if (!success) {
      throw new Error(
        `deno doc --json ${file} fails: ${new TextDecoder().decode(stderr)}`,
      );
    }
    doc = JSON.parse(new TextDecoder().decode(stdout)) as DocJson;
    docs.set(file, doc);
  }
  return doc;
}

const hasExample = (declaration: Declaration) =>
  declaration.jsDoc?.tags?.some((tag) => tag.kind === "example") ?? false;

/**
 * The declarations a symbol stands for: its own, or, for a re-export that
 * `deno doc` leaves as a reference, those found at the reference's target.
 */
async function declarationsOf(symbol: DocSymbol): Promise<Declaration[]> {
  const own = symbol.declarations.filter((d) => d.kind !== "reference");
  // An overloaded function's implementation signature is not public: its
  // overloads are.
  const overloads = own.filter((d) => d.kind === "function" && !d.def?.hasBody);
  if (overloads.length > 0) {
    return own.filter((d) => d.kind !== "function" || !d.def?.hasBody);
  }
  if (own.length > 0) return own;
  const found: Declaration[] = [];
  for (const { def } of symbol.declarations) {
    const target = def?.target;
    if (target === undefined) continue;
    const doc = await docOf(target.filename);
    for (const module of Object.values(doc.nodes)) {
      for (const other of module.symbols ?? []) {
        found.push(
          ...(await declarationsOf(other)).filter((d) =>
            d.location.filename === target.filename &&
            d.location.line === target.line
          ),
        );
      }
    }
  }
  return found;
}

let failed = 0;
/** Symbols without an example, by `file:line name`: the entries exporting them. */
const missing = new Map<string, { kind: string; entries: string[] }>();
for (const [name, path] of Object.entries(config.exports)) {
  const { success, stderr } = await deno(["doc", "--lint", path]);
  if (!success) {
    failed++;
    console.error(`deno doc --lint ${path} (${name}) fails:`);
    console.error(new TextDecoder().decode(stderr));
  }
  const entry = new URL(path, root).href;
  for (const symbol of (await docOf(path)).nodes[entry]?.symbols ?? []) {
    const declarations = await declarationsOf(symbol);
    const at = declarations.find((d) => !hasExample(d)) ??
      (declarations.length === 0 ? symbol.declarations[0] : undefined);
    if (at === undefined) continue;
    const file = at.location.filename.slice(root.href.length);
    const key = `${file}:${at.location.line} ${symbol.name}`;
    const entries = missing.get(key)?.entries ?? [];
    missing.set(key, { kind: at.kind, entries: [...entries, name] });
  }
}
for (const [key, { kind, entries }] of [...missing].sort()) {
  const specifiers = entries.map((e) => `@sockets/net${e.slice(1)}`);
  console.error(
    `${key} (${kind}, exported by ${
      specifiers.join(", ")
    }) has no @example: add a titled \`@example Title\` with a runnable \`\`\`ts block importing from ${
      specifiers.at(-1)
    } to its JSDoc`,
  );
}
if (missing.size > 0) {
  console.error(
    `${missing.size} public symbols have no @example (deno test --doc runs each one)`,
  );
}
if (failed > 0 || missing.size > 0) Deno.exit(1);
console.log(
  `deno doc --lint passes and every public symbol has an @example, for each of the ${
    Object.keys(config.exports).length
  } entry points alone`,
);
