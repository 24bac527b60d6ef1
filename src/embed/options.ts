/**
 * The library's configuration: an object whose keys are the environment variables' names in
 * camelCase (`DATABASE_PATH` → `databasePath`), turned back into the environment's text form and
 * validated by the same schema as `loadConfig` — so the same defaults, limits and messages — with
 * every variable name in those messages replaced by its option name.
 */
import { ConfigError, ENV_NAMES, loadConfig, type Config, type Env, type EnvName, type EnvValues } from '../config.js';

/** `ENODE_WEBHOOK_SECRET` → `enodeWebhookSecret`, at the type level. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}` : Lowercase<S>;

/** A list may be given as an array or as the environment's comma list. */
type OptionValue<V> = V extends readonly string[] ? string | readonly string[] : V | string;

/**
 * The configuration as an object: each environment variable under its camelCase name, given as
 * its parsed type (a number, a boolean, a list) or as the text the environment would hold.
 */
export type EnodeSyncConfig = { [K in EnvName as CamelCase<K>]?: OptionValue<Exclude<EnvValues[K], undefined>> };

/** The option name of an environment variable. */
export function optionName(envName: string): string {
  return envName.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const OPTION_TO_ENV = new Map<string, EnvName>(ENV_NAMES.map((name) => [optionName(name), name]));

/** Longest names first, so that `ENODE_WEBHOOK_SECRET` is never read as a part of a longer name. */
const ENV_NAME_PATTERN = new RegExp(`\\b(${[...ENV_NAMES].sort((a, b) => b.length - a.length).join('|')})\\b`, 'g');

/** A sentence of the environment's validation with every variable named as its option instead. */
export function inOptionNames(problem: string): string {
  return problem.replace(ENV_NAME_PATTERN, (name) => optionName(name));
}

/** The environment's text form of one option value, or a problem. */
function asEnvText(value: unknown): { text: string } | { problem: string } {
  if (typeof value === 'string') return { text: value };
  if (typeof value === 'number' || typeof value === 'boolean') return { text: String(value) };
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return { text: value.join(',') };
  return { problem: 'must be a string, a number, a boolean or a list of strings' };
}

/**
 * Validates `options` as the environment would be and returns the typed configuration. Throws a
 * ConfigError listing every problem at once, each naming the option (an unknown key too, so a typo
 * is not silently ignored). `require` names the options that must be set.
 */
export function configFromOptions(options: Record<string, unknown>, require: Array<'ENODE_WEBHOOK_SECRET' | 'ADMIN_TOKEN'> = []): Config {
  const env: Env = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    const name = OPTION_TO_ENV.get(key);
    if (name === undefined) {
      problems.push(`${key}: unknown option (options are the environment variables in camelCase, e.g. databasePath, enodeWebhookSecret)`);
      continue;
    }
    if (value === undefined) continue;
    const converted = asEnvText(value);
    if ('problem' in converted) problems.push(`${key}: ${converted.problem}`);
    else env[name] = converted.text;
  }
  let config: Config | undefined;
  try {
    config = loadConfig(env, { require });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems.map(inOptionNames));
  }
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems);
  return config;
}
