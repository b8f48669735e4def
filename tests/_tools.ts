/**
 * Interop peers that no one here wrote (Python, socat, netcat): the tests
 * that need one are ignored, saying why, on a machine that lacks it.
 */

const checked = new Map<string, Promise<boolean>>();

async function runs(command: string): Promise<boolean> {
  try {
    await new Deno.Command(command, {
      args: ["-h"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `command` is missing; the first time, a missing one is reported
 * with the Debian package that provides it.
 */
export function isMissing(
  command: string,
  debianPackage: string = command,
): Promise<boolean> {
  let missing = checked.get(command);
  if (missing === undefined) {
    missing = runs(command).then((found) => {
      if (!found) {
        console.log(
          `${command} not found: the tests that talk to it are ignored (apt-get install ${debianPackage})`,
        );
      }
      return !found;
    });
    checked.set(command, missing);
  }
  return missing;
}
