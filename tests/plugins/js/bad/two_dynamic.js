import { dynamicActivity } from 'activity-host';

export const first = dynamicActivity((args) => args.length);
export const second = dynamicActivity((args) => args.length);
