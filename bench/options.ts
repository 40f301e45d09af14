// The benches' command line: `--name value` options and bare `--name` flags.
const argv = process.argv.slice(2);

/** The value after `--name`, or the fallback when it is absent or has no value. */
export function option(name: string, fallback: string): string;
export function option(name: string, fallback?: string): string | undefined;
export function option(name: string, fallback?: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

/** The value after `--name`; exits naming the option when it is missing. */
export function requiredOption(name: string): string {
  const value = option(name);
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
}

/** Whether `--name` is on the command line. */
export function flag(name: string): boolean {
  return argv.includes(`--${name}`);
}
