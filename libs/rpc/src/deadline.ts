// Deadlines of internal gRPC calls: the SHARDLAB_DEADLINE_SCALE factor for slower machines, and the name of a call for the error that says its deadline passed.
import { errors } from '@shardlab/common';

/**
 * Environment variable that multiplies the deadline of every unary gRPC call a ShardLab process
 * makes (the built-in defaults and deadlines given by flags alike), for machines slower than the
 * ones the defaults were chosen on: `SHARDLAB_DEADLINE_SCALE=2` doubles them. Unset or empty: 1.
 * Child processes inherit it (the devnet passes its environment on to every service).
 */
export const DEADLINE_SCALE_ENV = 'SHARDLAB_DEADLINE_SCALE';

/** Largest accepted {@link DEADLINE_SCALE_ENV} (a deadline of hours is a typo, not a slow machine). */
export const MAX_DEADLINE_SCALE = 100;

/**
 * Parses a value of {@link DEADLINE_SCALE_ENV}: undefined or blank → 1; else a finite number
 * greater than 0 and at most {@link MAX_DEADLINE_SCALE} (e.g. `2`, `1.5`, `0.5`).
 * @throws ShardLabError INVALID_ARGUMENT naming the variable and the value for anything else.
 */
export function parseDeadlineScale(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 1;
  const scale = Number(raw.trim());
  if (!Number.isFinite(scale) || scale <= 0 || scale > MAX_DEADLINE_SCALE) {
    throw errors.invalidArgument(`${DEADLINE_SCALE_ENV} must be a number > 0 and ≤ ${MAX_DEADLINE_SCALE} (the factor applied to every internal call deadline, e.g. 2), got ${JSON.stringify(raw)}`);
  }
  return scale;
}

let cached: { raw: string | undefined; scale: number } | undefined;

/**
 * The deadline scale of this process: {@link DEADLINE_SCALE_ENV} of `env` (default
 * `process.env`) parsed by {@link parseDeadlineScale} (remembered until the variable changes).
 * @throws ShardLabError INVALID_ARGUMENT when the variable is set to something else than a valid scale.
 */
export function deadlineScale(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[DEADLINE_SCALE_ENV];
  if (cached === undefined || cached.raw !== raw) cached = { raw, scale: parseDeadlineScale(raw) };
  return cached.scale;
}

/**
 * `ms` × `scale` (default {@link deadlineScale} of this process), rounded, at least 1: the
 * deadline a call is actually given, in milliseconds.
 * @throws ShardLabError INVALID_ARGUMENT as {@link deadlineScale}.
 */
export function scaleDeadlineMs(ms: number, scale: number = deadlineScale()): number {
  return Math.max(1, Math.round(ms * scale));
}

/**
 * A gRPC method path as errors name the call: `/shardlab.v1.SimulatorService/Simulate` →
 * `SimulatorService.Simulate` (package dropped); anything else is returned unchanged.
 */
export function callName(path: string): string {
  const m = /^\/(?:[\w.]+\.)?(\w+)\/(\w+)$/.exec(path);
  return m ? `${m[1]}.${m[2]}` : path;
}
