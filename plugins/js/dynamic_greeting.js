// The Temporal docs' dynamic activity: called for every activity type that
// no plugin registers.
import { activityInfo } from '@temporalio/activity';
import { defaultPayloadConverter } from '@temporalio/common';
import { dynamicActivity } from 'activity-host';

export const dynamic_greeting = dynamicActivity(async (args) => {
  const arg1 = defaultPayloadConverter.fromPayload(args[0].payload);
  return `${arg1.greeting}, ${arg1.name}!\nActivity Type: ${activityInfo().activityType}`;
});
