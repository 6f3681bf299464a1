/**
 * The only place that reads process.env. Each binary's config module declares
 * its variables through these helpers, so an invalid value fails start-up with
 * the variable's name, the value and the reason.
 */

import { parseDuration } from '../core/duration.js';
import { AmbitError, CoreErrors } from '../core/errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** A snapshot of the process environment; tests pass their own. */
export function processEnv(): Env {
  return { ...process.env };
}

function invalid(name: string, value: string, reason: string): AmbitError {
  return new AmbitError(CoreErrors.CONFIG_INVALID, `${name}="${value}" is invalid: ${reason}`, {
    details: { name },
  });
}

export function envString(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

export function envInt(
  env: Env,
  name: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = envString(env, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw invalid(name, v, 'expected an integer');
  const n = Number(v);
  if (n < min || n > max) throw invalid(name, v, `expected ${min}..${max}`);
  return n;
}

export function envBool(env: Env, name: string): boolean | undefined {
  const v = envString(env, name);
  if (v === undefined) return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw invalid(name, v, 'expected true or false');
}

/** Duration in ms ("5s", "24h"; a bare number is seconds). */
export function envDuration(env: Env, name: string): number | undefined {
  const v = envString(env, name);
  if (v === undefined) return undefined;
  try {
    return parseDuration(v, name);
  } catch {
    throw invalid(name, v, 'expected a duration such as 500ms, 30s, 24h');
  }
}

export function envEnum<T extends string>(
  env: Env,
  name: string,
  values: readonly T[],
): T | undefined {
  const v = envString(env, name);
  if (v === undefined) return undefined;
  const hit = values.find((x) => x.toLowerCase() === v.toLowerCase());
  if (hit === undefined) throw invalid(name, v, `expected one of ${values.join(', ')}`);
  return hit;
}

/** Recursively freezes a parsed config so nothing mutates it after start-up. */
export function deepFreeze<T>(value: T): Readonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
