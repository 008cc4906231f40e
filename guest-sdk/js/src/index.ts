// 'activity-host': what the Temporal TypeScript SDK has no word for.
import type { RawValue } from './converter';

export type { RawValue } from './converter';

/** Marks the dynamic fallback of a plugin. */
export const DYNAMIC = Symbol.for('activity-host.dynamic');

export type DynamicActivity<R> = ((args: RawValue[]) => R) & { [DYNAMIC]: true };

/**
 * Makes `fn` the activity that receives every activity type no plugin
 * registers. It gets the arguments undecoded; `Context.current().info.activityType`
 * says which type was asked for.
 *
 * ```ts
 * export const fallback = dynamicActivity(async (args) => {
 *   const params = defaultPayloadConverter.fromPayload<YourParams>(args[0].payload);
 *   return `${params.greeting}, ${params.name}!\nActivity Type: ${activityInfo().activityType}`;
 * });
 * ```
 */
export function dynamicActivity<R>(fn: (args: RawValue[]) => R): DynamicActivity<R> {
  return Object.assign(fn, { [DYNAMIC]: true as const });
}
